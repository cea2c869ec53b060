"""A numeric feature's reference: quantile bins learned once, the null of its statistic, and
how one window is binned and judged.

Bins: about `bins` quantile bins of the reference, tie-aware (a value that holds many rows,
such as a zero in a zero-inflated feature, gets a bin of its own; few distinct values get one
bin each), so every bin holds reference rows. Binning a window is one sort and one
binary search per edge, O(n log n) in C, and everything after it is O(bins).

The statistic sees each value at its bin's representative point, the reference's median
within that bin: a Wasserstein distance on a 100-point grid of the reference's quantiles.
Values beyond the reference's outer bins count as those bins' medians (so one wild value or
an infinity cannot dominate the distance, and ±inf are the outermost values like any other);
with few distinct values every value is its own point and the distance is exact.

A reference column with a single value has no distribution to compare: its test is the
new-values test (how many current rows differ from that value, against the unseen mass the
reference allows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from weir.monitor.drift_assess import (
    Assessment,
    Bridges,
    Outcome,
    SizeCache,
    new_values,
    null_rate,
    number,
    seed_for,
)
from weir.monitor.drift_columns import FeatureKind, TypeClass, numbers
from weir.monitor.drift_null import UnseenMass, monte_carlo, multinomial_null
from weir.monitor.drift_settings import DriftSettings
from weir.monitor.drift_stats import BinnedStatistic, binned_statistic

FloatArray = npt.NDArray[np.float64]
CountArray = npt.NDArray[np.int64]
GAUSSIAN_ROWS_PER_BIN = 10


@dataclass(frozen=True)
class Bins:
    """Cut points (bin 0 is below edges[0]; bin k is [edges[k-1], edges[k])), each bin's
    representative point, and the reference's rows per bin."""

    edges: FloatArray
    points: FloatArray
    counts: CountArray

    def count(self, sorted_values: FloatArray) -> CountArray:
        """Rows per bin of an ascending array of values."""
        below = np.searchsorted(sorted_values, self.edges, side="left")
        return np.diff(np.concatenate(([0], below, [len(sorted_values)]))).astype(np.int64)


def quantile_edges(sorted_values: FloatArray, bins: int) -> FloatArray:
    """About `bins` quantile cut points, each a distinct reference value, none at the minimum,
    so every bin holds reference rows; a heavy value gets a bin of its own."""
    rows = len(sorted_values)
    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    distinct = sorted_values[starts]
    through = np.append(starts[1:], rows)  # rows up to and including each distinct value
    targets = np.arange(1, bins) * rows / bins
    last_of_bin = np.unique(np.searchsorted(through, targets, side="left"))
    last_of_bin = last_of_bin[last_of_bin + 1 < len(distinct)]
    return np.asarray(distinct[last_of_bin + 1], dtype=np.float64)


