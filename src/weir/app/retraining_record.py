"""Comparisons as the catalog's measures: one per version and comparison, with the rows it
rests on, so `weir monitor --history` and the report show what a decision was made on."""

from __future__ import annotations

import math
from collections.abc import Sequence

from weir.app.retraining_compare import Comparison
from weir.app.retraining_score import bar, gain
from weir.catalog import Measure


def comparison_measures(
    compared: Comparison, first: str, second: str, margin: float
) -> tuple[Measure, ...]:
    """`first` (the champion, or a rollback's predecessor) at its own value, and `second`
    against the bar it had to reach: `margin` better than `first` (negative: allowed worse)."""
    if compared.first is None or compared.second is None:
        return ()
    if not (math.isfinite(compared.first) and math.isfinite(compared.second)):
        return ()
    detail = f"{compared.where}" + (f"; {compared.note}" if compared.note else "")
    own = Measure(
        name=first,
        test=compared.kind,
        statistic=compared.metric,
        value=compared.first,
        threshold=compared.first,
        bad=False,
        rows=compared.rows,
        detail=detail,
    )
    other = Measure(
        name=second,
        test=compared.kind,
        statistic=compared.metric,
        value=compared.second,
        threshold=bar(compared.metric, compared.first, margin),
        bad=not gain(compared.metric, compared.first, compared.second) >= margin,
        rows=compared.rows,
        detail=detail,
    )
    return own, other


def all_measures(
    comparisons: Sequence[Comparison], first: str, second: str, margin: float
) -> tuple[Measure, ...]:
    return tuple(m for c in comparisons for m in comparison_measures(c, first, second, margin))
