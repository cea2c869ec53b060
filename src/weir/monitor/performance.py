"""Performance before the labels: confidence-based performance estimation (CBPE).

A classifier's probability says how often it should be right. When the probabilities are
calibrated, a window's confusion matrix can be expected without a single label: each row
predicted positive adds its probability to E[TP] and the rest to E[FP], and so on; accuracy,
precision, recall, F1 and balanced accuracy follow from that matrix, and ROC AUC, average
precision and log loss from the expected curves (NannyML's CBPE; `performance_metrics`).

Calibrated is the condition, so it is not assumed: `fit` learns isotonic maps from the
model's scores to the frequencies a labelled reference showed (the model's test set or an
earlier labelled window) and applies them before estimating, and reports the model's own
calibration error (`calibration_error`) and what is left after calibration
(`residual_calibration_error`, cross-fitted). It refuses a reference too small to calibrate
on, or without enough rows of every class.

CBPE assumes the world changed only in its inputs (covariate shift): the probability of each
label given the scores is what the reference showed. When that relation itself changes
(concept drift), the estimate cannot see it; only labels can. That is why the realised
figure replaces the estimate as labels land (`performance_points.combine`).

Each estimate has an interval at `level`. Labels are drawn from the calibrated probabilities
(Bernoulli for two classes, one categorical draw per row for more), each draw under one of
the calibrations refitted on a bootstrap resample of the reference, and the metric computed
on each: the interval covers both what the window's labels will turn out to be and how much
the calibration itself is unsure of; the value is the mean of those draws (`Estimate`).
Seeded, and independent of the rows' order. Windows larger than `max_simulated_rows` draw
labels for a sample of rows and scale the labels' part of the spread by
sqrt(sample / rows); the calibration's part does not shrink with the window.

How often a 95 % interval held the realised metric, measured on simulated calibrated
models (Beta(2, 3) probabilities, 150-200 windows each, all eight binary metrics): 91-93 %
with a reference of 300 rows, 93-96.5 % with 1,000 rows (windows of 400 and of 50,000
rows) and with 3,000 (windows of 3,000). Small references run a little narrow, as
bootstrap intervals do; the default refuses references under 300 rows (30 of each class).
Scores beyond the range the reference calibrated get the calibration of its ends (held
flat); the estimate says what share of the window that is, and warns from 10 %.

Regression has no estimate (`why_not_estimable`): a calibrated probability is what makes
CBPE work, and a regressor has none. Clustering has no labels to compare against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from weir.core.errors import MonitorError
from weir.core.suggest import suggestion_text
from weir.monitor.performance_calibration import (
    Calibration,
    bootstrap,
    cross_fitted_error,
    expected_calibration_error,
    fit_calibration,
)
from weir.monitor.performance_inputs import (
    binary_scores,
    check_reference,
    matrix_scores,
    truth_values,
)
from weir.monitor.performance_metrics import (
    BINARY_METRICS,
    MULTICLASS_METRICS,
    Window,
    metric_table,
)

_CELLS = 4_000_000  # floats per block of label draws (draws x rows x classes): ~32 MB


@dataclass(frozen=True)
class Estimate:
    """One estimated metric for one window, with its interval at `level`.

    `value` is the mean of the simulated realised metric: the figure the window is expected
    to show, the calibration's bias removed. `plain_value` is CBPE's plain figure (NannyML's):
    the metric of the expected confusion matrix and curves. The two differ by the
    calibration's bias and, for a ratio such as precision on a small window, by the gap
    between the ratio of expectations and the expected ratio."""

    metric: str
    value: float
    low: float
    high: float
    rows: int  # rows the estimate rests on
    method: str = "cbpe"
    level: float = 0.95
    standard_error: float = math.nan  # spread of the simulated realised metric
    plain_value: float = math.nan  # the metric of the expected confusion matrix (see the docstring)
    beyond_reference: float = 0.0  # share of rows scored where the reference calibrated none
    note: str = ""  # what to know about the figure: undefined, extrapolated calibration


@dataclass(frozen=True)
class _Settings:
    threshold: float | None
    seed: int
    simulations: int
    max_simulated_rows: int


def why_not_estimable(task: str, classes: int = 2) -> str | None:
    """None when CBPE can estimate this model's performance, else the sentence that says why
    not, for the report in place of a figure."""
    if task == "regression":
        return (
            "no estimate before labels for a regression model: CBPE rests on calibrated class "
            "probabilities, which a regressor does not give; its performance is shown once "
            "labels land"
        )
    if task != "classification":
        return f"no performance estimate for a {task} model: it has no labels to estimate"
    if classes < 2:
        return "no performance estimate: the model knows fewer than two classes"
    return None


class PerformanceEstimator:
    """CBPE fitted on a labelled reference; `estimate` then needs only a window's scores."""

    def __init__(
        self,
        calibration: Calibration,
        resampled: tuple[Calibration, ...],
        classes: int,
        settings: _Settings,
        errors: tuple[float, float],
        reference_rows: int,
    ) -> None:
        """Use `fit` or `fit_multiclass`: they check the reference this takes as given."""
        self._calibration, self._resampled = calibration, resampled
        self._classes, self._settings = classes, settings
        self._errors, self.reference_rows = errors, reference_rows

    @classmethod
    def fit(
        cls,
        reference_scores: np.ndarray,
        reference_truth: np.ndarray,
        *,
        positive: object,
        threshold: float | None,
        seed: int = 0,
        min_rows: int = 300,
        min_class_rows: int = 30,
        bootstraps: int = 50,
        simulations: int = 400,
        max_simulated_rows: int = 20_000,
    ) -> PerformanceEstimator:
        """A binary classifier. `reference_scores`: the probability of the positive class;
        `reference_truth`: the true labels, compared to `positive` with == (bring both to one
        type first: weir.monitor.labels.comparable_labels); `threshold`: the model's decision
        threshold (positive when score >= threshold), None for the most probable class."""
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise MonitorError(
                f"performance estimate: the threshold {threshold} is not a probability",
                fix="give the model's decision threshold, between 0 and 1",
            )
        scores = binary_scores(reference_scores, "the reference")
        truth = truth_values(reference_truth, len(scores))
        distinct = set(truth.tolist())
        if len(distinct) > 2:
            raise MonitorError(
                f"performance estimate: the reference holds {len(distinct)} classes, not two",
                fix="use PerformanceEstimator.fit_multiclass with the class probabilities",
            )
        hits = np.asarray(truth == positive, dtype=bool)
        if not hits.any():
            raise MonitorError(
                f"performance estimate: no reference label equals the positive class {positive!r} "
                f"(labels seen: {', '.join(repr(v) for v in sorted(map(str, distinct))[:5])})",
                fix="pass the labels and the positive class in one type "
                "(weir.monitor.labels.comparable_labels)",
            )
        settings = _Settings(threshold, seed, simulations, max_simulated_rows)
        names = {0: "negative", 1: f"positive ({positive!r})"}
        return cls._fitted(
            scores, hits.astype(int), names, settings, min_rows, min_class_rows, bootstraps
        )

    @classmethod
    def fit_multiclass(
        cls,
        reference_probabilities: np.ndarray,
        reference_truth: np.ndarray,
        *,
        classes: Sequence[object],
        seed: int = 0,
        min_rows: int = 300,
        min_class_rows: int = 30,
        bootstraps: int = 50,
        simulations: int = 400,
        max_simulated_rows: int = 20_000,
    ) -> PerformanceEstimator:
        """More classes, one-vs-rest. `reference_probabilities`: (rows, classes) in the order
        of `classes`; the predicted class is the most probable (ties to the first)."""
        scores = matrix_scores(reference_probabilities, len(classes), "the reference")
        truth = truth_values(reference_truth, len(scores))
        index = {value: i for i, value in enumerate(classes)}
        unknown = [v for v in dict.fromkeys(truth.tolist()) if v not in index]
        if unknown:
            raise MonitorError(
                f"performance estimate: reference labels that are not among the classes "
                f"{list(classes)}: {unknown[:5]}",
                fix="pass the labels and the classes in one type "
                "(weir.monitor.labels.comparable_labels)",
            )
        settings = _Settings(None, seed, simulations, max_simulated_rows)
        labels = np.array([index[v] for v in truth.tolist()], dtype=int)
        names = {i: repr(c) for i, c in enumerate(classes)}
        return cls._fitted(scores, labels, names, settings, min_rows, min_class_rows, bootstraps)

    @classmethod
    def _fitted(
        cls,
        scores: np.ndarray,
        truth: np.ndarray,
        names: dict[int, str],
        settings: _Settings,
        min_rows: int,
        min_class_rows: int,
        bootstraps: int,
    ) -> PerformanceEstimator:
        check_reference(truth, names, min_rows, min_class_rows)
        if bootstraps < 1 or settings.simulations < 20 or settings.max_simulated_rows < 100:
            raise MonitorError(
                "performance estimate: needs at least 1 bootstrap, 20 simulations and 100 "
                "simulated rows",
                fix="raise bootstraps, simulations or max_simulated_rows",
            )
        rng = np.random.default_rng([settings.seed, 0])
        errors = (
            expected_calibration_error(scores, truth),
            cross_fitted_error(scores, truth, rng),
        )
        return cls(
            fit_calibration(scores, truth),
            bootstrap(scores, truth, bootstraps, rng),
            scores.shape[1],
            settings,
            errors,
            len(truth),
        )

    @property
    def calibration_error(self) -> float:
        """The model's expected calibration error on the reference (10 bins), before any
        calibration: how far its probabilities were from the frequencies seen."""
        return self._errors[0]

    @property
    def residual_calibration_error(self) -> float:
        """The error left after the estimator's calibration, cross-fitted on the reference
        (5 folds): how far the probabilities CBPE uses may still be off."""
        return self._errors[1]

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics this estimator can estimate (weir.ml.metrics' names)."""
        return BINARY_METRICS if self._classes == 2 else MULTICLASS_METRICS

    def estimate(
        self, scores: np.ndarray, metrics: Sequence[str], level: float = 0.95
    ) -> list[Estimate]:
        """Each metric estimated for the window of `scores` (the positive class's probability
        for two classes; the (rows, classes) probabilities for more)."""
        for metric in metrics:
            if metric not in self.metrics:
                raise MonitorError(
                    f"performance estimate: '{metric}' cannot be estimated for this model "
                    f"(estimable: {', '.join(self.metrics)})",
                    fix=suggestion_text(metric, self.metrics),
                )
        if not 0.0 < level < 1.0:
            raise MonitorError(
                f"performance estimate: the interval level {level} is not between 0 and 1",
                fix="give a level such as 0.95",
            )
        window = self._window_scores(scores)
        window = window[np.lexsort(window.T[::-1])]  # the rows' order must not matter
        names = list(dict.fromkeys(metrics))
        plain = metric_table(names, self._calibration(window)[None], self._prepared(window))
        deviations = self._spread(window, names)
        beyond = float(np.mean(self._calibration.beyond(window)))
        return [
            _estimate(m, float(plain[m][0]), deviations[m], len(window), level, beyond)
            for m in metrics
        ]

    def _window_scores(self, scores: np.ndarray) -> np.ndarray:
        if self._classes == 2:
            return binary_scores(scores, "the window")
        return matrix_scores(scores, self._classes, "the window")

    def _prepared(self, scores: np.ndarray) -> Window:
        threshold = self._settings.threshold
        if threshold is not None:
            predicted = (scores[:, 1] >= threshold).astype(int)
        else:
            predicted = np.argmax(scores, axis=1)  # ties to the first class, as decide()
        return Window.of(scores, predicted)

    def _spread(self, window: np.ndarray, metrics: list[str]) -> dict[str, np.ndarray]:
        """Per metric, how far the realised metric may fall from CBPE's plain figure, one
        deviation per simulated draw.

        Deviation of draw b = (its labels' metric - its calibration's expectation) x scale,
        the labels' part, scaled by sqrt(sample / rows) for a window simulated on a sample,
        minus (its calibration's expectation - the fitted calibration's), the calibration's
        part. The minus is the basic bootstrap: a map refitted on a resample errs from the
        fitted map as the fitted map errs from the truth, so the truth lies the other way."""
        rng = np.random.default_rng([self._settings.seed, 1])
        rows = len(window)
        sample = window
        if rows > self._settings.max_simulated_rows:
            chosen = rng.choice(rows, self._settings.max_simulated_rows, replace=False)
            sample = window[np.sort(chosen)]
        prepared = self._prepared(sample)
        plain = metric_table(metrics, self._calibration(sample)[None], prepared)
        base = {m: v[0] for m, v in plain.items()}
        resampled = np.stack([c(sample) for c in self._resampled])
        expected = {m: v - base[m] for m, v in _blocks(metrics, resampled, prepared).items()}
        which = np.arange(self._settings.simulations) % len(self._resampled)
        realised = self._simulated(resampled, which, prepared, metrics, rng)
        scale = math.sqrt(len(sample) / rows)
        return {
            m: (realised[m] - base[m] - expected[m][which]) * scale - expected[m][which]
            for m in metrics
        }

    def _simulated(
        self,
        resampled: np.ndarray,
        which: np.ndarray,
        prepared: Window,
        metrics: list[str],
        rng: np.random.Generator,
    ) -> dict[str, np.ndarray]:
        """Each metric on labels drawn from the calibrated probabilities, draw b under the
        bootstrap calibration which[b]; in blocks, to bound the memory."""
        step = max(1, _CELLS // (resampled.shape[1] * self._classes))
        blocks = [
            metric_table(metrics, _draw(resampled[which[i : i + step]], rng), prepared)
            for i in range(0, len(which), step)
        ]
        return {m: np.concatenate([b[m] for b in blocks]) for m in metrics}


def _blocks(metrics: list[str], weights: np.ndarray, window: Window) -> dict[str, np.ndarray]:
    step = max(1, _CELLS // (weights.shape[1] * weights.shape[2]))
    blocks = [
        metric_table(metrics, weights[i : i + step], window) for i in range(0, len(weights), step)
    ]
    return {m: np.concatenate([b[m] for b in blocks]) for m in metrics}


def _draw(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One label per row and draw, as one-hot weights: class c with its probability."""
    draws, rows, k = probabilities.shape
    if k == 2:  # Bernoulli: the positive class with its probability
        positive = rng.random((draws, rows)) < probabilities[:, :, 1]
        return np.stack([~positive, positive], axis=2).astype(float)
    cumulative = np.cumsum(probabilities, axis=2)[:, :, :-1]
    uniform = rng.random((draws, rows, 1))
    labels = (uniform >= cumulative).sum(axis=2)
    onehot: np.ndarray = np.eye(k)[labels]
    return onehot


def _estimate(
    metric: str, plain: float, deviations: np.ndarray, rows: int, level: float, beyond: float
) -> Estimate:
    """The mean of the simulated realised metric, with the interval between its quantiles
    (kept within the metric's range, and widened to hold the mean, which on tiny windows
    can fall between the quantiles of a lumpy distribution)."""
    notes = []
    if beyond >= _BEYOND:
        notes.append(
            f"{beyond:.0%} of the rows score beyond the range the reference calibrated; "
            "their calibration is extrapolated (held flat), so the estimate is less sure "
            "than its interval says"
        )
    defined = deviations[~np.isnan(deviations)]
    if math.isnan(plain) or len(defined) == 0:
        return _missing(metric, plain, rows, level, beyond, [_UNDEFINED, *notes])
    if len(defined) < len(deviations):
        share = 1 - len(defined) / len(deviations)
        notes.append(
            f"undefined in {share:.0%} of the simulated windows (a class absent): the figure "
            "is for windows where it is defined"
        )
    top = math.inf if metric == "log_loss" else 1.0
    simulated = np.clip(plain + defined, 0.0, top)
    value = float(np.mean(simulated))
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(simulated, [tail, 1.0 - tail])
    return Estimate(
        metric,
        value,
        min(float(low), value),
        max(float(high), value),
        rows,
        level=level,
        standard_error=float(np.std(simulated)),
        plain_value=plain,
        beyond_reference=beyond,
        note="; ".join(notes),
    )


def _missing(
    metric: str, plain: float, rows: int, level: float, beyond: float, notes: list[str]
) -> Estimate:
    return Estimate(
        metric,
        math.nan,
        math.nan,
        math.nan,
        rows,
        level=level,
        plain_value=plain,
        beyond_reference=beyond,
        note="; ".join(notes),
    )


_BEYOND = 0.1
_UNDEFINED = (
    "undefined: a class the metric needs has no expected rows in this window (the realised "
    "figure would be undefined too)"
)
