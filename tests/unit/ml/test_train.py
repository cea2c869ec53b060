from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from weir.core import ConfigError, StepError
from weir.ml.train import split_rows, train
from weir.project.model import TrainConfig


def world(rows: int = 2000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    noise = rng.normal(scale=1.0, size=rows)
    label = (x + (colour == "red") * 1.5 + noise > 0.8).astype(np.int64)
    x_with_gaps = [None if i % 50 == 0 else float(v) for i, v in enumerate(x)]
    colour_with_gaps = [None if i % 70 == 0 else c for i, c in enumerate(colour)]
    return pa.table(
        {"x": x_with_gaps, "colour": colour_with_gaps, "y": label, "price": x * 10 + noise}
    )


def spec(**overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "table": "t",
        "target": "y",
        "task": "classification",
        "features": {"numeric": ["x"], "categorical": ["colour"]},
        "algorithm": "logistic_regression",
        "seed": 3,
    }
    return TrainConfig.model_validate(base | overrides)


def test_classifier_learns_real_signal_and_reports_metrics() -> None:
    result = train(world(), spec(), "ml.m")
    assert 0.75 < result.metrics["roc_auc"] < 0.99
    assert set(result.metrics) >= {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "log_loss",
    }
    assert result.rows == {"train": 1600, "validation": 0, "test": 400, "unlabelled_dropped": 0}
    assert result.classes == [0, 1]
    assert result.params["random_state"] == 3


def test_training_does_not_depend_on_row_order() -> None:
    table = world()
    shuffled = table.take(pa.array(np.random.default_rng(9).permutation(table.num_rows)))
    first = train(table, spec(algorithm="hist_gradient_boosting"), "ml.m")
    second = train(shuffled, spec(algorithm="hist_gradient_boosting"), "ml.m")
    assert first.metrics == second.metrics


def test_same_seed_same_model_other_seed_other_split() -> None:
    table = world()
    a = train(table, spec(algorithm="random_forest", params={"n_estimators": 20}), "ml.m")
    b = train(table, spec(algorithm="random_forest", params={"n_estimators": 20}), "ml.m")
    c = train(table, spec(algorithm="random_forest", params={"n_estimators": 20}, seed=4), "ml.m")
    assert a.metrics == b.metrics
    assert a.metrics != c.metrics


def test_preprocessing_is_fitted_inside_the_pipeline() -> None:
    """Imputation and scaling learned in training travel with the model to prediction."""
    result = train(world(), spec(), "ml.m")
    features = result.pipeline.named_steps["columns"]
    scaler = features.named_transformers_["numeric_0"].named_steps["scale"]
    assert scaler.mean_.shape == (1,)

    unseen = pd.DataFrame({"x": [np.nan, 0.5], "colour": ["purple", ""]}, dtype=object).astype(
        {"x": float}
    )
    assert result.pipeline.predict_proba(unseen).shape == (2, 2)


def test_regression_metrics() -> None:
    result = train(
        world(),
        spec(
            target="price",
            task="regression",
            algorithm="linear_regression",
            features={"numeric": ["x"]},
        ),
        "ml.m",
    )
    assert set(result.metrics) == {"mse", "rmse", "mae", "r2", "mape"}
    assert result.metrics["r2"] > 0.9


def test_rows_without_a_label_are_dropped_and_counted() -> None:
    table = world()
    labels = table.column("y").to_pylist()
    labels[:10] = [None] * 10
    table = table.set_column(table.schema.get_field_index("y"), "y", pa.array(labels, pa.int64()))
    assert train(table, spec(), "ml.m").rows["unlabelled_dropped"] == 10


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"algorithm": "random_forrest"}, "did you mean 'random_forest'"),
        ({"params": {"max_iterations": 5}}, "did you mean 'max_iter'"),
        ({"params": {"random_state": 1}}, "set the seed with ml.m.seed"),
        ({"features": {"numeric": ["colour"]}}, "not a number"),
        ({"features": {"numeric": ["x", "nope"]}}, "no column 'nope'"),
    ],
)
def test_config_errors_name_the_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        train(world(), spec(**overrides), "ml.m")


