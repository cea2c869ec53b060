"""Data drift of a model's features: has the current window left the reference's distribution?

Each feature gets the tests its kind allows: `null_rate` (every feature), `distribution`
(numeric: Wasserstein distance over the reference's IQR by default; categorical:
Jensen-Shannon; binary: the difference of its rate) and `new_categories` (categorical and
binary; a numeric feature that was constant in the reference). Each test's value is judged
against its two-sample null learned from the reference at the window's own size
(drift_null), so its p-value means the same at 1,000 rows as at 10,000,000; the tests of one
check are corrected together (Holm by default), so a check with no drift raises a false alarm
with probability about `budget` however many features it watches.

Decisions, and why:
- A test says drift when its corrected p-value says so, and its value clears the effect floor
  for its statistic; the floors are 0 by default (EffectFloors says why). `threshold` is the
  value above which the test says drift in this window: value > threshold == drifted.
- The family-wise rate is at most the budget, and close to it when every test can fire. It
  sits lower (2-4 % in bench/drift.py's world of 10 features) when some can hardly fire
  without drift: the new-categories test of a feature whose reference saw no rare category
  allows for the unseen mass such a reference could still have missed, which a closed set
  of categories never shows. (Tests that cannot fire at all, such as a null rate with no
  missing values on either side, leave the family: Tarone.)
- A window below `min_rows` rows, or a reference below `min_reference_rows`, is not decided
  (decided=False with the reason), never a silent pass. A feature too sparse to test is
  listed in `notes`.
- The current table lacking a reference column, or a column whose type class changed (a
  number became a string), raises MonitorError naming the column; extra columns are ignored.

    reference = DriftReference.fit(training_rows, {"amount": "numeric", "channel": "categorical"})
    result = reference.compare(last_hour)      # reuse the reference for every window
    result.drifted_features                    # ("amount",)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import pyarrow as pa

from weir.core.errors import MonitorError
from weir.monitor.drift_assess import Assessment, Bridges, Outcome
from weir.monitor.drift_categorical import CategoricalReference
from weir.monitor.drift_columns import (
    FeatureKind,
    TypeClass,
    check_class,
    class_of,
    column_of,
    infer_kinds,
)
from weir.monitor.drift_numeric import NumericReference
from weir.monitor.drift_settings import Correction, DriftSettings, EffectFloors

__all__ = [
    "DriftReference",
    "DriftResult",
    "DriftSettings",
    "EffectFloors",
    "FeatureDrift",
    "FeatureKind",
    "infer_kinds",
]

KINDS: tuple[FeatureKind, ...] = ("numeric", "categorical", "binary")
DEFAULT_SETTINGS = DriftSettings()


@dataclass(frozen=True)
class FeatureDrift:
    """One test of one feature on one window."""

    feature: str
    kind: FeatureKind
    test: Literal["distribution", "null_rate", "new_categories"]
    statistic: (
        str  # wasserstein_iqr, ks, psi, jensen_shannon, chi2, rate_diff, null_rate_diff, new_share
    )
    value: float  # the statistic on this window
    threshold: float  # drift here when value > threshold (after correction and floor)
    p_value: float  # calibrated p-value, before correction
    drifted: bool
    reference_rows: int
    current_rows: int
    detail: str


@dataclass(frozen=True)
class DriftResult:
    """One check of one window: every test, and whether the check could decide at all."""

    tests: tuple[FeatureDrift, ...]
    budget: float
    correction: str
    decided: bool
    reason: str | None  # why not decided
    notes: tuple[str, ...] = ()  # features (or tests) not judged in this window, and why

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Features with at least one drifted test, in the reference's order."""
        return tuple(dict.fromkeys(t.feature for t in self.tests if t.drifted))

    @property
    def drifted(self) -> bool:
        return any(t.drifted for t in self.tests)


class _Feature(Protocol):
    name: str
    kind: FeatureKind
    type_class: TypeClass

    @property
    def test_count(self) -> int: ...

    def calibrate(self, draws: int, bridges: Bridges) -> None: ...

    def assess(self, column: pa.ChunkedArray) -> Outcome: ...


