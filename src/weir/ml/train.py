"""Train a model as one scikit-learn Pipeline (preprocessing + estimator), evaluate it on a
held-out split, and report what is needed to reproduce it.

Preprocessing is fitted on the training split only and lives inside the pipeline, so the
exact parameters learned in training are the ones applied at prediction time.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from weir.core.errors import ConfigError, StepError
from weir.core.suggest import suggestion_text
from weir.ml.algorithms import make_estimator
from weir.ml.metrics import choose_threshold, evaluate
from weir.project.model import TrainConfig


@dataclass
class TrainedModel:
    pipeline: Pipeline
    metrics: dict[str, float]
    params: dict[str, Any]
    rows: dict[str, int]
    classes: list[Any] = field(default_factory=list)
    threshold: float | None = None


def environment() -> dict[str, Any]:
    """Library versions that can change a fitted model."""
    packages = ["scikit-learn", "numpy", "pandas", "pyarrow", "scipy", "duckdb", "weir"]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: version(name) for name in packages},
    }


def _check_columns(table: pa.Table, spec: TrainConfig, where: str) -> None:
    available = table.schema.names
    split_column = [spec.split.column] if spec.split.column else []
    for column in [spec.target, *spec.features.numeric, *spec.features.categorical, *split_column]:
        if column not in available:
            raise ConfigError(
                f"{where}: table '{spec.table}' has no column '{column}'",
                fix=suggestion_text(column, available),
            )
    for column in spec.features.numeric:
        kind = table.schema.field(column).type
        if not (
            pat.is_integer(kind)
            or pat.is_floating(kind)
            or pat.is_boolean(kind)
            or pat.is_decimal(kind)
        ):
            raise ConfigError(
                f"{where}.features.numeric: column '{column}' is {kind}, not a number",
                fix="list it under features.categorical, or cast it in a SQL model",
            )


def to_frame(table: pa.Table, spec: TrainConfig) -> pd.DataFrame:
    """The model's columns as pandas (scikit-learn's input), with plain dtypes.

    Categoricals become object columns with NaN for missing, numbers float64, so imputers
    and encoders see one consistent representation in training and at prediction time.
    """
    frame = pd.DataFrame(index=range(table.num_rows))
    for column in spec.features.numeric:
        frame[column] = table.column(column).cast(pa.float64()).to_numpy(zero_copy_only=False)
    for column in spec.features.categorical:
        values = table.column(column).cast(pa.string()).to_pylist()
        frame[column] = pd.Series([np.nan if v is None else v for v in values], dtype=object)
    return frame


def canonical_order(table: pa.Table, spec: TrainConfig) -> pa.Table:
    """Rows in an order fixed by their values alone.

    Engines return rows in whatever order their threads finish; a seeded split of rows in
    an arbitrary order is not reproducible. Sorting by every model column first makes the
    split, and so the model, a function of the data and the seed only.
    """
    columns = [spec.target, *spec.features.numeric, *spec.features.categorical]
    if spec.split.column:  # a time split needs time order first
        columns = [spec.split.column, *columns]
    return table.sort_by([(c, "ascending") for c in columns])


def build_pipeline(spec: TrainConfig, where: str) -> Pipeline:
    transformers = []
    if spec.features.numeric:
        numeric = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        transformers.append(("numeric", numeric, list(spec.features.numeric)))
    if spec.features.categorical:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        transformers.append(("categorical", categorical, list(spec.features.categorical)))
    estimator = make_estimator(spec.task, spec.algorithm, spec.params, spec.seed, where)
    return Pipeline([("features", ColumnTransformer(transformers)), ("model", estimator)])


def train(table: pa.Table, spec: TrainConfig, where: str) -> TrainedModel:
    """Fit on a seeded split of `table` and evaluate on the held-out part."""
    _check_columns(table, spec, where)
    labelled = canonical_order(table.filter(pc.is_valid(table.column(spec.target))), spec)
    unlabelled = table.num_rows - labelled.num_rows
    if labelled.num_rows < 10:
        raise StepError(
            f"train:{where.split('.')[-1]}",
            f"only {labelled.num_rows} rows with a target value; need at least 10",
            fix=f"check that '{spec.target}' is filled in table '{spec.table}'",
        )
    features = to_frame(labelled, spec)
    target = labelled.column(spec.target).to_numpy(zero_copy_only=False)
    if spec.task == "regression":
        target = target.astype(np.float64)
    if spec.split_method == "stratified" and len(np.unique(target)) < 2:
        raise StepError(
            f"train:{where.split('.')[-1]}",
            f"target '{spec.target}' has a single class",
            fix="a classifier needs at least two classes in the data",
        )
    x_train, x_test, y_train, y_test = _split(
        features, target, spec.split_method, spec.split.test_fraction, spec.seed
    )
    threshold, validation = None, 0
    if spec.threshold is not None and len(np.unique(target)) == 2:
        x_fit, x_valid, y_fit, y_valid = _split(
            x_train, y_train, spec.split_method, spec.threshold.validation_fraction, spec.seed
        )
        pipeline = build_pipeline(spec, where)
        pipeline.fit(x_fit, y_fit)
        threshold, _ = choose_threshold(pipeline, x_valid, y_valid, spec.threshold.metric)
        validation = len(y_valid)
    else:
        pipeline = build_pipeline(spec, where)
        pipeline.fit(x_train, y_train)
    metrics = evaluate(pipeline, x_test, y_test, spec.task, threshold)
    if threshold is not None:
        metrics["decision_threshold"] = threshold
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(pipeline, "classes_", [])]
    return TrainedModel(
        pipeline=pipeline,
        metrics=metrics,
        params={k: _plain(v) for k, v in pipeline.named_steps["model"].get_params().items()},
        rows={
            "train": len(y_train) - validation,
            "validation": validation,
            "test": len(y_test),
            "unlabelled_dropped": unlabelled,
        },
        classes=classes,
        threshold=threshold,
    )


def _split(
    x: pd.DataFrame, y: np.ndarray, method: str, fraction: float, seed: int
) -> tuple[Any, Any, Any, Any]:
    """Held-out rows: the latest for a time split (rows come in time order), else a seeded draw."""
    if method == "time":
        cut = len(y) - max(1, round(len(y) * fraction))
        return x.iloc[:cut], x.iloc[cut:], y[:cut], y[cut:]
    stratify = y if method == "stratified" else None
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=fraction, random_state=seed, stratify=stratify
    )
    return x_train, x_test, y_train, y_test


def _plain(value: Any) -> Any:
    """Hyper-parameters as JSON-able values for the catalog."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)
