"""Two-sample statistics on binned counts, vectorised over many samples at once.

Every statistic here reads two count vectors over the same bins (the reference's numeric
quantile bins, or its categories) and says how far apart the two distributions are. They
take 2-D arrays (one row per sample, one column per bin) so the null can be simulated for
thousands of resamples in a few array operations; a 1-D pair works the same way.

    wasserstein_iqr  Wasserstein-1 distance with every value moved to its bin's reference
                     median, divided by the reference's spread (its IQR): "the typical value
                     moved by this fraction of the IQR". With each distinct value in its own
                     bin it equals scipy.stats.wasserstein_distance of the raw samples.
    ks               largest gap between the two binned CDFs (Kolmogorov-Smirnov); with each
                     distinct value in its own bin it equals scipy.stats.ks_2samp's statistic.
    psi              population stability index: sum of (c - r) ln(c / r) over bins, shares
                     below 1e-4 raised to 1e-4 (the usual guard for empty bins).
    jensen_shannon   Jensen-Shannon distance, base 2 (0 same, 1 disjoint), as
                     scipy.spatial.distance.jensenshannon.
    chi2             Pearson's chi-squared statistic of the 2 x bins table, as
                     scipy.stats.chi2_contingency without continuity correction.

Wasserstein and KS read only the running sum of the share differences (the gap between the
two CDFs) and are positively homogeneous in it, which lets their null be simulated once per
reference in the Gaussian limit and rescaled to any window size (see drift_null).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.special import rel_entr

FloatArray = npt.NDArray[np.float64]
Floats = npt.NDArray[np.floating[Any]]  # float32 in the Gaussian-limit null
CountArray = npt.NDArray[np.int64]

NumericStatistic = Literal["wasserstein_iqr", "ks", "psi"]
CategoricalStatistic = Literal["jensen_shannon", "chi2", "psi"]

PSI_FLOOR = 1e-4


def shares(counts: npt.ArrayLike) -> FloatArray:
    """Counts as shares of their row's total (a row of zeros stays zeros)."""
    values = np.asarray(counts, dtype=np.float64)
    totals = values.sum(axis=-1, keepdims=True)
    return np.asarray(np.divide(values, totals, out=np.zeros_like(values), where=totals > 0))


def wasserstein_of_cumulative(cumulative: Floats, points: FloatArray, scale: float) -> FloatArray:
    """W1 between two binned distributions from the running sum of their share differences:
    the area between the two CDFs, each a step function at the bins' representative points."""
    return np.asarray(np.abs(cumulative[..., :-1]) @ np.diff(points) / scale, dtype=np.float64)


def ks_of_cumulative(cumulative: Floats) -> FloatArray:
    """The largest gap between the two binned CDFs."""
    return np.asarray(np.abs(cumulative).max(axis=-1), dtype=np.float64)


def psi(reference: npt.ArrayLike, current: npt.ArrayLike) -> FloatArray:
    """Population stability index, empty bins guarded by PSI_FLOOR."""
    r = np.maximum(shares(np.asarray(reference)), PSI_FLOOR)
    c = np.maximum(shares(np.asarray(current)), PSI_FLOOR)
    return np.asarray(((c - r) * np.log(c / r)).sum(axis=-1), dtype=np.float64)


def jensen_shannon(reference: npt.ArrayLike, current: npt.ArrayLike) -> FloatArray:
    """Jensen-Shannon distance in base 2."""
    r, c = shares(np.asarray(reference)), shares(np.asarray(current))
    middle = (r + c) / 2
    divergence = (rel_entr(r, middle).sum(axis=-1) + rel_entr(c, middle).sum(axis=-1)) / 2
    return np.asarray(np.sqrt(np.maximum(divergence / np.log(2), 0.0)), dtype=np.float64)


def chi2(reference: npt.ArrayLike, current: npt.ArrayLike) -> FloatArray:
    """Pearson's chi-squared of the 2 x bins contingency table (bins empty in both skipped)."""
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    both = r + c
    r_total, c_total = r.sum(axis=-1, keepdims=True), c.sum(axis=-1, keepdims=True)
    grand = r_total + c_total
    expected_r, expected_c = both * r_total / grand, both * c_total / grand
    cells = np.divide((r - expected_r) ** 2, expected_r, out=np.zeros_like(r), where=both > 0)
    cells += np.divide((c - expected_c) ** 2, expected_c, out=np.zeros_like(c), where=both > 0)
    return np.asarray(cells.sum(axis=-1), dtype=np.float64)


@dataclass(frozen=True)
class BinnedStatistic:
    """One statistic bound to one feature's bins. `of_cumulative` is set for statistics of
    the CDF gap that are positively homogeneous in it (their null scales with
    sqrt(1/n + 1/m) and can be simulated once in the Gaussian limit). `degree`: how the
    null's scale grows with (1/n + 1/m) at large counts, as a power of its square root
    (1 for distances, 2 for PSI, 0 for chi2, whose null is chi-squared at any size)."""

    name: str
    of_counts: Callable[[npt.ArrayLike, npt.ArrayLike], FloatArray]
    of_cumulative: Callable[[Floats], FloatArray] | None = None
    degree: int = 1


def binned_statistic(
    name: str, points: FloatArray | None = None, scale: float = 1.0
) -> BinnedStatistic:
    """The named statistic for a feature whose bins have these representative points."""
    if name == "wasserstein_iqr":
        if points is None:
            raise ValueError("the Wasserstein distance needs the bins' representative points")
        by_points = points

        def of_cumulative(cumulative: Floats) -> FloatArray:
            return wasserstein_of_cumulative(cumulative, by_points, scale)

        return BinnedStatistic(name, _via_cumulative(of_cumulative), of_cumulative)
    if name == "ks":
        return BinnedStatistic(name, _via_cumulative(ks_of_cumulative), ks_of_cumulative)
    if name == "psi":
        return BinnedStatistic(name, psi, degree=2)
    if name == "chi2":
        return BinnedStatistic(name, chi2, degree=0)
    return BinnedStatistic(name, jensen_shannon)


def _via_cumulative(
    of_cumulative: Callable[[Floats], FloatArray],
) -> Callable[[npt.ArrayLike, npt.ArrayLike], FloatArray]:
    def of_counts(reference: npt.ArrayLike, current: npt.ArrayLike) -> FloatArray:
        gap = np.cumsum(shares(np.asarray(current)) - shares(np.asarray(reference)), axis=-1)
        return of_cumulative(gap)

    return of_counts
