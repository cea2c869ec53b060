"""Evaluation metrics on held-out data."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm


def evaluate(pipeline: Any, x_test: Any, y_test: np.ndarray, task: str) -> dict[str, float]:
    if task == "regression":
        predicted = pipeline.predict(x_test)
        mse = float(skm.mean_squared_error(y_test, predicted))
        return {
            "mse": mse,
            "rmse": float(np.sqrt(mse)),
            "mae": float(skm.mean_absolute_error(y_test, predicted)),
            "r2": float(skm.r2_score(y_test, predicted)),
        }
    predicted = pipeline.predict(x_test)
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
