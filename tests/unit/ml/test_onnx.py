"""The exported ONNX graph answers like the native pipeline, or the export says where not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.unit.ml.test_features import shop

from weir.core import StepError
from weir.ml import predictions
from weir.ml.export import export, serving_spec
from weir.ml.onnx_export import check_parity, input_names, run, session, to_onnx
from weir.ml.rows import prepare_rows
from weir.ml.train import train
from weir.project.ml_config import TrainConfig

FEATURES: dict[str, Any] = {
    "numeric": {
        "amount": {"clip": [0, 400], "log": True, "scale": "robust"},
        "shop": {"scale": "minmax"},
    },
    "categorical": {"colour": {"min_frequency": 0.01, "unknown": "infrequent"}},
    "dates": {"ts": {"parts": ["hour", "dayofweek", "is_weekend"], "since": ["signup"]}},
}


def config(task: str, algorithm: str, **extra: Any) -> TrainConfig:
    target = {"classification": "label", "regression": "amount"}[task]
    features = FEATURES if task == "classification" else {**FEATURES, "numeric": {"shop": {}}}
    params = {"n_estimators": 20} if algorithm in ("random_forest", "lightgbm") else {}
    base = {
        "table": "t",
        "target": target,
        "task": task,
        "algorithm": algorithm,
        "features": features,
        "params": params,
        "split": {"method": "random"},
    }
    return TrainConfig.model_validate(base | extra)


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize(
    "algorithm", ["linear", "random_forest", "hist_gradient_boosting", "lightgbm", "mlp"]
)
def test_onnx_matches_native_on_the_test_rows(task: str, algorithm: str) -> None:
    name = (
        {"classification": "logistic_regression", "regression": "linear_regression"}[task]
        if algorithm == "linear"
        else algorithm
    )
    spec = config(task, name)
    trained = train(shop(), spec, "ml.m")
    exported = export(trained, spec, shop().schema, "train:m")
    assert exported.record["parity"]["max_difference"] <= 1e-4
    assert exported.record["parity"]["rows"] == trained.rows["test"]


@pytest.mark.parametrize("unknown", ["ignore", "most_frequent", "infrequent"])
def test_unknown_categories_get_the_same_answer_in_both_runtimes(unknown: str) -> None:
    colour = {"unknown": unknown, **({"min_frequency": 0.01} if unknown == "infrequent" else {})}
    spec = config(
        "classification",
        "logistic_regression",
        features={"numeric": ["amount"], "categorical": {"colour": colour}},
    )
    trained = train(shop(), spec, "ml.m")
    rows = [{"amount": 20.0, "colour": c} for c in ("red", "ultraviolet", None, "mauve")]
    frame = prepare_rows(rows, spec.features)
    onnx = to_onnx(trained.pipeline, frame, spec.features, "classification", "train:m")
    exported = run(session(onnx), frame, input_names(frame, spec.features), "classification")
    assert np.allclose(exported, predictions(trained.pipeline, frame, "classification"), atol=1e-6)


def test_a_parity_failure_names_the_rows_that_differ() -> None:
    spec = config("regression", "mlp", export={"tolerance": 1e-15})
    trained = train(shop(), spec, "ml.m")
    with pytest.raises(
        StepError,
        match=r"ONNX predictions differ from the native model by up to .* largest: \[\{'row'",
    ):
        export(trained, spec, shop().schema, "train:m")


def test_text_features_are_refused_with_the_reason() -> None:
    spec = config(
        "classification", "logistic_regression", features={"numeric": ["amount"], "text": ["note"]}
    )
    trained = train(shop(), spec, "ml.m")
    with pytest.raises(StepError, match=r"text features \(note\) cannot be exported"):
        export(trained, spec, shop().schema, "train:m")


@pytest.mark.parametrize("allowed", [1.0, 0.0])
def test_quantisation_reports_size_speed_and_metric_and_respects_the_tolerance(
    allowed: float,
) -> None:
    spec = config(
        "classification",
        "mlp",
        params={"hidden_layer_sizes": [128, 64]},
        export={"quantize": True, "max_metric_drop": allowed},
    )
    trained = train(shop(), spec, "ml.m")
    exported = export(trained, spec, shop().schema, "train:m")
    record = exported.record["quantization"]
    assert record["metric"] == "roc_auc" and record["size"]["int8"] < record["size"]["float32"]
    assert set(record["seconds_on_test_rows"]) == {"float32", "int8"}
    assert record["used"] == (record["drop"] <= allowed)
    assert (exported.quantized is not None) == record["used"]
    if not record["used"]:
        assert "quantisation refused" in exported.warnings[0]


def test_the_serving_spec_lists_strict_categories_and_inputs() -> None:
    spec = config(
        "classification",
        "logistic_regression",
        features={
            "numeric": ["amount"],
            "categorical": {"colour": {"unknown": "error"}},
            "dates": {"ts": {}},
        },
    )
    trained = train(shop(), spec, "ml.m")
    served = serving_spec(trained, spec, shop().schema)
    assert served["inputs"] == {"amount": "number", "colour": "category", "ts": "timestamp"}
    assert served["known_categories"] == {"colour": ["blue", "green", "mauve", "red"]}  # no gaps
    assert served["classes"] == [0, 1] and served["task"] == "classification"
    assert list(served["onnx_inputs"]) == [
        "amount",
        "colour",
        "ts__month",
        "ts__dayofweek",
        "ts__hour",
    ]


def test_check_parity_compares_row_by_row() -> None:
    spec = config("regression", "linear_regression", features={"numeric": ["shop"]})
    trained = train(shop(), spec, "ml.m")
    frame: pd.DataFrame = trained.evaluation.x  # type: ignore[union-attr]
    onnx = to_onnx(trained.pipeline, frame, spec.features, "regression", "train:m")
    shifted = trained.evaluation.predictions.copy()  # type: ignore[union-attr]
    shifted[7] += 5.0
    parity = check_parity(onnx, shifted, frame, spec.features, "regression", 1e-4)
    assert not parity.ok and parity.worst[0]["row"] == 7
