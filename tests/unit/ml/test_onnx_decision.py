"""The exported graph on its own (plain onnxruntime, no Weir) labels as Weir does, and
carries in its metadata what a caller needs: classes, threshold, inputs and their recipe."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from tests.unit.ml.test_features import shop
from tests.unit.ml.test_onnx import config

from weir.ml.export import export
from weir.ml.metrics import decide
from weir.ml.onnx_export import input_names, run, session, to_onnx, with_decision
from weir.ml.rows import feeds_for
from weir.ml.train import train


def plain_run(graph: bytes, frame: Any, features: Any) -> dict[str, np.ndarray]:
    """What a user of the bare file gets: every output of the graph."""
    sess = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    outputs = sess.run(None, feeds_for(frame, input_names(frame, features)))
    return {o.name: value for o, value in zip(sess.get_outputs(), outputs, strict=True)}


@pytest.mark.parametrize("algorithm", ["logistic_regression", "hist_gradient_boosting", "lightgbm"])
def test_the_graphs_label_applies_the_decision_threshold(algorithm: str) -> None:
    spec = config("classification", algorithm, threshold={"metric": "f1"})
    trained = train(shop(), spec, "ml.m")
    assert trained.threshold is not None and trained.threshold != 0.5
    x = trained.evaluation.x  # type: ignore[union-attr]
    outputs = plain_run(export(trained, spec, shop().schema, "train:m").onnx, x, spec.features)
    probabilities = outputs["probabilities"].astype(np.float64)
    weirs = decide(probabilities, trained.classes, trained.threshold)
    assert (outputs["label"] == weirs).all()
    # rows between 0.5 and the threshold: where skl2onnx's own label differed
    between = (probabilities[:, 1] >= min(0.5, trained.threshold)) & (
        probabilities[:, 1] < max(0.5, trained.threshold)
    )
    assert between.any()


def test_more_classes_are_labelled_by_the_most_probable_with_text_classes() -> None:
    spec = config(
        "classification",
        "logistic_regression",
        target="colour",
        features={"numeric": ["amount", "shop"]},
        split={"method": "random"},
    )
    trained = train(shop(), spec, "ml.m")
    assert len(trained.classes) == 4 and trained.threshold is None
    x = trained.evaluation.x  # type: ignore[union-attr]
    outputs = plain_run(export(trained, spec, shop().schema, "train:m").onnx, x, spec.features)
    expected = decide(outputs["probabilities"].astype(np.float64), trained.classes, None)
    assert outputs["label"].tolist() == expected.tolist()


def test_the_graph_carries_classes_threshold_and_the_recipe_of_its_inputs() -> None:
    spec = config("classification", "hist_gradient_boosting", threshold={"metric": "f1"})
    trained = train(shop(), spec, "ml.m")
    graph = onnx.load_from_string(export(trained, spec, shop().schema, "train:m").onnx)
    meta = {p.key: json.loads(p.value) for p in graph.metadata_props}
    assert meta["weir.classes"] == [0, 1] and meta["weir.task"] == "classification"
    assert meta["weir.decision_threshold"] == trained.threshold
    assert meta["weir.inputs"] == {
        "amount": "number",
        "shop": "number",
        "colour": "category",
        "ts": "timestamp",
        "signup": "timestamp",
    }
    names = [i.name for i in graph.graph.input]
    assert list(meta["weir.graph_inputs"]) == names == list(meta["weir.derived_inputs"])
    assert meta["weir.derived_inputs"]["ts__days_since_signup"].startswith(
        "days from signup to ts (ts minus signup"
    )
    assert "Monday 0" in meta["weir.derived_inputs"]["ts__dayofweek"]


def test_a_label_the_graph_cannot_hold_is_removed_not_left_at_argmax() -> None:
    spec = config("classification", "logistic_regression", features={"numeric": ["amount"]})
    trained = train(shop(), spec, "ml.m")
    x = trained.evaluation.x  # type: ignore[union-attr]
    graph = to_onnx(trained.pipeline, x, spec.features, "classification", "train:m")
    kept = onnx.load_from_string(with_decision(graph, [0.5, 1.5], 0.3))  # not integers
    assert [o.name for o in kept.graph.output] == ["probabilities"]
    onnx.checker.check_model(kept)
    reduced = with_decision(graph, [0.5, 1.5], 0.3)
    kinds = input_names(x, spec.features)
    assert np.allclose(
        run(session(reduced), x, kinds, "classification"),
        run(session(graph), x, kinds, "classification"),
    )
