"""One test on one window before the correction across tests, and the tests every kind shares:
the null rate and values never seen in the reference."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from weir.monitor.drift_columns import FeatureKind
from weir.monitor.drift_null import Judgement, UnseenMass, gaussian_bridge, two_proportions
from weir.monitor.drift_stats import Floats

TestName = Literal["distribution", "null_rate", "new_categories"]
FloatArray = npt.NDArray[np.float64]
SIZES_KEPT = 8


@dataclass(frozen=True)
class Assessment:
    """One test's value and judgement on one window, before the correction across tests."""

    feature: str
    kind: FeatureKind
    test: TestName
    statistic: str
    value: float
    judgement: Judgement
    reference_rows: int
    current_rows: int
    detail: str


@dataclass
class Outcome:
    """What one feature says about one window: its tests, and what it could not test and why."""

    tests: list[Assessment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def seed_for(seed: int, feature: str, test: str, rows: int = 0) -> np.random.SeedSequence:
    """A seed that depends on what is simulated, not on the order of calls."""
    return np.random.SeedSequence(
        [seed, zlib.crc32(feature.encode()), zlib.crc32(test.encode()), rows]
    )


def percent(share: float) -> str:
    """A share as a short percentage ("1.2 %", "0.031 %")."""
    return f"{100 * share:.2g} %" if share < 0.01 else f"{100 * share:.1f} %"


def number(value: float) -> str:
    return f"{value:.4g}"


class Bridges:
    """Gaussian-limit draws of the CDF gap, shared by the features of one fit whose bins have
    the same probabilities (seeded by those probabilities, so by nothing order-dependent)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._made: dict[bytes, Floats] = {}

    def get(self, probabilities: FloatArray, draws: int) -> Floats:
        key = probabilities.tobytes()
        if key not in self._made:
            seed = np.random.SeedSequence([self.seed, zlib.crc32(key), draws])
            self._made[key] = gaussian_bridge(probabilities, draws, seed)
        return self._made[key]


def grid_rows(rows: int) -> int:
    """The window size a simulated null is drawn at: `rows` to two significant digits (exact
    below 100), so windows of 4,312 and 4,288 rows share the null drawn at 4,300."""
    if rows < 100:
        return rows
    step = 10 ** (len(str(rows)) - 2)
    return int(round(rows / step) * step)


class SizeCache:
    """Simulated null draws per window size (on the grid of grid_rows), the most recent
    SIZES_KEPT sizes, each rescaled to the exact size asked for: a statistic whose null
    scales as (1/n + 1/m)^(degree/2) at large counts is multiplied by that ratio, a few
    per cent at most on this grid."""

    def __init__(self, reference_rows: int, degree: int) -> None:
        self._draws: dict[int, FloatArray] = {}
        self.reference_rows, self.degree = reference_rows, degree

    def get(self, rows: int, simulate: Callable[[int], FloatArray]) -> FloatArray:
        size = grid_rows(rows)
        if size not in self._draws:
            if len(self._draws) >= SIZES_KEPT:
                del self._draws[next(iter(self._draws))]
            self._draws[size] = simulate(size)
        if size == rows or self.degree == 0:
            return self._draws[size]
        m = self.reference_rows
        ratio = ((1 / rows + 1 / m) / (1 / size + 1 / m)) ** (self.degree / 2)
        return np.asarray(self._draws[size] * ratio, dtype=np.float64)


def null_rate(
    feature: str,
    kind: FeatureKind,
    reference: tuple[int, int],
    current: tuple[int, int],
) -> Assessment:
    """Did the share of missing values change? (missing, rows) for each sample; Fisher's exact test."""
    (ref_missing, ref_rows), (cur_missing, cur_rows) = reference, current
    before, after = ref_missing / ref_rows, cur_missing / cur_rows
    return Assessment(
        feature,
        kind,
        "null_rate",
        "null_rate_diff",
        abs(after - before),
        two_proportions(ref_missing, ref_rows, cur_missing, cur_rows),
        ref_rows,
        cur_rows,
        f"missing {percent(before)} -> {percent(after)} of rows",
    )


def new_values(
    feature: str,
    kind: FeatureKind,
    mass: UnseenMass,
    unseen: tuple[int, int],
    reference_rows: int,
    named: str,
) -> Assessment:
    """Do more current rows fall outside the reference's values than its unseen mass allows?
    `unseen` is (rows in unseen values, non-missing rows); `named` names the top unseen ones."""
    unseen_rows, rows = unseen
    share = unseen_rows / rows
    said = f"{named} ({percent(share)} of rows)" if unseen_rows else "none"
    return Assessment(
        feature,
        kind,
        "new_categories",
        "new_share",
        share,
        mass.judge(unseen_rows, rows),
        reference_rows,
        rows,
        f"new values: {said}; the reference implies about {percent(mass.mean)} unseen",
    )
