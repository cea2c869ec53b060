"""The estimate's metrics are scikit-learn's: on drawn labels (one-hot weights) they equal
the metrics weir.ml.metrics computes on real labels, and on probabilities they equal
scikit-learn's on the expected confusion matrix (each row entered as a positive weighted by
its probability and a negative weighted by the rest)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from weir.monitor.performance_metrics import (
    BINARY_METRICS,
    MULTICLASS_METRICS,
    Window,
    metric_values,
)


def _sklearn_binary(
    truth: np.ndarray, predicted: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    w = {"sample_weight": weights}
    both = len(np.unique(truth[weights > 0] if weights is not None else truth)) > 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # balanced accuracy warns of a class absent from truth
        return {
            "accuracy": skm.accuracy_score(truth, predicted, **w),
            "balanced_accuracy": skm.balanced_accuracy_score(truth, predicted, **w),
            "precision": skm.precision_score(truth, predicted, zero_division=0, **w),
            "recall": skm.recall_score(truth, predicted, zero_division=0, **w),
            "f1": skm.f1_score(truth, predicted, zero_division=0, **w),
            "roc_auc": skm.roc_auc_score(truth, scores, **w) if both else float("nan"),
            "pr_auc": skm.average_precision_score(truth, scores, **w)
            if truth.any()
            else float("nan"),
            "log_loss": skm.log_loss(truth, scores, labels=[0, 1], **w),
        }


def _binary_window(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, Window]:
    matrix = np.column_stack([1 - scores, scores])
    predicted = (scores >= threshold).astype(int)
    return matrix, predicted, Window.of(matrix, predicted)


_scores = st.lists(
    st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.5, 0.7, 0.9, 1.0]), min_size=1, max_size=25
)


@settings(max_examples=60, deadline=None)
@given(
    data=_scores.flatmap(
        lambda s: st.tuples(st.just(s), st.lists(st.booleans(), min_size=len(s), max_size=len(s)))
    )
)
def test_on_drawn_labels_every_binary_metric_is_sklearns(
    data: tuple[list[float], list[bool]],
) -> None:
    scores, labels = np.array(data[0]), np.array(data[1], dtype=int)
    _, predicted, window = _binary_window(scores, 0.5)
    onehot = np.eye(2)[labels][None]
    expected = _sklearn_binary(labels, predicted, scores)
    for metric in BINARY_METRICS:
        got = metric_values(metric, onehot, window)[0]
        assert got == pytest.approx(expected[metric], nan_ok=True, abs=1e-12), metric


@settings(max_examples=50, deadline=None)
@given(
    data=st.lists(st.floats(0, 1), min_size=1, max_size=25).flatmap(
        lambda s: st.tuples(st.just(s), st.lists(st.floats(0, 1), min_size=len(s), max_size=len(s)))
    ),
    threshold=st.sampled_from([0.2, 0.5, 0.8]),
)
def test_on_probabilities_the_estimate_is_sklearns_on_the_expected_confusion_matrix(
    data: tuple[list[float], list[float]], threshold: float
) -> None:
    """CBPE's definition (E[TP] = sum of the probabilities of the predicted positives, ...),
    checked against scikit-learn on the rows entered twice, weighted q and 1 - q."""
    scores, probability = np.array(data[0]), np.array(data[1])
    _, predicted, window = _binary_window(scores, threshold)
    weights = np.column_stack([1 - probability, probability])[None]
    doubled = np.r_[np.ones(len(scores), int), np.zeros(len(scores), int)]
    expected = _sklearn_binary(
        doubled,
        np.r_[predicted, predicted],
        np.r_[scores, scores],
        np.r_[probability, 1 - probability],
    )
    for metric in BINARY_METRICS:
        got = metric_values(metric, weights, window)[0]
        if metric in {"roc_auc", "pr_auc"} and not (
            probability.sum() > 0 and (1 - probability).sum() > 0
        ):
            continue  # undefined on one side; scikit-learn's conventions for it differ by curve
        assert got == pytest.approx(expected[metric], nan_ok=True, rel=1e-9, abs=1e-9), metric


def test_the_expected_confusion_matrix_is_the_sum_of_probabilities() -> None:
    probability = np.array([0.9, 0.8, 0.3, 0.1])
    _, _, window = _binary_window(np.array([0.95, 0.6, 0.55, 0.2]), 0.5)
    weights = np.column_stack([1 - probability, probability])[None]
    # predicted positive: rows 0-2; E[TP] = 2.0, E[FP] = 1.0, E[FN] = 0.1, E[TN] = 0.9
    assert metric_values("accuracy", weights, window)[0] == pytest.approx(2.9 / 4)
    assert metric_values("precision", weights, window)[0] == pytest.approx(2.0 / 3.0)
    assert metric_values("recall", weights, window)[0] == pytest.approx(2.0 / 2.1)
    assert metric_values("f1", weights, window)[0] == pytest.approx(4.0 / (4.0 + 1.0 + 0.1))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.lists(st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0]), min_size=3, max_size=3),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_on_drawn_labels_every_multiclass_metric_is_sklearns(
    rows: list[tuple[int, list[float]]],
) -> None:
    labels = np.array([label for label, _ in rows])
    raw = np.array([scores for _, scores in rows]) + 0.01
    scores = raw / raw.sum(axis=1, keepdims=True)
    predicted = np.argmax(scores, axis=1)
    window = Window.of(scores, predicted)
    onehot = np.eye(3)[labels][None]
    macro = {"average": "macro", "zero_division": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {
            "accuracy": skm.accuracy_score(labels, predicted),
            "balanced_accuracy": skm.balanced_accuracy_score(labels, predicted),
            "precision_macro": skm.precision_score(labels, predicted, **macro),
            "recall_macro": skm.recall_score(labels, predicted, **macro),
            "f1_macro": skm.f1_score(labels, predicted, **macro),
            "roc_auc_ovr": skm.roc_auc_score(labels, scores, multi_class="ovr", labels=[0, 1, 2])
            if len(np.unique(labels)) == 3
            else float("nan"),
            "log_loss": skm.log_loss(labels, scores, labels=[0, 1, 2]),
        }
    for metric in MULTICLASS_METRICS:
        got = metric_values(metric, onehot, window)[0]
        assert got == pytest.approx(expected[metric], nan_ok=True, abs=1e-12), metric


def test_many_draws_are_computed_at_once_as_one_by_one() -> None:
    rng = np.random.default_rng(3)
    scores = rng.random(50)
    _, _, window = _binary_window(scores, 0.5)
    draws = np.eye(2)[rng.integers(0, 2, (7, 50))]
    for metric in BINARY_METRICS:
        together = metric_values(metric, draws, window)
        apart = [metric_values(metric, draws[i : i + 1], window)[0] for i in range(7)]
        np.testing.assert_allclose(together, apart, rtol=1e-12)