def make_bins(sorted_values: FloatArray, bins: int) -> Bins:
    """Quantile bins of an ascending reference, with within-bin medians as points."""
    if len(sorted_values) == 0:
        return Bins(np.empty(0), np.empty(0), np.zeros(0, dtype=np.int64))
    edges = quantile_edges(sorted_values, bins)
    below = np.searchsorted(sorted_values, edges, side="left")
    starts = np.concatenate(([0], below))
    ends = np.concatenate((below, [len(sorted_values)]))
    points = sorted_values[(starts + ends - 1) // 2]
    finite = sorted_values[np.isfinite(sorted_values)]
    points = np.clip(points, finite[0], finite[-1]) if len(finite) else np.zeros_like(points)
    return Bins(edges, points, (ends - starts).astype(np.int64))


def spread(sorted_values: FloatArray) -> tuple[float, str]:
    """What the Wasserstein distance is divided by: the reference's IQR; when that is 0 (over
    half the rows share one value), its 1-99 % range; then its standard deviation."""
    finite = sorted_values[np.isfinite(sorted_values)]
    if len(finite) >= 2:
        q01, q25, q75, q99 = np.quantile(finite, [0.01, 0.25, 0.75, 0.99])
        for scale, label in (
            (q75 - q25, "IQR"),
            (q99 - q01, "1-99 % range"),
            (finite.std(), "std"),
        ):
            if scale > 0 and math.isfinite(scale):
                return float(scale), label
    return 1.0, "unit (no spread)"


def quartiles(sorted_values: FloatArray) -> str:
    """Median and IQR of an ascending array, by nearest rank (cheap at any size)."""
    last = len(sorted_values) - 1
    q25, q50, q75 = (sorted_values[round(q * last)] for q in (0.25, 0.5, 0.75))
    return f"median {number(q50)}, IQR {number(q75 - q25)}"


class NumericReference:
    """One numeric feature of the reference, fitted; `assess` judges a window's column."""

    kind: FeatureKind = "numeric"

    def __init__(
        self, name: str, column: pa.ChunkedArray, type_class: TypeClass, settings: DriftSettings
    ) -> None:
        values, missing = numbers(column)
        values.sort()
        self.name, self.type_class, self.settings = name, type_class, settings
        self.rows, self.missing, self.present = len(column), missing, len(values)
        self.summary = quartiles(values) if len(values) else "no values"
        self.bins = make_bins(values, min(settings.bins, max(self.present // 10, 2)))
        self.constant = float(values[0]) if len(values) and len(self.bins.edges) == 0 else None
        scale, self.scale_label = spread(values)
        self.scale = scale
        self.statistic: BinnedStatistic = binned_statistic(
            settings.numeric_statistic, self.bins.points, scale
        )
        self.unit_null: FloatArray | None = None
        self.sizes = SizeCache(self.present, self.statistic.degree)
        self.draws = settings.resamples

    @property
    def tested(self) -> bool:
        """Whether the reference has enough non-missing rows to judge its distribution."""
        return self.present >= self.settings.min_reference_rows

    @property
    def test_count(self) -> int:
        return 2 if self.tested else 1

    def calibrate(self, draws: int, bridges: Bridges) -> None:
        """Simulate the Gaussian-limit null once (for statistics that allow it)."""
        self.draws = draws
        if self.tested and self.constant is None and self.statistic.of_cumulative is not None:
            probabilities = self.bins.counts / self.present
            self.unit_null = np.sort(
                self.statistic.of_cumulative(bridges.get(probabilities, draws))
            )

    def assess(self, column: pa.ChunkedArray) -> Outcome:
        values, missing = numbers(column)
        outcome = Outcome(
            [null_rate(self.name, "numeric", (self.missing, self.rows), (missing, len(column)))]
        )
        if not self.tested:
            outcome.notes.append(
                f"'{self.name}': distribution not tested: the reference has {self.present} "
                f"non-missing rows (at least {self.settings.min_reference_rows} needed)"
            )
        elif len(values) < self.settings.min_rows:
            outcome.notes.append(
                f"'{self.name}': distribution not tested: the window has {len(values)} "
                f"non-missing rows (at least {self.settings.min_rows} needed)"
            )
        elif self.constant is not None:
            outcome.tests.append(self._differs(values))
        else:
            values.sort()
            outcome.tests.append(self._distribution(values))
        return outcome

    def _differs(self, values: FloatArray) -> Assessment:
        """A constant reference: how many current rows differ from its one value."""
        unseen = int(np.count_nonzero(values != self.constant))
        mass = UnseenMass.of_reference(0, 0, self.present)
        named = f"values other than the reference's constant {number(self.constant or 0.0)}"
        return new_values(self.name, "numeric", mass, (unseen, len(values)), self.present, named)

    def _distribution(self, sorted_values: FloatArray) -> Assessment:
        counts = self.bins.count(sorted_values)
        value = float(self.statistic.of_counts(self.bins.counts, counts))
        judgement = monte_carlo(self._null(len(sorted_values)), value)
        detail = (
            f"{quartiles(sorted_values)} (reference {self.summary}; "
            f"scale: the reference's {self.scale_label}, {number(self.scale)})"
        )
        return Assessment(
            self.name,
            "numeric",
            "distribution",
            self.statistic.name,
            value,
            judgement,
            self.present,
            len(sorted_values),
            detail,
        )

    def _null(self, rows: int) -> FloatArray:
        """The null at `rows` rows: the Gaussian limit rescaled when the window has ten rows
        per bin or more; below that, where a skewed feature's outer bins hold a row or two
        and the limit's tail is too light (checked: up to 5x too many alarms at n = 30),
        exact multinomial draws."""
        if self.unit_null is not None and rows >= GAUSSIAN_ROWS_PER_BIN * len(self.bins.counts):
            return self.unit_null * math.sqrt(1 / rows + 1 / self.present)
        probabilities = self.bins.counts / self.present

        def simulate(size: int) -> FloatArray:
            seed = seed_for(self.settings.seed, self.name, self.statistic.name, size)
            return multinomial_null(
                probabilities, self.present, size, self.statistic.of_counts, self.draws, seed
            )

        return self.sizes.get(rows, simulate)
