"""One performance figure per window and metric, and the rule that says whether it is the
estimate or the realised metric.

The rule (`combine`): a window's figure is realised once its labels are both enough in number
(`min_labels`: below that a metric is mostly noise) and enough of the window (`min_share`:
labels that land first are often not a fair sample — fraud confirmed before the rest is
cleared — so a realised figure on a sliver of the window would be biased without showing
it). Until then, the estimate. A model with no estimate (regression) shows the realised
figure as soon as there are `min_labels` labels, whatever their share, since it is the only
figure there is; with fewer, none. An empty window has no figure.

A realised figure describes the labelled rows of its window; `labelled` says how many.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from weir.core.errors import MonitorError
from weir.monitor.performance import Estimate

Source = Literal["realised", "estimated"]


@dataclass(frozen=True)
class Choice:
    """Which figure a window gets (None: none), and the sentence that says why."""

    source: Source | None
    reason: str


def combine(
    realised_labelled: int,
    window_rows: int,
    min_labels: int,
    *,
    min_share: float = 0.5,
    estimable: bool = True,
) -> Choice:
    """Realised once labelled >= min_labels and labelled >= min_share x window rows; else
    estimated (when `estimable`); else realised with min_labels labels at any share; else
    none."""
    if window_rows < 0 or not 0 <= realised_labelled <= window_rows:
        raise MonitorError(
            f"performance: {realised_labelled} labelled rows in a window of {window_rows}",
            fix="count the labelled rows among the window's own rows",
        )
    if min_labels < 1 or not 0.0 <= min_share <= 1.0:
        raise MonitorError(
            f"performance: min_labels {min_labels} and min_share {min_share} are out of range",
            fix="min_labels is at least 1, and min_share a share between 0 and 1",
        )
    if window_rows == 0:
        return Choice(None, "the window holds no answers")
    labelled = f"{realised_labelled:,} of {window_rows:,} rows labelled"
    enough = realised_labelled >= min_labels
    share = realised_labelled >= min_share * window_rows
    if enough and share:
        return Choice("realised", f"{labelled} (at least {min_labels:,} and {min_share:.0%})")
    why = f"fewer than {min_labels:,}" if not enough else f"less than {min_share:.0%}"
    if estimable:
        return Choice("estimated", f"{labelled} ({why}): estimated until more land")
    if enough:
        return Choice("realised", f"{labelled} ({why}), but the model has no estimate")
    return Choice(None, f"{labelled} ({why}) and the model has no estimate")


@dataclass(frozen=True)
class PerformancePoint:
    """One metric for one window: the figure, its interval, how many rows the window holds
    and how many of them are labelled, and whether the figure is realised or estimated."""

    window_start: datetime
    window_end: datetime
    metric: str
    value: float
    low: float
    high: float
    rows: int
    labelled: int
    source: Source

    def __post_init__(self) -> None:
        no_interval = math.isnan(self.low) and math.isnan(self.high)
        inside = self.low <= self.value <= self.high
        if not (math.isnan(self.value) or no_interval or inside):
            raise MonitorError(
                f"performance: {self.metric} {self.value} lies outside its interval "
                f"[{self.low}, {self.high}]",
                fix="give the interval the figure was computed with (NaN for none)",
            )

    @classmethod
    def estimated(
        cls, estimate: Estimate, window_start: datetime, window_end: datetime, labelled: int
    ) -> PerformancePoint:
        """The point of an estimate; `labelled`: the window's labels so far (fewer than the
        rule asks, or it would be realised)."""
        return cls(
            window_start,
            window_end,
            estimate.metric,
            estimate.value,
            estimate.low,
            estimate.high,
            estimate.rows,
            labelled,
            "estimated",
        )
