"""Evaluation metrics on held-out data, all computed by scikit-learn.

Every metric has a direction, so tuning knows whether to maximise or minimise it, and one
function computes it from a fitted pipeline and labelled rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from weir.core.errors import ConfigError
from weir.core.suggest import suggestion_text
from weir.ml.decision import decide as decide  # kept here too; serving imports the module
from weir.ml.decision import decide_one as decide_one  # without scikit-learn

LOWER_IS_BETTER = {"mse", "rmse", "mae", "mape", "log_loss"}
BINARY = [
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
]
MULTICLASS = [
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "roc_auc_ovr",
    "log_loss",
]
REGRESSION = ["mse", "rmse", "mae", "r2", "mape"]
CLUSTERING = ["silhouette"]


def metric_names(task: str, classes: int = 2) -> list[str]:
    if task == "regression":
        return REGRESSION
    if task == "clustering":
        return CLUSTERING
    return BINARY if classes == 2 else MULTICLASS


def default_metric(task: str, classes: int) -> str:
    if task == "classification":
        return "roc_auc" if classes == 2 else "f1_macro"
    return "rmse" if task == "regression" else "silhouette"


def check_metric(metric: str, task: str, classes: int, where: str) -> str:
    names = metric_names(task, classes)
    if metric not in names:
        raise ConfigError(
            f"{where}: '{metric}' is not a {task} metric here", fix=suggestion_text(metric, names)
        )
    return metric


def direction(metric: str) -> str:
    return "minimize" if metric in LOWER_IS_BETTER else "maximize"


def labels_at(pipeline: Any, x: Any, threshold: float | None) -> np.ndarray:
    """Predicted labels of a fitted classifier (see `decide`)."""
    if threshold is None or len(pipeline.classes_) != 2:
        return np.asarray(pipeline.predict(x))
    return decide(pipeline.predict_proba(x), pipeline.classes_, threshold)


def choose_threshold(pipeline: Any, x: Any, y: np.ndarray, metric: str) -> tuple[float, float]:
    """The threshold that maximises `metric` on (x, y), and that metric's value there."""
    scores = pipeline.predict_proba(x)[:, 1]
    positive = pipeline.classes_[1]
    candidates = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, 201)))
    best = (0.5, -1.0)
    truth = y == positive
    for candidate in candidates:
        predicted = scores >= candidate
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
    pipeline: Any, x: Any, y: Any, task: str, threshold: float | None = None
) -> dict[str, float]:
    """Every metric of the task on (x, y)."""
    if task == "clustering":
        return {"silhouette": silhouette(pipeline, x)}
    if task == "regression":
        return regression_metrics(
            np.asarray(y, dtype=np.float64), np.asarray(pipeline.predict(x), dtype=np.float64)
        )
    classes = pipeline.classes_
    return classification_metrics(
        y, labels_at(pipeline, x, threshold), pipeline.predict_proba(x), classes
    )


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    mse = float(skm.mean_squared_error(truth, predicted))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(skm.mean_absolute_error(truth, predicted)),
        "r2": float(skm.r2_score(truth, predicted)),
        "mape": float(skm.mean_absolute_percentage_error(truth, predicted)),
    }


def classification_metrics(
    truth: Any, predicted: np.ndarray, probabilities: np.ndarray, classes: Any
) -> dict[str, float]:
    result = {
        "accuracy": float(skm.accuracy_score(truth, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(truth, predicted)),
    }
    present = len(np.unique(truth)) > 1
    if len(classes) == 2:
        positive = classes[1]
        scores = probabilities[:, 1]
        result |= {
            "precision": float(
                skm.precision_score(truth, predicted, pos_label=positive, zero_division=0)
            ),
            "recall": float(
                skm.recall_score(truth, predicted, pos_label=positive, zero_division=0)
            ),
            "f1": float(skm.f1_score(truth, predicted, pos_label=positive, zero_division=0)),
            "roc_auc": float(skm.roc_auc_score(truth == positive, scores))
            if present
            else float("nan"),
            "pr_auc": float(skm.average_precision_score(truth == positive, scores)),
        }
    else:
        macro = {"average": "macro", "zero_division": 0}
        result |= {
            "precision_macro": float(skm.precision_score(truth, predicted, **macro)),
            "recall_macro": float(skm.recall_score(truth, predicted, **macro)),
            "f1_macro": float(skm.f1_score(truth, predicted, **macro)),
            "roc_auc_ovr": float(
                skm.roc_auc_score(truth, probabilities, multi_class="ovr", labels=classes)
            )
            if len(np.unique(truth)) == len(classes)
            else float("nan"),
        }
    result["log_loss"] = float(skm.log_loss(truth, probabilities, labels=classes))
    return result


def confusion(pipeline: Any, x: Any, y: Any, threshold: float | None) -> list[list[int]]:
    """Rows: true class, columns: predicted class, in the order of `pipeline.classes_`."""
    matrix = skm.confusion_matrix(y, labels_at(pipeline, x, threshold), labels=pipeline.classes_)
    return [[int(v) for v in row] for row in matrix]


def silhouette(pipeline: Any, x: Any, sample: int = 5000, seed: int = 0) -> float:
    """Silhouette of the clusters in the model's own feature space (sampled: it is O(n²))."""
    features = pipeline[:-1].transform(x)
    labels = pipeline[-1].predict(features)
    if len(np.unique(labels)) < 2:
        return float("nan")
    size = min(sample, len(labels))
    return float(skm.silhouette_score(features, labels, sample_size=size, random_state=seed))
