"""What a statistic looks like when nothing drifted: the null each drift test is judged by.

A drift test asks whether the reference (m rows) and the current window (n rows) could be two
samples of one population. Both samples are noisy, so the null spread depends on m and n
together (about sqrt(1/m + 1/n) for a distance), which is what raw p-values from a one-sample
view, or fixed distance thresholds, get wrong: at large n everything drifts, at small n
nothing does. Every null here is the two-sample null, with the reference's own distribution
standing in for the population:

- Distances of the CDF gap whose null scales exactly with sqrt(1/m + 1/n) (Wasserstein, KS)
  are simulated ONCE per reference in the Gaussian limit of the two multinomial samples
  (share difference ~ N(0, (1/m + 1/n)(diag p - p p'))) and rescaled to any window size
  that has ten rows per bin or more; checked against exact multinomial draws (within Monte
  Carlo error there; below it a skewed feature's outer bins hold a row or two and the
  limit's tail is too light, so smaller windows get exact multinomial draws). Features whose
  bins have the same probabilities (continuous features of one reference) share the draws.
- Other binned statistics (Jensen-Shannon, chi-squared, PSI) are not Gaussian when bins hold
  few rows, so they are simulated exactly: multinomial draws of both samples' counts at the
  window's own size, O(bins) per draw whatever n is, cached per size.
- One proportion (null rate, a binary feature's share) needs no simulation: under the null
  the split of its count between the samples is hypergeometric given the total (Fisher's
  exact conditional test), so its p-value is exact.
- Categories never seen in the reference: the unseen mass a reference implies is Good-Turing's
  (singletons / m), uncertain with Esty's variance; current rows in unseen categories are then
  Poisson given that mass, Gamma-distributed: a negative binomial null.

p-values from simulation are Monte Carlo p-values, (1 + #draws >= value) / (draws + 1):
valid for any number of draws, the smallest being 1 / (draws + 1); the caller sizes the
draws so the strictest corrected level still sits many draws deep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import hypergeom, nbinom

from weir.monitor.drift_stats import Floats

FloatArray = npt.NDArray[np.float64]
CHUNK = 4096


@dataclass(frozen=True)
class Judgement:
    """A test's p-value, and the statistic value above which it says drift at a given level
    (the same rule as the p-value: value > threshold_at(level) exactly when p <= level).
    `least_p`: the smallest p-value the test could have given, from what it is conditioned
    on (an exact test on a handful of missing values can never be significant); a check
    leaves out of its family the tests that could not reach their level (Tarone)."""

    p_value: float
    threshold_at: Callable[[float], float]
    least_p: float = 0.0


def monte_carlo(draws: FloatArray, value: float) -> Judgement:
    """Judge `value` against sorted null draws (already in the statistic's units)."""
    total = len(draws)
    at_least = total - int(np.searchsorted(draws, value, side="left"))

    def threshold_at(level: float) -> float:
        allowed = math.floor(level * (total + 1) + 1e-9) - 1  # draws >= value we may tolerate
        if allowed < 0:
            return math.inf
        if allowed >= total:
            return -math.inf
        return float(draws[total - allowed - 1])

    return Judgement((1 + at_least) / (total + 1), threshold_at, 1 / (total + 1))


def gaussian_bridge(probabilities: FloatArray, draws: int, seed: np.random.SeedSequence) -> Floats:
    """Draws of the CDF gap between two samples in the Gaussian limit, at unit scale (times
    sqrt(1/m + 1/n) for m and n rows): running sums of N(0, diag p - p p'), the covariance
    of one row's share vector; a Brownian bridge read at the bins' right edges. One matrix
    (draws x bins, float32: ample for a null, half the memory traffic) serves every feature
    whose bins have these probabilities."""
    rng = np.random.default_rng(seed)
    root = np.sqrt(probabilities).astype(np.float32)
    through = np.cumsum(probabilities).astype(np.float32)
    out = np.empty((draws, len(probabilities)), dtype=np.float32)
    for start in range(0, draws, CHUNK):
        size = min(CHUNK, draws - start)
        normal = rng.standard_normal((size, len(probabilities)), dtype=np.float32)
        gap = np.cumsum(normal * root, axis=1)
        gap -= np.outer(gap[:, -1], through)
        out[start : start + size] = gap
    return out


def multinomial_null(
    probabilities: FloatArray,
    reference_rows: int,
    current_rows: int,
    of_counts: Callable[[npt.ArrayLike, npt.ArrayLike], FloatArray],
    draws: int,
    seed: np.random.SeedSequence,
) -> FloatArray:
    """Sorted draws of a statistic of two multinomial samples (m and n rows) of `probabilities`."""
    rng = np.random.default_rng(seed)
    out = np.empty(draws)
    for start in range(0, draws, CHUNK):
        size = min(CHUNK, draws - start)
        reference = rng.multinomial(reference_rows, probabilities, size=size)
        current = rng.multinomial(current_rows, probabilities, size=size)
        out[start : start + size] = of_counts(reference, current)
    out.sort()
    return out


def two_proportions(reference_hits: int, m: int, current_hits: int, n: int) -> Judgement:
    """Fisher's exact test of one proportion in two samples; the statistic is |difference of
    the rates|. Two-sided p-value: twice the smaller tail of the hypergeometric, at most 1.
    (scipy's distributions are called unfrozen: freezing one costs more than the test.)"""
    total, rows = reference_hits + current_hits, m + n
    if total == 0 or total == rows:  # nothing to split: no outcome could be significant
        return Judgement(1.0, lambda level: 0.0, 1.0)
    upper = float(hypergeom.sf(current_hits - 1, rows, total, n))
    lower = float(hypergeom.cdf(current_hits, rows, total, n))
    p_value = min(1.0, 2 * min(upper, lower))

    def difference(hits: float) -> float:
        return hits / n - (total - hits) / m

    rising = difference(current_hits) >= 0

    def threshold_at(level: float) -> float:
        if rising:  # the smallest x with P(X >= x) <= level/2 is the first that drifts
            first_drift = float(hypergeom.isf(level / 2, rows, total, n)) + 1
            return max(difference(first_drift - 1), 0.0)
        last = float(hypergeom.ppf(level / 2, rows, total, n))  # largest x: P(X <= x) <= level/2
        if float(hypergeom.cdf(last, rows, total, n)) > level / 2:
            last -= 1
        return max(-difference(last + 1), 0.0)

    extremes = hypergeom.pmf([max(0, total - m), min(total, n)], rows, total, n)
    return Judgement(p_value, threshold_at, min(1.0, 2 * float(np.min(extremes))))


@dataclass(frozen=True)
class UnseenMass:
    """What the reference says about categories it never saw: Good-Turing's estimate of
    their total share (one pseudo-singleton added, so a reference without singletons does
    not claim none exist) and Esty's variance of that estimate."""

    mean: float
    variance: float

    @classmethod
    def of_reference(cls, singletons: int, doubletons: int, rows: int) -> UnseenMass:
        ones = singletons + 1
        esty = ones + 2 * doubletons - ones * ones / rows
        return cls(ones / rows, max(esty, ones) / rows**2)

    def judge(self, unseen_rows: int, rows: int) -> Judgement:
        """Judge `unseen_rows` of `rows` current rows falling in unseen categories."""
        scale = self.variance / self.mean
        shape, success = self.mean / scale, 1 / (1 + rows * scale)
        p_value = float(nbinom.sf(unseen_rows - 1, shape, success)) if unseen_rows > 0 else 1.0

        def threshold_at(level: float) -> float:
            first_drift = float(nbinom.isf(level, shape, success)) + 1
            return (first_drift - 1) / rows

        return Judgement(min(p_value, 1.0), threshold_at)
