"""Train a model as one scikit-learn Pipeline (features + estimator): split, tune, fit,
evaluate on held-out rows, and keep what is needed to explain and reproduce it.

Everything that learns from data is inside the pipeline and fitted on training rows only
(or training folds, while tuning); the test rows are touched once, for the final metrics.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight

from weir.core.errors import ConfigError, StepError
from weir.core.suggest import suggestion_text
from weir.ml import metrics as m
from weir.ml.algorithms import (
    accepts_sample_weight,
    get_algorithm,
    make_estimator,
    supports_class_weight,
)
from weir.ml.features import build_preprocessor, check_columns, prepare_frame
from weir.ml.splits import folds as make_folds
from weir.ml.splits import holdout
from weir.ml.tuning import TuneResult, run_study, summarise_folds
from weir.project.ml_config import TrainConfig

Progress = Callable[[str], None]


@dataclass
class Evaluation:
    """The held-out rows and what the model said about them (for reports and parity)."""

    x: pd.DataFrame
    y: np.ndarray | None
    predictions: np.ndarray  # probabilities for classifiers, values or clusters otherwise
    confusion: list[list[int]] | None = None


@dataclass
class TrainedModel:
    pipeline: Pipeline
    metrics: dict[str, float]
    params: dict[str, Any]
    rows: dict[str, int]
    classes: list[Any] = field(default_factory=list)
    threshold: float | None = None
    cv: dict[str, dict[str, float]] = field(default_factory=dict)
    tuning: TuneResult | None = None
    resolved_params: dict[str, Any] = field(default_factory=dict)
    evaluation: Evaluation | None = None


@dataclass
class Prepared:
    x: pd.DataFrame
    y: np.ndarray | None
    groups: np.ndarray | None
    unlabelled: int


def environment() -> dict[str, Any]:
    """Library versions that can change a fitted model."""
    packages = [
        "scikit-learn",
        "numpy",
        "pandas",
        "pyarrow",
        "scipy",
        "lightgbm",
        "optuna",
        "skops",
        "weir",
    ]
    found: dict[str, str | None] = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": found}


def canonical_order(table: pa.Table, spec: TrainConfig) -> pa.Table:
    """Rows in an order fixed by their values alone.

    Engines return rows in whatever order their threads finish; a seeded split of rows in
    an arbitrary order is not reproducible. Sorting by every model column first makes the
    split, and so the model, a function of the data and the seed only.
    """
    columns = spec.input_columns
    if spec.split_method == "time" and spec.split.column:  # time order first
        columns = [spec.split.column, *[c for c in columns if c != spec.split.column]]
    return table.sort_by([(c, "ascending") for c in columns])


def ordered_rows(table: pa.Table, spec: TrainConfig, where: str) -> tuple[pa.Table, int]:
    """The rows training uses (those with a target), in canonical order, and how many rows
    were left out for lack of a target."""
    step = f"train:{where.split('.')[-1]}"
    extra = [spec.target] if spec.target else []
    extra += [spec.split.column] if spec.split.column else []
    for column in extra:
        if column not in table.schema.names:
            raise ConfigError(
                f"{where}: table '{spec.table}' has no column '{column}'",
                fix=suggestion_text(column, table.schema.names),
            )
    check_columns(table.schema, spec.features, spec.table, where)
    unlabelled = 0
    if spec.target:
        labelled = table.filter(pc.is_valid(table.column(spec.target)))
        unlabelled, table = table.num_rows - labelled.num_rows, labelled
    if table.num_rows < 10:
        raise StepError(
            step,
            f"only {table.num_rows} usable rows; need at least 10",
            fix=f"check that table '{spec.table}' is filled",
        )
    return canonical_order(table, spec), unlabelled


def _target_and_groups(table: pa.Table, spec: TrainConfig) -> tuple[Any, Any]:
    y = None
    if spec.target:
        y = table.column(spec.target).to_numpy(zero_copy_only=False)
        if spec.task == "regression":
            y = y.astype(np.float64)
    groups = None
    if spec.split_method == "group" and spec.split.column:
        groups = np.asarray(
            table.column(spec.split.column).cast(pa.string()).fill_null("").to_pylist(),
            dtype=object,
        )
    return y, groups


def prepare(table: pa.Table, spec: TrainConfig, where: str) -> Prepared:
    """Model input, target and groups from the table, rows in canonical order."""
    table, unlabelled = ordered_rows(table, spec, where)
    y, groups = _target_and_groups(table, spec)
    return Prepared(prepare_frame(table, spec.features), y, groups, unlabelled)


def split_rows(table: pa.Table, spec: TrainConfig, where: str) -> tuple[pa.Table, pa.Table]:
    """The training and the test rows of `table`, exactly as `train` splits them (same
    order, same seed): what monitoring compares served traffic with."""
    table, _ = ordered_rows(table, spec, where)
    y, groups = _target_and_groups(table, spec)
    step = f"train:{where.split('.')[-1]}"
    train_rows, test_rows = holdout(
        table.num_rows, y, groups, spec.split_method, spec.split.test_fraction, spec.seed, step
    )
    return table.take(pa.array(train_rows)), table.take(pa.array(test_rows))


def build_pipeline(spec: TrainConfig, where: str, params: dict[str, Any] | None = None) -> Pipeline:
    estimator = make_estimator(
        spec.task, spec.algorithm, {**spec.params, **(params or {})}, spec.seed, where
    )
    if spec.class_weight is not None and supports_class_weight(estimator):
        estimator.set_params(class_weight=spec.class_weight)
    elif spec.class_weight is not None and not accepts_sample_weight(estimator):
        raise ConfigError(
            f"{where}.class_weight: {spec.algorithm} cannot weigh classes",
            fix="remove class_weight or choose another algorithm",
        )
    return Pipeline(
        [
            *build_preprocessor(spec.features, spec.task, spec.seed, trees=uses_trees(spec, where)),
            ("model", estimator),
        ]
    )


def uses_trees(spec: TrainConfig, where: str) -> bool:
    return get_algorithm(spec.algorithm, spec.task, where).trees


def fit(
    pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray | None, spec: TrainConfig, step: str
) -> Pipeline:
    """Fit, with class weights as sample weights where the estimator has no class_weight."""
    extra: dict[str, Any] = {}
    estimator = pipeline.named_steps["model"]
    if spec.class_weight is not None and y is not None and not supports_class_weight(estimator):
        weights = _class_weights(spec.class_weight, y)
        extra["model__sample_weight"] = compute_sample_weight(weights, y)
    try:
        return pipeline.fit(x, y, **extra)
    except ValueError as exc:
        raise StepError(
            step,
            f"fitting failed: {exc}",
            fix=f"check ml.{step.split(':')[-1]} (features, params) against the data",
        ) from None


def _class_weights(declared: str | dict[str, float], y: np.ndarray) -> Any:
    if isinstance(declared, str):
        return declared
    return {label: declared.get(str(label), 1.0) for label in np.unique(y)}


def predictions(pipeline: Pipeline, x: pd.DataFrame, task: str) -> np.ndarray:
    """What parity and reproducibility compare: probabilities for classifiers."""
    if task == "classification":
        return np.asarray(pipeline.predict_proba(x))
    return np.asarray(pipeline.predict(x))


def train(
    table: pa.Table,
    spec: TrainConfig,
    where: str,
    *,
    storage_url: str | None = None,
    study_name: str | None = None,
    progress: Progress | None = None,
) -> TrainedModel:
    """Split, tune on the training rows (if declared), fit, and evaluate on the test rows."""
    step = f"train:{where.split('.')[-1]}"
    data = prepare(table, spec, where)
    count = len(data.x)
    train_rows, test_rows = holdout(
        count, data.y, data.groups, spec.split_method, spec.split.test_fraction, spec.seed, step
    )
    x_train, x_test = data.x.iloc[train_rows], data.x.iloc[test_rows]
    y_train = data.y[train_rows] if data.y is not None else None
    y_test = data.y[test_rows] if data.y is not None else None
    groups = data.groups[train_rows] if data.groups is not None else None
    classes = (
        len(np.unique(y_train)) if spec.task == "classification" and y_train is not None else 0
    )

    def fold_metrics(
        params: dict[str, Any], fit_rows: np.ndarray, valid_rows: np.ndarray
    ) -> dict[str, float]:
        pipeline = fit(
            build_pipeline(spec, where, params),
            x_train.iloc[fit_rows],
            _take(y_train, fit_rows),
            spec,
            step,
        )
        return m.evaluate(pipeline, x_train.iloc[valid_rows], _take(y_train, valid_rows), spec.task)

    tuning: TuneResult | None = None
    cv: dict[str, dict[str, float]] = {}
    tuned: dict[str, Any] = {}
    k = spec.folds
    fold_list = (
        list(make_folds(len(x_train), y_train, groups, spec.split_method, k, spec.seed, step))
        if k
        else []
    )
    if spec.tune is not None:
        metric = m.check_metric(
            spec.tune.metric or m.default_metric(spec.task, classes),
            spec.task,
            classes,
            f"{where}.tune.metric",
        )
        tuning = run_study(
            spec.tune,
            study_name=study_name or f"weir.{where}",
            storage_url=storage_url or "sqlite:///:memory:",
            metric=metric,
            folds=fold_list,
            score_fold=fold_metrics,
            seed=spec.seed,
            where=where,
            progress=progress,
        )
        tuned = tuning.best_params
        cv = tuning.best_cv  # the chosen settings were scored on these very folds
    if fold_list and not cv:
        if progress:
            progress(f"cross-validating ({len(fold_list)} folds)")
        cv = summarise_folds([fold_metrics(tuned, a, b) for a, b in fold_list])

    if progress:
        progress("fitting the final model")
    threshold, validation = None, 0
    if spec.threshold is not None and classes == 2 and y_train is not None:
        fit_rows, valid_rows = holdout(
            len(x_train),
            y_train,
            groups,
            spec.split_method,
            spec.threshold.validation_fraction,
            spec.seed,
            step,
        )
        pipeline = fit(
            build_pipeline(spec, where, tuned),
            x_train.iloc[fit_rows],
            _take(y_train, fit_rows),
            spec,
            step,
        )
        threshold, _ = m.choose_threshold(
            pipeline, x_train.iloc[valid_rows], y_train[valid_rows], spec.threshold.metric
        )
        validation = len(valid_rows)
    else:
        pipeline = fit(build_pipeline(spec, where, tuned), x_train, y_train, spec, step)

    metrics = m.evaluate(pipeline, x_test, y_test, spec.task, threshold)
    if threshold is not None:
        metrics["decision_threshold"] = threshold
    confusion = (
        m.confusion(pipeline, x_test, y_test, threshold) if spec.task == "classification" else None
    )
    labels = [c.item() if hasattr(c, "item") else c for c in getattr(pipeline, "classes_", [])]
    return TrainedModel(
        pipeline=pipeline,
        metrics=metrics,
        params={k: _plain(v) for k, v in pipeline.named_steps["model"].get_params().items()},
        rows={
            "train": len(train_rows) - validation,
            "validation": validation,
            "test": len(test_rows),
            "unlabelled_dropped": data.unlabelled,
        },
        classes=labels,
        threshold=threshold,
        cv=cv,
        tuning=tuning,
        resolved_params={**spec.params, **{k: _plain(v) for k, v in tuned.items()}},
        evaluation=Evaluation(x_test, y_test, predictions(pipeline, x_test, spec.task), confusion),
    )


def _take(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[rows]


def _plain(value: Any) -> Any:
    """Hyper-parameters as JSON-able values for the catalog."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return repr(value)
