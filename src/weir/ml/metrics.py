"""Evaluation metrics on held-out data."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm


def labels_at(pipeline: Any, x: Any, threshold: float | None) -> np.ndarray:
    """Predicted labels; for a binary classifier with a threshold, positive when P >= threshold."""
    if threshold is None or len(pipeline.classes_) != 2:
        return np.asarray(pipeline.predict(x))
    positive = pipeline.predict_proba(x)[:, 1] >= threshold
    labels: np.ndarray = np.where(positive, pipeline.classes_[1], pipeline.classes_[0])
    return labels


def choose_threshold(pipeline: Any, x: Any, y: np.ndarray, metric: str) -> tuple[float, float]:
    """The threshold that maximises `metric` on (x, y), and that metric's value there."""
    scores = pipeline.predict_proba(x)[:, 1]
    positive = pipeline.classes_[1]
    candidates = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, 201)))
    best = (0.5, -1.0)
    for candidate in candidates:
        predicted = scores >= candidate
        truth = y == positive
        if metric == "balanced_accuracy":
            value = float(skm.balanced_accuracy_score(truth, predicted))
        else:
            function = {
                "f1": skm.f1_score,
                "precision": skm.precision_score,
                "recall": skm.recall_score,
            }[metric]
            value = float(function(truth, predicted, zero_division=0))
        if value > best[1]:
            best = (float(candidate), value)
    return best


def evaluate(
    pipeline: Any, x_test: Any, y_test: np.ndarray, task: str, threshold: float | None = None
) -> dict[str, float]:
    if task == "regression":
        predicted = pipeline.predict(x_test)
        mse = float(skm.mean_squared_error(y_test, predicted))
        return {
            "mse": mse,
            "rmse": float(np.sqrt(mse)),
            "mae": float(skm.mean_absolute_error(y_test, predicted)),
            "r2": float(skm.r2_score(y_test, predicted)),
        }
    predicted = labels_at(pipeline, x_test, threshold)
    result = {
        "accuracy": float(skm.accuracy_score(y_test, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_test, predicted)),
    }
    classes = pipeline.classes_
    probabilities = pipeline.predict_proba(x_test)
    if len(classes) == 2:
        positive = classes[1]
        scores = probabilities[:, 1]
        result |= {
            "precision": float(
                skm.precision_score(y_test, predicted, pos_label=positive, zero_division=0)
            ),
            "recall": float(
                skm.recall_score(y_test, predicted, pos_label=positive, zero_division=0)
            ),
            "f1": float(skm.f1_score(y_test, predicted, pos_label=positive, zero_division=0)),
            "roc_auc": float(skm.roc_auc_score(y_test == positive, scores)),
            "pr_auc": float(skm.average_precision_score(y_test == positive, scores)),
            "log_loss": float(skm.log_loss(y_test, probabilities, labels=classes)),
        }
    else:
        result |= {
            "f1_macro": float(skm.f1_score(y_test, predicted, average="macro", zero_division=0)),
            "log_loss": float(skm.log_loss(y_test, probabilities, labels=classes)),
        }
    return result