class DriftReference:
    """The reference side of a drift check, fitted once and reused for every window."""

    def __init__(self, features: Sequence[_Feature], rows: int, settings: DriftSettings) -> None:
        self._features = tuple(features)
        self._rows = rows
        self.settings = settings
        self.draws = settings.draws_for(sum(f.test_count for f in self._features))
        bridges = Bridges(settings.seed)  # dropped after the fit
        for feature in self._features:
            feature.calibrate(self.draws, bridges)

    @classmethod
    def fit(
        cls,
        table: pa.Table,
        kinds: Mapping[str, FeatureKind],
        settings: DriftSettings = DEFAULT_SETTINGS,
    ) -> DriftReference:
        """Learn each named column's reference: bins or categories, and its null."""
        return cls(
            [_fit_feature(table, name, kind, settings) for name, kind in kinds.items()],
            table.num_rows,
            settings,
        )

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def kinds(self) -> dict[str, FeatureKind]:
        return {f.name: f.kind for f in self._features}

    def compare(self, current: pa.Table) -> DriftResult:
        """Judge one window. Raises MonitorError when a column is missing or changed type."""
        columns = {f.name: column_of(current, f.name, "current") for f in self._features}
        for feature in self._features:
            check_class(columns[feature.name], feature.name, feature.type_class)
        reason = self._undecidable(current.num_rows)
        if reason:
            return DriftResult((), self.settings.budget, self.settings.correction, False, reason)
        outcomes = [f.assess(columns[f.name]) for f in self._features]
        found = [test for outcome in outcomes for test in outcome.tests]
        notes = tuple(note for outcome in outcomes for note in outcome.notes)
        return DriftResult(
            self._decide(found), self.settings.budget, self.settings.correction, True, None, notes
        )

    def _undecidable(self, rows: int) -> str | None:
        least = self.settings.min_reference_rows
        if self._rows < least:
            return (
                f"the reference has {self._rows} rows; at least {least} are needed to judge drift"
            )
        if rows == 0:
            return "the current window is empty"
        if rows < self.settings.min_rows:
            return f"the current window has {rows} rows; at least {self.settings.min_rows} are needed to judge drift"
        return None

    def _decide(self, found: list[Assessment]) -> tuple[FeatureDrift, ...]:
        levels = corrected_levels(found, self.settings.budget, self.settings.correction)
        return tuple(
            _judged(test, level, self.settings.min_effect)
            for test, level in zip(found, levels, strict=True)
        )


def corrected_levels(
    tests: Sequence[Assessment], budget: float, correction: Correction
) -> list[float]:
    """The level each test is judged at (0: left out, it cannot say drift).

    The family: every test that could reach its level. A test conditioned on few events (a
    null rate where both samples have no or a handful of missing values) cannot give a small
    p-value whatever happens; counting it would only make the others stricter. Tarone's rule
    keeps the tests whose smallest possible p-value is at most budget / k, for the least k
    that leaves at most k of them; that depends on the tests' conditioning, not on their
    p-values, so the correction below stays valid.
    Holm: the family in order of p-value, the j-th of k at budget / (k - j + 1), each rejected
    only if every one before it was; after the first that is not, every test is judged at
    that level (and, its p-value being larger, is not rejected either)."""
    family = _tarone(tests, budget) if correction != "none" else list(range(len(tests)))
    levels = [0.0] * len(tests)
    count = len(family)
    if correction in ("none", "bonferroni"):
        for index in family:
            levels[index] = budget if correction == "none" else budget / count
        return levels
    stopped: float | None = None
    order = sorted(family, key=lambda i: tests[i].judgement.p_value)
    for rank, index in enumerate(order):
        level = budget / (count - rank)
        test = tests[index]
        if stopped is None and not test.value > test.judgement.threshold_at(level):
            stopped = level
        levels[index] = stopped if stopped is not None else level
    return levels


def _tarone(tests: Sequence[Assessment], budget: float) -> list[int]:
    """Indices of the tests that can reach budget / k, for the least such k (Tarone 1990)."""
    for k in range(1, len(tests) + 1):
        able = [i for i, test in enumerate(tests) if test.judgement.least_p <= budget / k]
        if len(able) <= k:
            return able
    return list(range(len(tests)))


def _judged(test: Assessment, level: float, floors: EffectFloors) -> FeatureDrift:
    statistical = test.judgement.threshold_at(level) if level > 0 else math.inf
    threshold = max(statistical, floors.of(test.statistic))
    return FeatureDrift(
        test.feature,
        test.kind,
        test.test,
        test.statistic,
        test.value,
        threshold,
        test.judgement.p_value,
        test.value > threshold,
        test.reference_rows,
        test.current_rows,
        test.detail,
    )


def _fit_feature(
    table: pa.Table, name: str, kind: FeatureKind, settings: DriftSettings
) -> _Feature:
    column = column_of(table, name, "reference")
    type_class = class_of(column, name)
    if kind not in KINDS:
        raise MonitorError(
            f"column '{name}' has kind '{kind}'", fix=f"use one of {', '.join(KINDS)}"
        )
    if kind == "numeric":
        if type_class == "string":
            raise MonitorError(
                f"column '{name}' is declared numeric but holds strings ({column.type})",
                fix=f"declare '{name}' categorical, or cast it to a number",
            )
        return NumericReference(name, column, type_class, settings)
    return CategoricalReference(name, kind, column, type_class, settings)
