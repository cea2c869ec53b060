"""Calibration for the performance estimate: isotonic maps from a model's scores to the
probabilities its labels actually showed on a labelled reference, their bootstrap spread,
and the expected calibration error (ECE) before and after.

Why isotonic (as NannyML's CBPE; scipy's pool-adjacent-violators): it assumes only that a
higher score means a higher chance, so it repairs any monotone distortion (scores squared,
cubed, squeezed towards 0.5) without a parametric form. Its price is that it needs a few
hundred labelled rows; the estimator refuses smaller references.

Scores arrive as an (n, k) matrix of class probabilities. Two classes: one map, on the
positive class's column (the negative's probability is its complement). More classes: one
map per class, one-vs-rest, and each row renormalised to sum to one (NannyML's way); a row
every map sends to zero keeps the model's own probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression

ECE_BINS = 10


@dataclass(frozen=True)
class Isotonic:
    """A fitted isotonic map kept as its points (a bin's mean score, its fitted rate):
    applied as scikit-learn's IsotonicRegression.predict is, linear between the points and
    flat beyond the outermost ones, where the reference says nothing more."""

    x: np.ndarray
    y: np.ndarray

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        mapped: np.ndarray = np.interp(scores, self.x, self.y)
        return mapped

    def beyond(self, scores: np.ndarray) -> np.ndarray:
        """Rows scored outside the points: their calibration is held flat, a guess."""
        outside: np.ndarray = (scores < self.x[0]) | (scores > self.x[-1])
        return outside


def fit_isotonic(scores: np.ndarray, hits: np.ndarray) -> Isotonic:
    """Isotonic regression on the reference binned by score, about sqrt(rows) rows a bin,
    each bin entered as its mean score and hit rate weighted by its size.

    Why binned: plain isotonic regression on single rows overfits at the ends of the score
    range (its first and last blocks are chosen as the most extreme running means, the
    "spiking" problem), which makes probabilities too sure of themselves and every estimate
    optimistic; on a reference of 1,000 rows that bias was a third of the interval's width.
    Bins of sqrt(rows) rows keep the ends honest and the map fine enough (31 bins for 1,000
    rows, 316 for 100,000)."""
    order = np.argsort(scores, kind="stable")
    size = math.ceil(math.sqrt(len(scores)))
    bins = np.arange(len(scores)) // size
    counts = np.bincount(bins).astype(float)
    means = np.bincount(bins, weights=scores[order]) / counts
    hit_counts = np.bincount(bins, weights=hits[order])
    # Bins of equal mean score (a run of tied scores) are one point, as IsotonicRegression
    # pools tied x; scipy's PAVA, lighter than scikit-learn's (no input validation on each
    # of the bootstrap fits), then fits the rates in score order.
    points, which = np.unique(means, return_inverse=True)
    weights = np.bincount(which, weights=counts)
    rates = np.bincount(which, weights=hit_counts) / weights
    fitted = isotonic_regression(rates, weights=weights, increasing=True).x
    return Isotonic(points, np.clip(fitted, 0.0, 1.0))


@dataclass(frozen=True)
class Calibration:
    """One isotonic map per column that is calibrated (the positive class's alone for two)."""

    maps: tuple[Isotonic, ...]

    def beyond(self, scores: np.ndarray) -> np.ndarray:
        """Rows with a score outside what the reference calibrated (any class's, for more)."""
        if scores.shape[1] == 2:
            return self.maps[0].beyond(scores[:, 1])
        outside: np.ndarray = np.any(
            [m.beyond(scores[:, c]) for c, m in enumerate(self.maps)], axis=0
        )
        return outside

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities, (n, k), each row summing to one."""
        if scores.shape[1] == 2:
            positive = self.maps[0](scores[:, 1])
            return np.column_stack([1.0 - positive, positive])
        calibrated = np.column_stack([m(scores[:, c]) for c, m in enumerate(self.maps)])
        totals = calibrated.sum(axis=1, keepdims=True)
        empty = totals[:, 0] <= 0.0
        calibrated[empty] = scores[empty]
        totals[empty] = scores[empty].sum(axis=1, keepdims=True)
        normalised: np.ndarray = calibrated / totals
        return normalised


def fit_calibration(scores: np.ndarray, truth: np.ndarray) -> Calibration:
    """`truth`: the class index of each row (0..k-1)."""
    k = scores.shape[1]
    if k == 2:
        return Calibration((fit_isotonic(scores[:, 1], (truth == 1).astype(float)),))
    return Calibration(
        tuple(fit_isotonic(scores[:, c], (truth == c).astype(float)) for c in range(k))
    )


def bootstrap(
    scores: np.ndarray, truth: np.ndarray, times: int, rng: np.random.Generator
) -> tuple[Calibration, ...]:
    """Calibrations fitted on resamples of the reference (rows drawn with replacement): how
    much the map itself would differ with another reference of the same size. Part of every
    interval, because this error does not shrink with the window's size."""
    n = len(truth)
    fits = []
    for _ in range(times):
        rows = rng.integers(0, n, n)
        fits.append(fit_calibration(scores[rows], truth[rows]))
    return tuple(fits)


def expected_calibration_error(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """ECE with ten equal-width bins: the share-weighted mean gap between the predicted
    probability and the observed frequency in each bin. More classes: the mean over the
    classes of each class's one-vs-rest ECE ("classwise" ECE)."""
    k = probabilities.shape[1]
    columns = [1] if k == 2 else range(k)
    return float(np.mean([_ece(probabilities[:, c], truth == c) for c in columns]))


def _ece(predicted: np.ndarray, hits: np.ndarray) -> float:
    bins = np.minimum((predicted * ECE_BINS).astype(int), ECE_BINS - 1)
    counts = np.bincount(bins, minlength=ECE_BINS)
    gap = np.bincount(bins, weights=hits - predicted, minlength=ECE_BINS)
    return float(np.abs(gap).sum() / max(counts.sum(), 1))


def cross_fitted_error(
    scores: np.ndarray, truth: np.ndarray, rng: np.random.Generator, folds: int = 5
) -> float:
    """The ECE left after calibration, measured honestly: each fold calibrated by a map fitted
    on the other folds (in-sample, isotonic regression's ECE is near zero by construction)."""
    order = rng.permutation(len(truth))
    calibrated = np.empty_like(scores, dtype=float)
    for part in np.array_split(order, folds):
        rest = np.setdiff1d(order, part, assume_unique=True)
        calibrated[part] = fit_calibration(scores[rest], truth[rest])(scores[part])
    return expected_calibration_error(calibrated, truth)
