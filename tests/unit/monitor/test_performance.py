"""CBPE: on simulated worlds where the truth is known, the estimate lands where the realised
metric does, its interval covers it about as often as it says, calibration repairs a model
whose probabilities are off, and a shift in the inputs moves the estimate with the truth."""

from __future__ import annotations

import math
from collections import Counter
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from weir.core.errors import MonitorError
from weir.monitor.performance import PerformanceEstimator, why_not_estimable
from weir.monitor.performance_calibration import fit_isotonic
from weir.monitor.performance_metrics import (
    BINARY_METRICS,
    MULTICLASS_METRICS,
    Window,
    metric_values,
)


def _world(
    rng: np.random.Generator, rows: int, a: float = 2.0, b: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated by construction: the label is drawn with the probability the model gives."""
    probability = rng.beta(a, b, rows)
    return probability, (rng.random(rows) < probability).astype(int)


def _realised(scores: np.ndarray, truth: np.ndarray, threshold: float) -> dict[str, float]:
    """As weir.ml.metrics.classification_metrics computes them for two classes."""
    predicted = (scores >= threshold).astype(int)
    return {
        "accuracy": skm.accuracy_score(truth, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(truth, predicted),
        "precision": skm.precision_score(truth, predicted, zero_division=0),
        "recall": skm.recall_score(truth, predicted, zero_division=0),
        "f1": skm.f1_score(truth, predicted, zero_division=0),
        "roc_auc": skm.roc_auc_score(truth, scores),
        "pr_auc": skm.average_precision_score(truth, scores),
        "log_loss": skm.log_loss(truth, scores, labels=[0, 1]),
    }


def test_intervals_cover_the_realised_metrics_about_as_often_as_they_say() -> None:
    """100 windows of 400 rows, 25 references of 1,000: every metric is covered in 87-100 %
    of windows, 91-98.5 % on average, and the standard error matches the spread of the
    estimate's error across windows (so the intervals are not merely wide)."""
    rng = np.random.default_rng(11)
    covered: Counter[str] = Counter()
    errors: dict[str, list[float]] = {m: [] for m in BINARY_METRICS}
    spread: dict[str, list[float]] = {m: [] for m in BINARY_METRICS}
    for reference in range(25):
        estimator = PerformanceEstimator.fit(
            *_world(rng, 1000), positive=1, threshold=0.5, seed=reference
        )
        for _ in range(4):
            scores, truth = _world(rng, 400)
            realised = _realised(scores, truth, 0.5)
            for estimate in estimator.estimate(scores, BINARY_METRICS):
                covered[estimate.metric] += (
                    estimate.low <= realised[estimate.metric] <= estimate.high
                )
                errors[estimate.metric].append(estimate.value - realised[estimate.metric])
                spread[estimate.metric].append(estimate.standard_error)
    coverage = {m: covered[m] / 100 for m in BINARY_METRICS}
    assert all(0.87 <= c <= 1.0 for c in coverage.values()), coverage
    assert 0.91 <= np.mean(list(coverage.values())) <= 0.985, coverage
    for metric in BINARY_METRICS:
        ratio = np.mean(spread[metric]) / np.std(errors[metric])
        assert 0.75 <= ratio <= 1.33, (metric, ratio)
        assert abs(np.mean(errors[metric])) < 0.35 * np.std(errors[metric]), metric  # no bias


def test_the_calibrations_own_uncertainty_is_in_the_interval() -> None:
    """Windows ten times the reference: the labels' noise is small, the calibration's error
    dominates. Intervals of the labels' noise alone held the realised metric in ~40 % of
    such windows; these hold it in most, and their standard error matches the spread."""
    rng = np.random.default_rng(13)
    covered: Counter[str] = Counter()
    errors: dict[str, list[float]] = {"accuracy": [], "roc_auc": []}
    spread: dict[str, list[float]] = {"accuracy": [], "roc_auc": []}
    for reference in range(30):
        estimator = PerformanceEstimator.fit(
            *_world(rng, 500), positive=1, threshold=0.5, seed=reference, simulations=200
        )
        scores, truth = _world(rng, 5000)
        realised = _realised(scores, truth, 0.5)
        for estimate in estimator.estimate(scores, list(errors)):
            covered[estimate.metric] += estimate.low <= realised[estimate.metric] <= estimate.high
            errors[estimate.metric].append(estimate.value - realised[estimate.metric])
            spread[estimate.metric].append(estimate.standard_error)
    assert all(covered[m] >= 24 for m in errors), covered
    for metric in errors:
        assert 0.7 <= np.mean(spread[metric]) / np.std(errors[metric]) <= 1.4, metric


def test_the_calibration_does_not_spike_at_the_ends() -> None:
    """Plain isotonic regression on rows makes its first and last blocks too extreme (here
    +0.04 at the top), and every estimate optimistic; the binned map stays within 0.025 of
    the truth at the top and bottom 5 % of scores, on average over 40 references."""
    rng = np.random.default_rng(0)
    top, bottom = [], []
    for _ in range(40):
        probability, truth = _world(rng, 1000)
        fitted = fit_isotonic(probability, truth.astype(float))
        for ends, errors in (((0.95, 1.0), top), ((0.0, 0.05), bottom)):
            grid = np.linspace(*np.quantile(probability, ends), 50)
            errors.append(np.mean(fitted(grid) - grid))
    assert abs(np.mean(top)) < 0.025 and abs(np.mean(bottom)) < 0.015, (
        np.mean(top),
        np.mean(bottom),
    )


def test_calibration_on_the_reference_repairs_a_miscalibrated_model() -> None:
    """The model says p**3 where the truth is p: its own probabilities put accuracy far off,
    the calibrated estimate covers the realised accuracy, F1 and ROC AUC."""
    rng = np.random.default_rng(5)
    truth_p, truth = _world(rng, 2000)
    estimator = PerformanceEstimator.fit(truth_p**3, truth, positive=1, threshold=0.5, seed=1)
    assert estimator.calibration_error > 0.1  # the model's own probabilities are far off
    assert estimator.residual_calibration_error < 0.05  # and calibration brings them back
    covered: Counter[str] = Counter()
    naive_missed = 0
    for _ in range(40):
        probability, labels = _world(rng, 500)
        scores = probability**3
        realised = _realised(scores, labels, 0.5)
        estimates = {e.metric: e for e in estimator.estimate(scores, ["accuracy", "f1", "roc_auc"])}
        for metric, estimate in estimates.items():
            covered[metric] += estimate.low <= realised[metric] <= estimate.high
        matrix = np.column_stack([1 - scores, scores])
        window = Window.of(matrix, (scores >= 0.5).astype(int))
        naive = metric_values("accuracy", matrix[None], window)[0]  # CBPE on the raw scores
        acc = estimates["accuracy"]
        naive_missed += not acc.low <= naive <= acc.high
    assert all(covered[m] >= 35 for m in ("accuracy", "f1", "roc_auc")), covered
    assert naive_missed >= 36


def test_a_shift_in_the_inputs_moves_the_estimate_with_the_truth() -> None:
    """Scores pushed towards 0.5 (harder cases) lower accuracy and ROC AUC; pushed to the
    extremes, raise them: the estimate follows, each within its interval. The reference
    spans every score (uniform), so the shifted windows stay where it calibrated."""
    rng = np.random.default_rng(7)
    reference = _world(rng, 3000, 1.0, 1.0)
    estimator = PerformanceEstimator.fit(*reference, positive=1, threshold=0.5, seed=0)
    found: dict[str, list[tuple[float, float]]] = {"accuracy": [], "roc_auc": []}
    for a, b in [(6.0, 6.0), (2.0, 3.0), (0.7, 0.7)]:
        scores, truth = _world(rng, 3000, a, b)
        realised = _realised(scores, truth, 0.5)
        for estimate in estimator.estimate(scores, list(found)):
            assert estimate.low <= realised[estimate.metric] <= estimate.high, (a, b, estimate)
            found[estimate.metric].append((estimate.value, realised[estimate.metric]))
    for pairs in found.values():
        estimated, realised_values = zip(*pairs, strict=True)
        assert list(estimated) == sorted(estimated) and list(realised_values) == sorted(
            realised_values
        )
        assert estimated[-1] - estimated[0] > 0.1  # a move well beyond the intervals' width


def test_scores_beyond_what_the_reference_calibrated_are_flagged() -> None:
    rng = np.random.default_rng(8)
    estimator = PerformanceEstimator.fit(*_world(rng, 2000, 2.0, 5.0), positive=1, threshold=0.5)
    inside = estimator.estimate(_world(rng, 1000, 2.0, 5.0)[0], ["accuracy"])[0]
    assert inside.beyond_reference < 0.05 and inside.note == ""
    outside = estimator.estimate(_world(rng, 1000, 0.5, 0.5)[0], ["accuracy"])[0]
    assert outside.beyond_reference > 0.2
    assert f"{outside.beyond_reference:.0%} of the rows score beyond the range" in outside.note


def test_the_decision_threshold_is_the_models() -> None:
    rng = np.random.default_rng(2)
    reference = _world(rng, 2000)
    scores, truth = _world(rng, 4000)
    at_03 = PerformanceEstimator.fit(*reference, positive=1, threshold=0.3, seed=0)
    recall = at_03.estimate(scores, ["recall"])[0]
    assert recall.low <= _realised(scores, truth, 0.3)["recall"] <= recall.high
    at_05 = PerformanceEstimator.fit(*reference, positive=1, threshold=0.5, seed=0)
    assert recall.value > at_05.estimate(scores, ["recall"])[0].value + 0.2
    half = np.full(50, 0.5)  # exactly at 0.5: a threshold says positive, the argmax negative
    with_threshold = PerformanceEstimator.fit(*reference, positive=1, threshold=0.5, seed=0)
    most_probable = PerformanceEstimator.fit(*reference, positive=1, threshold=None, seed=0)
    assert with_threshold.estimate(half, ["precision"])[0].value > 0.3
    assert most_probable.estimate(half, ["precision"])[0].value == 0.0  # nothing predicted positive


def test_a_large_window_simulated_on_a_sample_keeps_its_interval() -> None:
    """Labels drawn for 1,000 of 8,000 rows, the labels' part scaled: the standard errors
    match those of drawing all 8,000."""
    rng = np.random.default_rng(4)
    reference = _world(rng, 2000)
    scores, _ = _world(rng, 8000)
    whole = PerformanceEstimator.fit(*reference, positive=1, threshold=0.5, seed=3)
    sampled = PerformanceEstimator.fit(
        *reference, positive=1, threshold=0.5, seed=3, max_simulated_rows=1000
    )
    metrics = ["accuracy", "f1", "roc_auc", "log_loss"]
    for full, part in zip(
        whole.estimate(scores, metrics), sampled.estimate(scores, metrics), strict=True
    ):
        assert full.value == pytest.approx(part.value, abs=0.01)
        assert 0.75 <= part.standard_error / full.standard_error <= 1.33, (full, part)


def test_more_classes_are_estimated_one_vs_rest() -> None:
    rng = np.random.default_rng(9)
    classes = ["a", "b", "c"]  # sorted: scikit-learn's roc_auc_score wants its labels so

    def world(rows: int) -> tuple[np.ndarray, np.ndarray]:
        probabilities = rng.dirichlet([1.0, 1.5, 2.0], rows)
        cumulative = probabilities.cumsum(axis=1)
        drawn = (rng.random((rows, 1)) > cumulative[:, :-1]).sum(axis=1)
        return probabilities, np.array(classes, dtype=object)[drawn]

    covered: Counter[str] = Counter()
    for reference in range(10):
        estimator = PerformanceEstimator.fit_multiclass(
            *world(1500), classes=classes, seed=reference
        )
        for _ in range(3):
            probabilities, truth = world(500)
            predicted = np.array(classes, dtype=object)[probabilities.argmax(axis=1)]
            macro = {"average": "macro", "zero_division": 0}
            realised = {
                "accuracy": skm.accuracy_score(truth, predicted),
                "f1_macro": skm.f1_score(truth, predicted, **macro),
                "roc_auc_ovr": skm.roc_auc_score(
                    truth, probabilities, multi_class="ovr", labels=classes
                ),
                "log_loss": skm.log_loss(truth, probabilities, labels=classes),
            }
            for estimate in estimator.estimate(probabilities, list(realised)):
                covered[estimate.metric] += (
                    estimate.low <= realised[estimate.metric] <= estimate.high
                )
    assert all(covered[m] >= 25 for m in ("accuracy", "f1_macro", "roc_auc_ovr", "log_loss")), (
        covered
    )
    assert estimator.metrics == MULTICLASS_METRICS


# --- properties ------------------------------------------------------------------------


@cache
def _fitted(threshold: float | None) -> PerformanceEstimator:
    rng = np.random.default_rng(0)
    return PerformanceEstimator.fit(
        *_world(rng, 500), positive=1, threshold=threshold, seed=0, simulations=100
    )


_windows = st.lists(
    st.sampled_from([0.0, 0.05, 0.3, 0.5, 0.7, 0.95, 1.0]) | st.floats(0, 1),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None)
@given(
    scores=_windows,
    threshold=st.sampled_from([0.5, None]),
    permutation=st.randoms(use_true_random=False),
)
def test_estimates_stay_in_range_hold_their_value_and_ignore_the_rows_order(
    scores: list[float], threshold: float | None, permutation: object
) -> None:
    estimator = _fitted(threshold)
    estimates = estimator.estimate(np.array(scores), BINARY_METRICS)
    for estimate in estimates:
        assert estimate.rows == len(scores) and estimate.method == "cbpe"
        if math.isnan(estimate.value):
            assert estimate.note  # undefined, and says so
            continue
        top = math.inf if estimate.metric == "log_loss" else 1.0
        assert 0.0 <= estimate.low <= estimate.value <= estimate.high <= top, estimate
    shuffled = list(scores)
    permutation.shuffle(shuffled)  # type: ignore[attr-defined]
    again = estimator.estimate(np.array(shuffled), BINARY_METRICS)
    assert [_key(e) for e in again] == [_key(e) for e in estimates]


def _key(estimate: object) -> str:
    return repr(estimate)  # NaN-safe equality of every field


# --- refusals ---------------------------------------------------------------------------


def _reference(rows: int = 300) -> tuple[np.ndarray, np.ndarray]:
    return _world(np.random.default_rng(1), rows)


@pytest.mark.parametrize(
    ("scores", "truth", "message"),
    [
        (
            np.full(250, 0.5),
            np.r_[np.zeros(125), np.ones(125)],
            "the reference has 250 labelled rows; calibrating the probabilities needs at least 300",
        ),
        (
            np.full(300, 0.5),
            np.r_[np.zeros(271), np.ones(29)],
            "too few rows of a class to calibrate on (positive (1) 29; at least 30",
        ),
        (np.full(300, 0.5), np.zeros(300), "no reference label equals the positive class 1"),
        (np.full(300, 0.5), np.arange(300) % 3, "the reference holds 3 classes, not two"),
        (
            np.full(300, 0.5),
            np.r_[np.full(299, 1.0), np.nan],
            "1 reference rows have no true label",
        ),
        (np.full(300, 0.5), np.ones(200), "the reference has 300 scores but (200,) labels"),
        (
            np.r_[np.full(299, 0.5), 1.5],
            np.arange(300) % 2,
            "has 1 rows whose probabilities are not between 0 and 1 (rows [299])",
        ),
        (np.full((300, 2), 0.5), np.arange(300) % 2, "a binary model gives one probability"),
    ],
)
def test_a_reference_that_cannot_calibrate_is_refused(
    scores: np.ndarray, truth: np.ndarray, message: str
) -> None:
    with pytest.raises(MonitorError) as caught:
        PerformanceEstimator.fit(scores, truth, positive=1, threshold=0.5)
    assert message in caught.value.message
    assert caught.value.fix


def test_labels_of_another_type_are_refused_with_what_was_seen() -> None:
    scores, truth = _reference()
    with pytest.raises(MonitorError) as caught:
        PerformanceEstimator.fit(scores, truth.astype(str), positive=1, threshold=0.5)
    assert "labels seen: '0', '1'" in caught.value.message
    assert caught.value.fix is not None and "comparable_labels" in caught.value.fix


def test_a_window_that_cannot_be_estimated_is_refused() -> None:
    estimator = PerformanceEstimator.fit(*_reference(), positive=1, threshold=0.5)
    with pytest.raises(MonitorError, match="the window has no rows"):
        estimator.estimate(np.array([]), ["accuracy"])
    with pytest.raises(
        MonitorError,
        match=r"has 2 rows whose probabilities are not between 0 and 1 \(rows \[1, 2\]\)",
    ):
        estimator.estimate(np.array([0.2, np.nan, -0.1]), ["accuracy"])
    with pytest.raises(MonitorError) as caught:
        estimator.estimate(np.array([0.2]), ["rmse"])
    assert (
        "estimable: accuracy, balanced_accuracy, precision, recall, f1, roc_auc, pr_auc, log_loss"
        in caught.value.message
    )
    with pytest.raises(MonitorError) as caught:
        estimator.estimate(np.array([0.2]), ["f1_macro"])
    assert (
        caught.value.fix is not None
        and "valid choices: accuracy, balanced_accuracy, f1" in caught.value.fix
    )
    with pytest.raises(MonitorError, match=r"level 1\.5 is not between 0 and 1"):
        estimator.estimate(np.array([0.2]), ["accuracy"], level=1.5)


def test_settings_out_of_range_are_refused() -> None:
    with pytest.raises(MonitorError, match=r"threshold 1\.2 is not a probability"):
        PerformanceEstimator.fit(*_reference(), positive=1, threshold=1.2)
    with pytest.raises(MonitorError, match="at least 1 bootstrap, 20 simulations"):
        PerformanceEstimator.fit(*_reference(), positive=1, threshold=0.5, simulations=5)


def test_more_classes_are_refused_when_labels_or_shapes_do_not_fit() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet([1, 1, 1], 300)
    truth = np.array(["a", "b", "c"] * 100, dtype=object)
    with pytest.raises(MonitorError, match=r"not among the classes \['a', 'b', 'x'\]: \['c'\]"):
        PerformanceEstimator.fit_multiclass(probabilities, truth, classes=["a", "b", "x"])
    with pytest.raises(MonitorError, match=r"shape \(300, 3\); expected \(rows, 4\)"):
        PerformanceEstimator.fit_multiclass(probabilities, truth, classes=["a", "b", "c", "d"])
    estimator = PerformanceEstimator.fit_multiclass(probabilities, truth, classes=["a", "b", "c"])
    with pytest.raises(MonitorError, match=r"shape \(10,\)"):
        estimator.estimate(probabilities[:10, 0], ["accuracy"])


def test_regression_and_clustering_say_why_they_have_no_estimate() -> None:
    assert why_not_estimable("classification", 2) is None
    assert why_not_estimable("classification", 5) is None
    regression = why_not_estimable("regression")
    assert regression is not None and "calibrated class probabilities" in regression
    clustering = why_not_estimable("clustering")
    assert clustering is not None and "clustering" in clustering


def test_calibration_errors_tell_a_calibrated_model_from_one_that_is_not() -> None:
    rng = np.random.default_rng(3)
    probability, truth = _world(rng, 5000)
    calibrated = PerformanceEstimator.fit(probability, truth, positive=1, threshold=0.5)
    squeezed = PerformanceEstimator.fit(
        0.5 + (probability - 0.5) / 3, truth, positive=1, threshold=0.5
    )
    assert calibrated.calibration_error < 0.03
    assert squeezed.calibration_error > 0.08
    assert squeezed.residual_calibration_error < 0.03
    assert calibrated.reference_rows == 5000
