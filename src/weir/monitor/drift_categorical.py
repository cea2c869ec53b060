"""A categorical or binary feature's reference: its categories and their counts, the bins its
distribution test tracks, and how one window is judged.

Three questions per feature, three tests, so each answer says what changed:
- null_rate: did the share of missing values change (Fisher's exact test);
- new_categories: do more rows fall in categories the reference never saw than the unseen
  mass it implies (Good-Turing), so a reference full of rare categories does not alarm on
  every new one while a 1 % share of never-seen categories does;
- distribution: among rows in categories the reference saw, did the shares change.
  Categorical: the chosen statistic (Jensen-Shannon by default) over the tracked categories
  plus one "other" bin, with an exact multinomial null at the window's size. Binary: the
  share of its second value (rate_diff), Fisher's exact test.

What the new-categories test can see depends on the reference's size: a 1,000-row reference
that saw no rare category cannot rule out that ~0.5 % of the world lies in categories it
missed, so 1 % of a 1,000-row window in new categories is found in about two windows of
three; with 10,000 reference rows, in 998 of 1,000 (bench/drift.py).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat

from weir.core.errors import MonitorError
from weir.monitor.drift_assess import (
    Assessment,
    Bridges,
    Outcome,
    SizeCache,
    new_values,
    null_rate,
    percent,
    seed_for,
)
from weir.monitor.drift_columns import FeatureKind, TypeClass, categories
from weir.monitor.drift_null import (
    Judgement,
    UnseenMass,
    monte_carlo,
    multinomial_null,
    two_proportions,
)
from weir.monitor.drift_settings import DriftSettings
from weir.monitor.drift_stats import BinnedStatistic, binned_statistic

CountArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
NAMED = 5  # new categories named in a detail


def label(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def ranked_counts(present: pa.Array) -> tuple[pa.Array, CountArray]:
    """Distinct values and their counts, most frequent first, ties by value (so the result
    does not depend on row order)."""
    counted = pc.value_counts(present).flatten()
    ranked = pa.table({"value": counted[0], "count": counted[1]}).sort_by(
        [("count", "descending"), ("value", "ascending")]
    )
    return ranked.column("value").combine_chunks(), ranked.column("count").to_numpy().astype(
        np.int64
    )


def name_top(values: pa.Array) -> str:
    """The most frequent of some values, with their counts, as words."""
    found, counts = ranked_counts(values)
    names = [
        f"{label(v)} ({c} row{'s' if c != 1 else ''})"
        for v, c in zip(found[:NAMED].to_pylist(), counts[:NAMED], strict=True)
    ]
    more = f" and {len(found) - NAMED} more" if len(found) > NAMED else ""
    return ", ".join(names) + more


class CategoricalReference:
    """One categorical or binary feature of the reference, fitted."""

    def __init__(
        self,
        name: str,
        kind: FeatureKind,
        column: pa.ChunkedArray,
        type_class: TypeClass,
        settings: DriftSettings,
    ) -> None:
        if type_class == "number" and kind == "categorical" and not pat.is_integer(column.type):
            raise MonitorError(
                f"column '{name}' is declared categorical but holds fractional numbers ({column.type})",
                fix=f"declare '{name}' numeric, or cast its codes to integers or strings",
            )
        present, self.missing = categories(column)
        self.name, self.kind, self.type_class, self.settings = name, kind, type_class, settings
        self.value_type = present.type
        self.rows, self.present = len(column), len(present)
        self.values, counts = ranked_counts(present)
        self.mass = UnseenMass.of_reference(
            int((counts == 1).sum()), int((counts == 2).sum()), max(self.present, 1)
        )
        if kind == "binary" and len(counts) > 2:
            raise MonitorError(
                f"column '{name}' is declared binary but the reference holds {len(counts)} distinct values",
                fix=f"declare '{name}' categorical, or map it to two values",
            )
        tracked = self._tracked(counts)
        self.bin_of = np.minimum(np.arange(len(counts)), tracked).astype(np.int64)
        self.counts = np.bincount(self.bin_of, weights=counts, minlength=1).astype(np.int64)
        pooled = ["other"] if tracked < len(counts) else []
        self.labels = [label(v) for v in self.values[:tracked].to_pylist()] + pooled
        self.positive = self._positive()
        self.statistic: BinnedStatistic = binned_statistic(settings.categorical_statistic)
        self.sizes = SizeCache(int(self.counts.sum()), self.statistic.degree)
        self.draws = settings.resamples

    def _tracked(self, counts: CountArray) -> int:
        """How many categories get a bin of their own (the rest share one)."""
        if self.kind == "binary":
            return len(counts)
        common = int((counts >= self.settings.min_category_rows).sum())
        return min(self.settings.max_categories, common)

    def _positive(self) -> int | None:
        """A binary feature's bin whose rate is compared: its larger value (True, 1, 'yes')."""
        if self.kind != "binary" or len(self.values) != 2:
            return None
        first, second = self.values.to_pylist()
        return 0 if first > second else 1

    @property
    def tested(self) -> bool:
        return self.present >= self.settings.min_reference_rows

    @property
    def distribution_tested(self) -> bool:
        return self.tested and len(self.counts) >= 2

    @property
    def test_count(self) -> int:
        return 1 + int(self.tested) + int(self.distribution_tested)

    def calibrate(self, draws: int, bridges: Bridges) -> None:
        """Categories' nulls are drawn per window size (exact multinomial draws)."""
        self.draws = draws

    def assess(self, column: pa.ChunkedArray) -> Outcome:
        present, missing = categories(column)
        present = self._as_reference_type(present)
        outcome = Outcome(
            [null_rate(self.name, self.kind, (self.missing, self.rows), (missing, len(column)))]
        )
        if not self.tested:
            outcome.notes.append(
                f"'{self.name}': categories not tested: the reference has {self.present} "
                f"non-missing rows (at least {self.settings.min_reference_rows} needed)"
            )
            return outcome
        if len(present) < self.settings.min_rows:
            outcome.notes.append(
                f"'{self.name}': categories not tested: the window has {len(present)} "
                f"non-missing rows (at least {self.settings.min_rows} needed)"
            )
            return outcome
        index = pc.fill_null(pc.index_in(present, value_set=self.values), -1).to_numpy()
        seen = index >= 0
        outcome.tests.append(self._new(present, seen))
        if self.distribution_tested:
            counts = np.bincount(self.bin_of[index[seen]], minlength=len(self.counts)).astype(
                np.int64
            )
            if counts.sum() >= self.settings.min_rows:
                outcome.tests.append(self._distribution(counts))
            else:
                outcome.notes.append(
                    f"'{self.name}': distribution not tested: {counts.sum()} rows of the window "
                    f"are in known categories (at least {self.settings.min_rows} needed)"
                )
        return outcome

    def _as_reference_type(self, present: pa.Array) -> pa.Array:
        if present.type == self.value_type:
            return present
        try:
            return present.cast(self.value_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise MonitorError(
                f"column '{self.name}' holds {present.type} values in the current data that do not "
                f"convert to the reference's {self.value_type} ({exc})",
                fix=f"give column '{self.name}' the reference's type where the current data is produced",
            ) from exc

    def _new(self, present: pa.Array, seen: npt.NDArray[np.bool_]) -> Assessment:
        unseen = int((~seen).sum())
        named = name_top(present.filter(pa.array(~seen))) if unseen else ""
        return new_values(
            self.name, self.kind, self.mass, (unseen, len(present)), self.present, named
        )

    def _distribution(self, counts: CountArray) -> Assessment:
        rows = int(counts.sum())
        if self.positive is not None:
            statistic = "rate_diff"
            before = self.counts[self.positive] / self.present
            after = counts[self.positive] / rows
            value = abs(after - before)
            judgement = two_proportions(
                int(self.counts[self.positive]), self.present, int(counts[self.positive]), rows
            )
            detail = f"share of {self.labels[self.positive]}: {percent(before)} -> {percent(after)}"
        else:
            statistic = self.statistic.name
            value = float(self.statistic.of_counts(self.counts, counts))
            judgement = self._judge(value, rows)
            detail = self._moves(counts, rows)
        return Assessment(
            self.name,
            self.kind,
            "distribution",
            statistic,
            value,
            judgement,
            self.present,
            rows,
            detail,
        )

    def _judge(self, value: float, rows: int) -> Judgement:
        probabilities = self.counts / self.counts.sum()

        def simulate(size: int) -> FloatArray:
            seed = seed_for(self.settings.seed, self.name, self.statistic.name, size)
            return multinomial_null(
                probabilities,
                int(self.counts.sum()),
                size,
                self.statistic.of_counts,
                self.draws,
                seed,
            )

        return monte_carlo(self.sizes.get(rows, simulate), value)

    def _moves(self, counts: CountArray, rows: int) -> str:
        """The largest share changes, in words."""
        before, after = self.counts / self.counts.sum(), counts / rows
        order = np.argsort(-np.abs(after - before), kind="stable")[:3]
        moves = [f"{self.labels[i]} {percent(before[i])} -> {percent(after[i])}" for i in order]
        return "largest share changes: " + ", ".join(moves)
