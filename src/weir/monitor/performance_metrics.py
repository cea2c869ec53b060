"""Classification metrics computed from label probabilities, for many label draws at once.

One formulation serves the three uses the estimate has for a metric. `weights` is a stack
(draws, rows, classes) saying how likely each row's true label is each class:

- calibrated probabilities (one draw): the metric of the *expected* confusion matrix and the
  expected ROC and precision-recall curves — CBPE's point estimate (NannyML's definition:
  E[TP] = sum of the positive probability over the predicted positives, and so on);
- the same under each bootstrap calibration: how much the calibration's own error moves it;
- one-hot labels drawn from the calibrated probabilities: the metric a window would show
  with those labels, whose spread gives the interval.

Every metric follows scikit-learn's definition as weir.ml.metrics calls it (zero_division=0;
balanced accuracy over the classes present in the truth; macro averages over the classes
present in truth or prediction; ROC AUC undefined without both classes), so the realised
figure and the estimate measure the same thing. With fractional weights, ROC AUC and average
precision equal scikit-learn's with each row entered twice, as a positive weighted by its
probability and as a negative weighted by the rest (the tests check this).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BINARY_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
)
MULTICLASS_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "roc_auc_ovr",
    "log_loss",
)


@dataclass(frozen=True)
class Ranking:
    """Rows sorted by one class's score, highest first, and where each run of equal scores
    starts: ties share a threshold, as in scikit-learn's curves."""

    order: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray  # rows in each run

    @classmethod
    def of(cls, scores: np.ndarray) -> Ranking:
        order = np.argsort(-scores, kind="stable")
        ranked = scores[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        return cls(order, starts, np.diff(np.r_[starts, len(scores)]).astype(float))

    def grouped(self, positive: np.ndarray) -> np.ndarray:
        """(draws, rows) weights of the positive side, summed per run of equal scores."""
        summed: np.ndarray = np.add.reduceat(positive[:, self.order], self.starts, axis=1)
        return summed


@dataclass(frozen=True)
class Window:
    """What every metric needs from the scored rows, computed once per estimate."""

    predicted: np.ndarray  # (rows, classes) one-hot of the predicted class
    log_probabilities: np.ndarray  # (rows, classes), clipped as scikit-learn's log_loss
    rankings: tuple[Ranking, ...]  # per class for more classes; the positive's alone for two

    @classmethod
    def of(cls, scores: np.ndarray, predicted: np.ndarray) -> Window:
        k = scores.shape[1]
        eps = np.finfo(np.float64).eps
        clipped = np.clip(scores, eps, 1 - eps)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        columns = [1] if k == 2 else range(k)
        return cls(
            predicted=np.eye(k)[predicted],
            log_probabilities=np.log(clipped),
            rankings=tuple(Ranking.of(scores[:, c]) for c in columns),
        )


def metric_values(metric: str, weights: np.ndarray, window: Window) -> np.ndarray:
    """The metric for each draw of `weights` (draws, rows, classes); NaN where undefined."""
    return metric_table([metric], weights, window)[metric]


def metric_table(metrics: list[str], weights: np.ndarray, window: Window) -> dict[str, np.ndarray]:
    """Several metrics for each draw, sharing the confusion matrices and the ranked sums."""
    table: dict[str, np.ndarray] = {}
    confusion: np.ndarray | None = None
    ranked: dict[int, np.ndarray] = {}

    def grouped(c: int) -> np.ndarray:
        if c not in ranked:
            column = 1 if len(window.rankings) == 1 else c
            ranked[c] = window.rankings[c].grouped(weights[:, :, column])
        return ranked[c]

    for metric in metrics:
        if metric in CONFUSION_METRICS:
            if confusion is None:  # (draws, true, predicted)
                confusion = np.swapaxes(weights, 1, 2) @ window.predicted
            table[metric] = CONFUSION_METRICS[metric](confusion)
        elif metric == "log_loss":
            loss: np.ndarray = np.einsum("bik,ik->b", weights, window.log_probabilities)
            table[metric] = -loss / weights.shape[1]
        elif metric in {"roc_auc", "roc_auc_ovr"}:
            # A class absent from a draw leaves its AUC (and so the macro mean) undefined,
            # as roc_auc_score(multi_class="ovr") refuses a truth without every class.
            per_class = [_auc(grouped(c), r.sizes) for c, r in enumerate(window.rankings)]
            table[metric] = np.mean(per_class, axis=0)
        elif metric == "pr_auc":
            table[metric] = _average_precision(grouped(0), window.rankings[0].sizes)
        else:
            raise KeyError(metric)
    return table


def _auc(pos: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """ROC AUC as the share of (positive, negative) pairs ranked right, ties counting half:
    the trapezoid under the ROC curve. `pos`: (draws, runs of equal scores), highest first."""
    neg = sizes - pos
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    below = total_neg[:, None] - np.cumsum(neg, axis=1)  # negatives scored lower
    pairs = (pos * (below + 0.5 * neg)).sum(axis=1)
    return _ratio(pairs, total_pos * total_neg)


def _average_precision(pos: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """scikit-learn's average precision: the precision at each threshold, weighted by the
    recall it adds."""
    precision = np.cumsum(pos, axis=1) / np.cumsum(sizes)
    return _ratio((pos * precision).sum(axis=1), pos.sum(axis=1))


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """top / bottom, NaN where bottom is zero (the metric is undefined there)."""
    out = np.full(np.shape(top), np.nan)
    np.divide(top, bottom, out=out, where=bottom > 0)
    return out


def _safe(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """top / bottom, 0 where bottom is zero: scikit-learn's zero_division=0."""
    out = np.zeros(np.shape(top))
    np.divide(top, bottom, out=out, where=bottom > 0)
    return out


def _accuracy(c: np.ndarray) -> np.ndarray:
    return _ratio(np.trace(c, axis1=1, axis2=2), c.sum(axis=(1, 2)))


def _balanced_accuracy(c: np.ndarray) -> np.ndarray:
    """Mean recall over the classes present in the truth (scikit-learn drops the others)."""
    truth = c.sum(axis=2)
    recall = _ratio(np.diagonal(c, axis1=1, axis2=2), truth)
    present = truth > 0
    return _ratio(np.where(present, recall, 0.0).sum(axis=1), present.sum(axis=1))


def _binary(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives, false negatives; the positive class is index 1."""
    return c[:, 1, 1], c[:, 0, 1], c[:, 1, 0]


def _precision(c: np.ndarray) -> np.ndarray:
    tp, fp, _ = _binary(c)
    return _safe(tp, tp + fp)


def _recall(c: np.ndarray) -> np.ndarray:
    tp, _, fn = _binary(c)
    return _safe(tp, tp + fn)


def _f1(c: np.ndarray) -> np.ndarray:
    tp, fp, fn = _binary(c)
    return _safe(2 * tp, 2 * tp + fp + fn)


def _macro(
    per_class: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> Callable[[np.ndarray], np.ndarray]:
    """A macro average over the classes present in the truth or the prediction, as
    scikit-learn's average="macro" with its labels taken from the data."""

    def metric(c: np.ndarray) -> np.ndarray:
        diagonal = np.diagonal(c, axis1=1, axis2=2)
        truth, predicted = c.sum(axis=2), c.sum(axis=1)
        present = (truth + predicted) > 0
        values = per_class(diagonal, truth, predicted)
        return _ratio(np.where(present, values, 0.0).sum(axis=1), present.sum(axis=1))

    return metric


CONFUSION_METRICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "precision": _precision,
    "recall": _recall,
    "f1": _f1,
    "precision_macro": _macro(lambda d, t, p: _safe(d, p)),
    "recall_macro": _macro(lambda d, t, p: _safe(d, t)),
    "f1_macro": _macro(lambda d, t, p: _safe(2 * d, t + p)),
}
