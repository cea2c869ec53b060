"""The report's figures, drawn by matplotlib as inline SVG (no files, no network)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np


def _figure(draw: Callable[[Any], None], width: float = 4.6, height: float = 3.4) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "weir"  # stable ids: the same model gives the same report
    figure, axes = plt.subplots(figsize=(width, height))
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
        text = buffer.getvalue()
    finally:
        plt.close(figure)
    return text[text.index("<svg") :]


def roc_curve(truth: np.ndarray, scores: np.ndarray) -> str:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(truth, scores)

    def draw(ax: Any) -> None:
        ax.plot(fpr, tpr, label=f"model (AUC {roc_auc_score(truth, scores):.3f})")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
        ax.legend(loc="lower right")

    return _figure(draw)


def pr_curve(truth: np.ndarray, scores: np.ndarray) -> str:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(truth, scores)

    def draw(ax: Any) -> None:
        ax.plot(recall, precision, label=f"model (AP {average_precision_score(truth, scores):.3f})")
        ax.axhline(float(np.mean(truth)), linestyle="--", color="grey", label="base rate")
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve")
        ax.legend(loc="upper right")

    return _figure(draw)


def calibration(truth: np.ndarray, scores: np.ndarray) -> str:
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(truth, scores, n_bins=10, strategy="quantile")

    def draw(ax: Any) -> None:
        ax.plot(predicted, observed, marker="o", label="model")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
        ax.set(
            xlabel="predicted probability",
            ylabel="observed frequency",
            title="Calibration (deciles)",
        )
        ax.legend(loc="upper left")

    return _figure(draw)


def confusion_matrix(matrix: list[list[int]], labels: list[str]) -> str:
    values = np.asarray(matrix)

    def draw(ax: Any) -> None:
        ax.imshow(values, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels=labels)
        ax.set_yticks(range(len(labels)), labels=labels)
        ax.set(xlabel="predicted", ylabel="actual", title="Confusion matrix (test rows)")
        middle = values.max() / 2 if values.size else 0
        for (row, column), count in np.ndenumerate(values):
            colour = "white" if count > middle else "black"
            ax.text(column, row, f"{count:,}", ha="center", va="center", color=colour)

    return _figure(draw, 4.0, 3.6)


def residuals(truth: np.ndarray, predicted: np.ndarray) -> str:
    def draw(ax: Any) -> None:
        ax.scatter(predicted, truth - predicted, s=6, alpha=0.4)
        ax.axhline(0, color="grey", linestyle="--")
        ax.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals (test rows)")

    return _figure(draw)


def predicted_vs_actual(truth: np.ndarray, predicted: np.ndarray) -> str:
    def draw(ax: Any) -> None:
        ax.scatter(truth, predicted, s=6, alpha=0.4)
        low, high = (
            float(min(truth.min(), predicted.min())),
            float(max(truth.max(), predicted.max())),
        )
        ax.plot([low, high], [low, high], color="grey", linestyle="--")
        ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (test rows)")

    return _figure(draw)


def importance(names: list[str], means: np.ndarray, stds: np.ndarray, metric: str) -> str:
    order = np.argsort(means)

    def draw(ax: Any) -> None:
        ax.barh([names[i] for i in order], means[order], xerr=stds[order], color="#4c72b0")
        ax.set(xlabel=f"drop in {metric} when shuffled", title="Permutation importance (test rows)")

    return _figure(draw, 5.2, max(2.4, 0.32 * len(names) + 1.2))


def cluster_sizes(labels: np.ndarray) -> str:
    clusters, counts = np.unique(labels, return_counts=True)

    def draw(ax: Any) -> None:
        ax.bar([str(c) for c in clusters], counts, color="#4c72b0")
        ax.set(xlabel="cluster", ylabel="test rows", title="Cluster sizes")

    return _figure(draw)
