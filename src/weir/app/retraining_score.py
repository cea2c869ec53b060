"""One version's score on labelled rows: its ONNX graph answers them (the graph it serves,
so the figure is the one its traffic would get) and weir.ml.metrics judges the answers.

Both versions of a comparison are scored this way, the champion included: its graph
answers a logged row exactly as it answered it when serving, and scoring both alike works
for every task and any number of classes without reading the log's answer columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from weir.app.retraining_data import label_text
from weir.app.scoring import answers, exported_session
from weir.app.workspace import Workspace
from weir.catalog import ModelVersionRecord, ServingSpec
from weir.core.errors import ConfigError, MonitorError
from weir.ml import metrics as m
from weir.project.ml_config import FeatureSpec
from weir.project.monitor_config import MonitorConfig


@dataclass(frozen=True)
class Scorer:
    """A model version with its ONNX session, ready to answer rows."""

    record: ModelVersionRecord
    serving: ServingSpec
    session: Any  # onnxruntime.InferenceSession
    features: FeatureSpec

    @classmethod
    def load(cls, ws: Workspace, record: ModelVersionRecord) -> Scorer:
        serving = record.serving_spec()
        session, features = exported_session(ws, serving)
        return cls(record, serving, session, features)

    @property
    def name(self) -> str:
        return f"v{self.record.version}"

    def missing(self, rows: pa.Table) -> list[str]:
        """The inputs this version reads that `rows` lack."""
        return [c for c in self.serving.inputs if c not in rows.column_names]

    def score(self, rows: pa.Table, truth: pa.ChunkedArray, metric: str) -> float:
        """`metric` of this version's answers to `rows` against `truth` (NaN when the
        metric is undefined there: one class only, or labels the version never saw)."""
        if rows.num_rows == 0:
            return math.nan
        answered = answers(self.serving, self.session, self.features, rows)
        try:
            if self.serving.task == "regression":
                predicted = answered["prediction"].to_numpy(zero_copy_only=False)
                expected = np.asarray(truth.to_numpy(zero_copy_only=False), dtype=np.float64)
                return m.regression_metrics(expected, predicted.astype(np.float64))[metric]
            return self._classification(answered, truth, metric)
        except ValueError:  # scikit-learn: a label outside the version's classes, and so on
            return math.nan

    def _classification(
        self, answered: dict[str, pa.Array], truth: pa.ChunkedArray, metric: str
    ) -> float:
        classes = np.asarray([str(c) for c in self.serving.classes], dtype=object)
        predicted = label_text(answered["prediction"])
        if len(classes) == 2:
            positive = answered["probability"].to_numpy(zero_copy_only=False).astype(np.float64)
            probabilities = np.column_stack([1.0 - positive, positive])
        else:
            probabilities = np.column_stack(
                [
                    answered[f"probability_{c}"].to_numpy(zero_copy_only=False)
                    for c in self.serving.classes
                ]
            ).astype(np.float64)
        values = m.classification_metrics(label_text(truth), predicted, probabilities, classes)
        return values[metric]


def comparison_metric(model: str, config: MonitorConfig, record: ModelVersionRecord) -> str:
    """retrain.metric, else performance.metric, else the model's tuning metric, else the
    task's default: the figure the model is already judged by, so a retrain does not
    promote on one metric what the monitor then judges on another."""
    serving = record.serving_spec()
    if serving.task == "clustering":
        raise ConfigError(
            f"monitor.{model}.retrain: a clustering model has no labels to compare a "
            "challenger with its champion on",
            fix=f"remove monitor.{model}.retrain; retrain it with 'weir train {model} --force' "
            "and promote a version yourself",
        )
    retrain = config.retrain
    tune = (record.details.config or {}).get("tune") or {}
    chosen = (retrain.metric if retrain else None) or config.performance.metric
    chosen = chosen or tune.get("metric")
    classes = len(serving.classes)
    chosen = chosen or m.default_metric(serving.task, classes)
    return m.check_metric(str(chosen), serving.task, classes, f"monitor.{model}.retrain.metric")


def gain(metric: str, champion: float, challenger: float) -> float:
    """How much better the challenger is (negative: worse), whichever way the metric goes."""
    if m.direction(metric) == "minimize":
        return champion - challenger
    return challenger - champion


def bar(metric: str, champion: float, margin: float) -> float:
    """The value the challenger must reach: the champion's, `margin` better."""
    return champion + margin if m.direction(metric) == "maximize" else champion - margin


def require_inputs(scorer: Scorer, rows: pa.Table, where: str) -> None:
    missing = scorer.missing(rows)
    if missing:
        raise MonitorError(
            f"{where} lacks {scorer.record.model} {scorer.name}'s inputs {missing}",
            fix="compare versions that read the same inputs",
        )
