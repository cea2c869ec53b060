"""How a drift check decides: its false-alarm budget, the correction across its tests, the
null's resolution, the statistics per kind and the optional effect floors."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

from weir.core.errors import MonitorError
from weir.monitor.drift_stats import CategoricalStatistic, NumericStatistic

Correction = Literal["holm", "bonferroni", "none"]


@dataclass(frozen=True)
class EffectFloors:
    """Smallest value of each statistic that may count as drift, whatever its p-value.

    All 0 by default, on purpose. A floor answers "is it big enough to matter", which
    depends on the feature's units and on how sensitive the model is to it (a 0.05-IQR move
    of a score sitting next to a decision threshold matters; of an id-like feature it does
    not), so one default would be wrong for most features. And a floor changes what the
    budget means: with one, the false-alarm rate falls from the budget at small windows to
    zero at large ones, while a calibrated test keeps it at the budget at every size. So by
    default a test flags every distribution change its window can prove, and reports the
    effect size (value) beside it for alert rules to rank or filter; set floors here when a
    model's owner knows what is negligible. chi2 has no floor (its value grows with n).
    """

    wasserstein_iqr: float = 0.0
    ks: float = 0.0
    psi: float = 0.0
    jensen_shannon: float = 0.0
    rate_diff: float = 0.0
    null_rate_diff: float = 0.0
    new_share: float = 0.0

    def of(self, statistic: str) -> float:
        """The floor for a statistic (0 for one without a floor)."""
        value = getattr(self, statistic, 0.0)
        return float(value)


@dataclass(frozen=True)
class DriftSettings:
    """How one drift check decides.

    budget: the family-wise false-alarm rate of one check (one window, every test of every
        feature together) when nothing drifted.
    resamples: null draws per simulated statistic, at least; raised to 10 x tests / budget
        so the strictest Holm level (budget / tests) still lies ten draws deep in the
        simulated tail (Monte Carlo p-values cannot go below 1 / (draws + 1)). 10,000 keeps
        a check of ~50 tests at its floor and costs ~0.1 s per numeric feature, once per
        reference (the Gaussian-limit null is free of n), and per window size for category
        statistics.
    seed: every simulation is seeded from (seed, feature, test, window size): the same
        inputs give the same result, in any order of calls.
    min_rows: a current window with fewer rows is not decided (nor a feature with fewer
        non-missing rows: its distribution is not tested); 30 rows is where the Gaussian-limit
        null was checked and where a distribution test begins to have any power.
    min_reference_rows: a reference with fewer rows decides nothing (its own noise swamps
        any window); a feature with fewer non-missing reference rows is not distribution-tested.
    correction: "holm" (default: controls the family-wise rate under any dependence between
        tests, and is uniformly more powerful than Bonferroni), "bonferroni", or "none" (each
        test at the full budget; the family-wise rate then grows with the number of tests).
    numeric_statistic / categorical_statistic: the distribution statistic per kind (binary
        features always compare their rate: rate_diff, Fisher's exact test).
    bins: most quantile bins for a numeric feature (fewer when the reference has fewer than
        10 rows per bin or fewer distinct values).
    max_categories / min_category_rows: the categories a categorical distribution test
        tracks one by one: the most frequent, each with at least min_category_rows reference
        rows; the rest are pooled as one "other" bin (a rare category's share is too noisy to
        judge alone; it still counts as seen for the new-categories test).
    min_effect: effect floors (none by default; see EffectFloors for why).
    """

    budget: float = 0.05
    resamples: int = 10_000
    seed: int = 0
    min_rows: int = 30
    min_reference_rows: int = 100
    correction: Correction = "holm"
    numeric_statistic: NumericStatistic = "wasserstein_iqr"
    categorical_statistic: CategoricalStatistic = "jensen_shannon"
    bins: int = 100
    max_categories: int = 50
    min_category_rows: int = 5
    min_effect: EffectFloors = EffectFloors()

    def __post_init__(self) -> None:
        if not 0 < self.budget < 1:
            raise MonitorError(
                f"drift budget {self.budget} is not a rate",
                fix="set a budget between 0 and 1, e.g. 0.05",
            )
        for name in ("resamples", "min_rows", "min_reference_rows", "bins", "max_categories"):
            if getattr(self, name) < 2:
                raise MonitorError(
                    f"drift setting {name}={getattr(self, name)} is too small",
                    fix=f"set {name} to 2 or more",
                )
        if self.min_category_rows < 1:
            raise MonitorError(
                f"drift setting min_category_rows={self.min_category_rows} is too small",
                fix="set min_category_rows to 1 or more",
            )
        for floor in fields(self.min_effect):
            if getattr(self.min_effect, floor.name) < 0:
                raise MonitorError(
                    f"effect floor {floor.name} is negative", fix="set it to 0 or more"
                )

    def draws_for(self, tests: int) -> int:
        """Null draws per simulated statistic for a check of `tests` tests."""
        return max(self.resamples, math.ceil(10 * max(tests, 1) / self.budget))
