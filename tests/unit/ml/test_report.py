"""The HTML report says what the model is, how it was judged, and on what data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from weir.ml.report import ReportContext, render
from weir.ml.train import train
from weir.project.ml_config import TrainConfig


def table(rows: int = 800) -> pa.Table:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    return pa.table(
        {
            "a": a,
            "b": b,
            "c": rng.choice(["x", "y"], rows),
            "y": (a + rng.normal(size=rows) > 0).astype(int),
            "v": 2 * a + b,
        }
    )


def context() -> ReportContext:
    return ReportContext(
        model="m",
        version=3,
        project="p",
        trained_on=["t@4"],
        environment={"python": "3.11.7", "packages": {"lightgbm": "4.7.0"}},
        git={"repository": True, "commit": "abcdef1234567890", "dirty": True},
        created_at="2026-11-21 08:00 UTC",
        warnings=["feature age derives from PII"],
    )


CASES: dict[str, dict[str, Any]] = {
    "classification": {"target": "y", "threshold": {"metric": "f1"}, "cv": {"folds": 3}},
    "regression": {"target": "v", "algorithm": "linear_regression"},
    "clustering": {"algorithm": "kmeans", "params": {"n_clusters": 3}},
}
EXPECTED = {
    "classification": [
        "ROC curve",
        "Precision-recall curve",
        "Calibration",
        "Confusion matrix",
        "Permutation importance",
        "± ",
        "decision threshold",
        "in cross-validation they use 0.5",
    ],
    "regression": ["Predicted vs actual", "Residuals", "Permutation importance", "r2"],
    "clustering": ["Cluster sizes", "silhouette"],
}


@pytest.mark.parametrize("task", list(CASES))
def test_a_report_per_task(task: str) -> None:
    base = {
        "table": "t",
        "task": task,
        "algorithm": "logistic_regression",
        "features": {"numeric": ["a", "b"], "categorical": ["c"]},
    }
    spec = TrainConfig.model_validate(
        base | CASES[task] | {"card": {"intended_use": "Testing reports."}}
    )
    html = render(train(table(), spec, "ml.m"), spec, context())
    for part in [
        "m v3",
        "Model card",
        "Testing reports.",
        "not stated",
        "t@4",
        "feature age derives from PII",
        "abcdef123456 (uncommitted changes)",
        "lightgbm",
        *EXPECTED[task],
    ]:
        assert part in html, part
    assert (
        html.count("<svg")
        >= len([e for e in EXPECTED[task] if e[0].isupper() and e not in ("Model card",)]) - 1
    )
    assert "<script" not in html


def test_the_same_model_gives_the_same_report() -> None:
    spec = TrainConfig.model_validate(
        {
            "table": "t",
            "task": "regression",
            "target": "v",
            "algorithm": "linear_regression",
            "features": {"numeric": ["a"]},
        }
    )
    assert render(train(table(), spec, "ml.m"), spec, context()) == render(
        train(table(), spec, "ml.m"), spec, context()
    )