def test_a_single_class_is_refused() -> None:
    table = world().filter(pa.compute.equal(pa.compute.field("y"), 1))
    with pytest.raises(StepError, match="single class"):
        train(table, spec(), "ml.m")


def test_a_time_split_tests_on_the_latest_rows() -> None:
    from weir.ml.splits import holdout
    from weir.ml.train import canonical_order

    table = world(1000).append_column("day", pa.array(list(range(1000))[::-1]))  # newest first
    config = spec(split={"method": "time", "column": "day", "test_fraction": 0.25})
    ordered = canonical_order(table, config)
    days = np.array(ordered.column("day").to_pylist())
    train_rows, test_rows = holdout(len(days), None, None, "time", 0.25, 0, "train:m")
    train_days, test_days = days[train_rows], days[test_rows]
    assert sorted(test_days) == list(range(750, 1000)) and max(train_days) == 749
    result = train(table, config, "ml.m")
    assert result.rows["test"] == 250 and result.metrics["roc_auc"] > 0.7


def test_a_time_split_needs_its_column() -> None:
    with pytest.raises(Exception, match="go with 'column'"):
        spec(split={"method": "time"})
    with pytest.raises(ConfigError, match="no column 'when'"):
        train(world(), spec(split={"method": "time", "column": "when"}), "ml.m")


def test_a_threshold_chosen_on_validation_data_lifts_f1_on_a_rare_class() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=6000)
    label = (x + rng.normal(scale=0.8, size=6000) > 2.2).astype(np.int64)  # about 3% positive
    table = pa.table({"x": x, "colour": ["c"] * 6000, "y": label})
    plain = train(table, spec(algorithm="logistic_regression"), "ml.m")
    tuned = train(table, spec(algorithm="logistic_regression", threshold={"metric": "f1"}), "ml.m")
    assert tuned.threshold is not None and 0.0 < tuned.threshold < 0.5
    assert tuned.metrics["decision_threshold"] == tuned.threshold
    assert tuned.metrics["f1"] > plain.metrics["f1"]
    assert (
        tuned.rows["validation"] > 0
        and tuned.rows["train"] + tuned.rows["validation"] == plain.rows["train"]
    )


def test_a_threshold_is_for_classifiers() -> None:
    with pytest.raises(Exception, match="threshold is for classifiers"):
        spec(
            task="regression",
            target="price",
            threshold={"metric": "f1"},
            features={"numeric": ["x"]},
        )


@pytest.mark.parametrize("method", ["stratified", "random", "time"])
def test_split_rows_are_the_rows_training_used(method: str) -> None:
    """Monitoring's reference is the version's training rows and its held-out rows: the
    same rows `train` split, whatever the order the table came in."""
    table = world(rows=600)
    table = table.append_column("ts", pa.array(np.arange(600)[::-1], pa.int64()))
    split = {"method": method, **({"column": "ts"} if method == "time" else {})}
    config = spec(split=split, features={"numeric": ["x", "ts"], "categorical": ["colour"]})
    shuffled = table.take(pa.array(np.random.default_rng(4).permutation(table.num_rows)))
    trained_rows, test_rows = split_rows(shuffled, config, "ml.m")
    result = train(table, config, "ml.m")
    assert result.evaluation is not None
    held_out = result.evaluation.x
    assert test_rows.num_rows == len(held_out) and trained_rows.num_rows == 600 - len(held_out)
    assert np.allclose(test_rows.column("ts").to_numpy(), held_out["ts"].to_numpy())
    if method == "time":  # the latest rows are held out
        assert (
            pa.compute.min(test_rows.column("ts")).as_py()
            > pa.compute.max(trained_rows.column("ts")).as_py()
        )
