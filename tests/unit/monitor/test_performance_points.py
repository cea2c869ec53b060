"""The figure a window gets switches from the estimate to the realised metric as labels land,
and says why; a point cannot claim a figure outside its own interval."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weir.core.errors import MonitorError
from weir.monitor.performance import Estimate
from weir.monitor.performance_points import PerformancePoint, combine

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("labelled", "rows", "estimable", "source", "reason"),
    [
        (
            0,
            1000,
            True,
            "estimated",
            "0 of 1,000 rows labelled (fewer than 200): estimated until more land",
        ),
        (
            300,
            1000,
            True,
            "estimated",
            "300 of 1,000 rows labelled (less than 50%): estimated until more land",
        ),
        (500, 1000, True, "realised", "500 of 1,000 rows labelled (at least 200 and 50%)"),
        (
            150,
            200,
            True,
            "estimated",
            "150 of 200 rows labelled (fewer than 200): estimated until more land",
        ),
        (
            300,
            1000,
            False,
            "realised",
            "300 of 1,000 rows labelled (less than 50%), but the model has no estimate",
        ),
        (
            100,
            1000,
            False,
            None,
            "100 of 1,000 rows labelled (fewer than 200) and the model has no estimate",
        ),
        (0, 0, True, None, "the window holds no answers"),
    ],
)
def test_labels_switch_a_window_from_estimated_to_realised(
    labelled: int, rows: int, estimable: bool, source: str | None, reason: str
) -> None:
    choice = combine(labelled, rows, 200, estimable=estimable)
    assert (choice.source, choice.reason) == (source, reason)


@given(rows=st.integers(1, 10_000), data=st.data())
def test_more_labels_never_switch_back_to_the_estimate(rows: int, data: st.DataObject) -> None:
    fewer = data.draw(st.integers(0, rows))
    more = data.draw(st.integers(fewer, rows))
    if combine(fewer, rows, 100).source == "realised":
        assert combine(more, rows, 100).source == "realised"


def test_counts_and_settings_out_of_range_are_refused() -> None:
    with pytest.raises(MonitorError, match="1001 labelled rows in a window of 1000"):
        combine(1001, 1000, 10)
    with pytest.raises(MonitorError, match=r"min_share 1\.5"):
        combine(10, 100, 10, min_share=1.5)
    with pytest.raises(MonitorError, match="min_labels 0"):
        combine(10, 100, 0)


def test_a_point_comes_from_an_estimate_and_keeps_its_interval() -> None:
    estimate = Estimate("f1", 0.71, 0.66, 0.75, rows=900)
    point = PerformancePoint.estimated(estimate, START, END, labelled=40)
    assert (point.metric, point.value, point.low, point.high) == ("f1", 0.71, 0.66, 0.75)
    assert (point.rows, point.labelled, point.source) == (900, 40, "estimated")
    realised = PerformancePoint(START, END, "f1", 0.7, math.nan, math.nan, 900, 850, "realised")
    assert realised.source == "realised"
    with pytest.raises(MonitorError, match="outside its interval"):
        PerformancePoint(START, END, "f1", 0.9, 0.6, 0.8, 900, 0, "estimated")
