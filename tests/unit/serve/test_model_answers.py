"""What the served model answers when its graph gives no finite number."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from weir.serve import model as served
from weir.serve.model import LoadedModel, NotFiniteError


def loaded(task: str, outputs: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> LoadedModel:
    monkeypatch.setattr(served, "prepare_columns", lambda rows, features: {})
    monkeypatch.setattr(served, "run", lambda *args: outputs)
    return LoadedModel(
        name="m", version=1, stage="production", task=task, features=None,  # type: ignore[arg-type]
        inputs={}, onnx_inputs={}, known_categories={}, classes=[0, 1], threshold=0.5,
        session=None, quantized=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("task", "outputs", "bad"),
    [
        ("regression", np.array([1.0, np.inf, 2.0, -np.inf]), [1, 3]),
        ("regression", np.array([np.nan]), [0]),
        ("classification", np.array([[np.nan, np.nan]]), [0]),
        ("classification", np.array([[0.2, 0.8], [np.nan, np.nan], [0.5, 0.5]]), [1]),
    ],
)
def test_rows_without_a_finite_answer_are_named(
    task: str, outputs: np.ndarray, bad: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows: list[dict[str, Any]] = [{}] * len(outputs)
    with pytest.raises(NotFiniteError) as refused:
        loaded(task, outputs, monkeypatch).predict(rows)
    assert refused.value.rows == bad


def test_finite_answers_are_given_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    regression = loaded("regression", np.array([1.5, -2.0]), monkeypatch)
    assert regression.predict([{}, {}]) == [{"prediction": 1.5}, {"prediction": -2.0}]
    classifier = loaded("classification", np.array([[0.25, 0.75]]), monkeypatch)
    assert classifier.predict([{}]) == [{"label": 1, "probability": 0.75}]
