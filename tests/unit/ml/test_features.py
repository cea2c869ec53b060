"""Declared features become one fitted pipeline; what it learned travels with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from weir.core import ConfigError, StepError
from weir.ml import predictions, prepare_frame
from weir.ml.algorithms import trusted_types
from weir.ml.train import train
from weir.project.ml_config import FeatureSpec, TrainConfig
from weir.registry import ArtifactStore


def shop(rows: int = 1200, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ts = [start + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 90, rows)]
    signup = [
        t - timedelta(days=int(d)) for t, d in zip(ts, rng.integers(1, 900, rows), strict=True)
    ]
    amount = rng.lognormal(3, 1, rows)
    colour = rng.choice(["red", "green", "blue", "mauve"], rows, p=[0.5, 0.3, 0.195, 0.005])
    words = rng.choice(["gift card", "groceries", "electronics refund", "fuel"], rows)
    night = np.array([t.hour < 6 for t in ts])
    label = ((np.log(amount) > 3.5) & (colour == "red") | night & (rng.random(rows) < 0.5)).astype(
        np.int64
    )
    return pa.table(
        {
            "amount": amount,
            "colour": colour,
            "note": words,
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "signup": pa.array(signup, pa.timestamp("us", tz="UTC")),
            "label": label,
            "shop": rng.integers(0, 40, rows),
        }
    )


def config(**overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "table": "t",
        "target": "label",
        "task": "classification",
        "algorithm": "logistic_regression",
        "features": {"numeric": ["amount"], "categorical": ["colour"]},
        "seed": 1,
    }
    return TrainConfig.model_validate(base | overrides)


EVERYTHING = {
    "numeric": {"amount": {"impute": "mean", "clip": [0, 500], "log": True, "scale": "robust"}},
    "categorical": {"colour": {"min_frequency": 0.01, "unknown": "infrequent"}},
    "dates": {"ts": {"parts": ["hour", "dayofweek", "is_weekend", "month"], "since": ["signup"]}},
    "text": {"note": {"hash_features": 16}},
    "select": {"method": "kbest", "k": 8},
    "pca": {"components": 5},
}


@pytest.mark.parametrize(
    "algorithm",
    ["logistic_regression", "random_forest", "hist_gradient_boosting", "lightgbm", "mlp"],
)
def test_every_feature_kind_trains_and_round_trips_through_the_artifact_store(
    tmp_path: Path, algorithm: str
) -> None:
    spec = config(features=EVERYTHING, algorithm=algorithm)
    trained = train(shop(), spec, "ml.m")
    assert trained.evaluation is not None
    store = ArtifactStore(tmp_path)
    stored = store.save_model("m", trained.pipeline)
    loaded = store.load(stored.relative, stored.sha256, trusted_types(algorithm))
    assert np.array_equal(
        predictions(loaded, trained.evaluation.x, "classification"), trained.evaluation.predictions
    )


@pytest.mark.parametrize(
    ("task", "select"),
    [
        ("classification", {"method": "model", "threshold": "median"}),
        ("classification", {"method": "kbest", "k": 3, "score": "f_test"}),
        ("regression", {"method": "kbest", "k": 3}),
        ("regression", {"method": "variance", "threshold": 0.01}),
    ],
)
def test_feature_selection_round_trips(tmp_path: Path, task: str, select: dict[str, Any]) -> None:
    features = {**EVERYTHING, "select": select}
    features.pop("pca")
    overrides: dict[str, Any] = {
        "features": features,
        "task": task,
        "algorithm": "random_forest",
        "params": {"n_estimators": 10},
    }
    if task == "regression":
        overrides |= {"target": "shop", "split": {"method": "random"}}
    trained = train(shop(), config(**overrides), "ml.m")
    assert trained.evaluation is not None
    store = ArtifactStore(tmp_path)
    stored = store.save_model("m", trained.pipeline)
    loaded = store.load(stored.relative, stored.sha256, trusted_types("random_forest"))
    assert np.array_equal(
        predictions(loaded, trained.evaluation.x, task), trained.evaluation.predictions
    )


def test_date_parts_and_elapsed_days_are_computed_in_utc() -> None:
    table = pa.table(
        {
            "ts": pa.array(
                [datetime(2025, 3, 8, 23, 30, tzinfo=UTC)], pa.timestamp("us", tz="UTC")
            ),
            "signup": pa.array(
                [datetime(2025, 3, 6, 11, 30, tzinfo=UTC)], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    spec = FeatureSpec.model_validate(
        {
            "dates": {
                "ts": {
                    "parts": ["hour", "dayofweek", "is_weekend", "month", "year"],
                    "since": ["signup"],
                }
            }
        }
    )
    frame = prepare_frame(table, spec)
    assert frame.iloc[0].to_dict() == {
        "ts__hour": 23.0,
        "ts__dayofweek": 5.0,  # Saturday, Monday = 0
        "ts__is_weekend": 1.0,
        "ts__month": 3.0,
        "ts__year": 2025.0,
        "ts__days_since_signup": 2.5,
    }


def unseen(value: str) -> pd.DataFrame:
    return pd.DataFrame({"amount": [20.0], "colour": pd.Series([value], dtype=object)})


def test_unknown_categories_are_handled_as_declared() -> None:
    table = shop()
    ignore = train(table, config(), "ml.m").pipeline
    assert ignore.predict_proba(unseen("ultraviolet")).shape == (1, 2)

    frequent = train(
        table,
        config(
            features={
                "numeric": ["amount"],
                "categorical": {"colour": {"unknown": "most_frequent"}},
            }
        ),
        "ml.m",
    ).pipeline
    assert np.array_equal(
        frequent.predict_proba(unseen("ultraviolet")), frequent.predict_proba(unseen("red"))
    )

    strict = train(
        table,
        config(features={"numeric": ["amount"], "categorical": {"colour": {"unknown": "error"}}}),
        "ml.m",
    ).pipeline
    with pytest.raises(ValueError, match="unknown categor"):
        strict.predict_proba(unseen("ultraviolet"))


def test_rare_categories_are_grouped() -> None:
    spec = config(
        features={"numeric": ["amount"], "categorical": {"colour": {"min_frequency": 0.01}}}
    )
    steps = (
        train(shop(), spec, "ml.m")
        .pipeline.named_steps["columns"]
        .named_transformers_["categorical_0"]
        .named_steps
    )
    assert steps["categories"].mapping_[0]["mauve"] == "__infrequent__"
    assert steps["categories"].mapping_[0]["red"] == "red"
    assert "__infrequent__" in list(steps["encode"].categories_[0])


def test_scaling_is_learned_from_training_rows_only() -> None:
    """A time split whose test rows are 1000x larger: the scaler must never see them."""
    rows = 1000
    amount = np.concatenate([np.linspace(1, 2, 800), np.linspace(1000, 2000, 200)])
    table = pa.table(
        {
            "day": np.arange(rows),
            "amount": amount,
            "colour": ["a", "b"] * 500,
            "label": [0, 1] * 500,
        }
    )
    spec = config(split={"method": "time", "column": "day", "test_fraction": 0.2})
    trained = train(table, spec, "ml.m")
    scaler = (
        trained.pipeline.named_steps["columns"]
        .named_transformers_["numeric_0"]
        .named_steps["scale"]
    )
    assert scaler.mean_[0] == pytest.approx(amount[:800].mean())


def test_log_of_negative_values_is_an_error_naming_the_column() -> None:
    table = shop().set_column(0, "amount", pa.array(np.linspace(-5, 5, 1200)))
    spec = config(features={"numeric": {"amount": {"log": True}}})
    with pytest.raises(StepError, match="log is declared for amount"):
        train(table, spec, "ml.m")


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"dates": {"colour": {}}}, "not a date or timestamp"),
        ({"numeric": ["amount"], "dates": {"ts": {"since": ["nope"]}}}, "no column 'nope'"),
    ],
)
def test_feature_columns_are_checked_against_the_table(
    features: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        train(shop(), config(features=features), "ml.m")


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"numeric": ["a"], "categorical": ["a"]}, "more than one feature group"),
        ({}, "at least one"),
        ({"categorical": {"c": {"unknown": "infrequent"}}}, "needs min_frequency"),
        ({"numeric": ["a"], "select": {"method": "kbest"}}, "goes with 'k'"),
    ],
)
def test_feature_spec_mistakes_are_refused(features: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FeatureSpec.model_validate(features)
