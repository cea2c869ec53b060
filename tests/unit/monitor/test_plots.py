"""The monitoring report's figures: valid SVG for every edge a window can have, text that
stays text (so what a figure names can be checked), bins and bars as promised."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from weir.monitor import plots

SVG = "{http://www.w3.org/2000/svg}svg"
WINDOWS = [f"rows {i * 150}-{i * 150 + 149}" for i in range(30)]


def svg(text: str) -> ET.Element:
    """The figure parsed: it is one well-formed <svg> element, with no script in it."""
    root = ET.fromstring(text)
    assert root.tag == SVG
    assert "<script" not in text and "<metadata" not in text
    return root


def texts(text: str) -> str:
    return " ".join(t for t in svg(text).itertext())


# distributions -----------------------------------------------------------------------------


def test_a_shifted_window_is_drawn_over_shared_bins_with_both_sides_counted() -> None:
    rng = np.random.default_rng(0)
    drawn = plots.numeric_distribution(rng.normal(size=800), rng.normal(1.5, size=150), title="v")
    said = texts(drawn)
    assert "reference (800 rows)" in said and "current (150 rows)" in said and "v" in said


@pytest.mark.parametrize(
    ("reference", "current", "said"),
    [
        (np.arange(100.0), np.array([]), "current (no rows)"),  # an empty window
        (np.full(10, np.nan), np.full(5, np.nan), "no values on either side"),  # all null
        (np.ones(10), np.ones(5), "current (5 rows)"),  # a constant column
        (np.array([1.0, np.nan, np.nan, 2.0]), np.array([np.inf, 1.0]), "50.0% missing"),
        (np.array([5.0]), np.array([5.0]), "reference (1 rows)"),  # one row each
    ],
)
def test_edge_windows_still_give_a_figure(
    reference: np.ndarray, current: np.ndarray, said: str
) -> None:
    assert said in texts(plots.numeric_distribution(reference, current, title="x"))


def test_shared_edges_span_both_sides_and_a_constant_gets_a_unit_span() -> None:
    edges = plots.shared_edges(np.arange(100.0), np.arange(50.0, 250.0))
    assert len(edges) == plots.BINS + 1
    assert edges[0] <= 1.0 and edges[-1] >= 248.0
    assert list(plots.shared_edges(np.full(5, 3.0), np.full(2, 3.0))[[0, -1]]) == [2.5, 3.5]
    assert list(plots.shared_edges(np.array([]), np.array([]))) == [-0.5, 0.5]


def test_a_few_wild_values_do_not_squeeze_the_rest_into_one_bin() -> None:
    values = np.concatenate([np.random.default_rng(1).normal(size=10_000), [1e12, -np.inf]])
    edges = plots.shared_edges(values, values)
    assert edges[-1] < 10 and edges[0] > -10  # the wild ones land in the outer bins


def test_category_shares_mark_new_categories_and_name_the_others() -> None:
    drawn = plots.category_distribution(
        {"lyon": 10, "nice": 5}, {"lyon": 3, "paris": 2}, title="city"
    )
    said = texts(drawn)
    assert "lyon" in said and "nice" in said and "paris (new)" in said  # text stays text


def test_a_thousand_categories_are_capped_and_the_largest_new_ones_kept() -> None:
    reference = {f"c{i}": i + 1 for i in range(1000)}
    current = {**reference, "rare_new": 1, **{f"n{i}": 1 for i in range(50)}}
    bars = plots.category_bars(reference, current)
    assert len(bars.names) <= plots.CATEGORY_BARS
    assert "rare_new" not in bars.names or bars.new[bars.names.index("rare_new")]
    assert sum(bars.new) >= plots.NEW_BARS  # however small, new categories are drawn
    assert "other (990 categories)" in bars.names and "other (48 new categories)" in bars.names
    assert bars.reference.sum() == pytest.approx(1.0) and bars.current.sum() == pytest.approx(1.0)
    assert bars.pooled == 990 + 48
    said = texts(plots.category_distribution(reference, current, title="many"))
    assert "other (990 categories)" in said and "c500" not in said


def test_missing_is_a_bar_but_not_a_new_category_and_ties_go_by_name() -> None:
    bars = plots.category_bars({"b": 1, "a": 1}, {plots.MISSING: 1, "a": 1})
    assert bars.names == (plots.MISSING, "a", "b")
    assert not bars.new.any()


def test_names_are_text_not_markup_nor_math() -> None:
    hostile = {"<script>alert(1)</script>": 3, "$5-$10": 2, "$\\frac{": 1, "a & b": 1}
    drawn = plots.category_distribution(hostile, {"$\\frac{": 4}, title="<b>c</b>")
    said = texts(drawn)  # parsed as XML: the names did not become elements
    assert "<script>alert(1)</script>" in said and "$5-$10" in said and "<b>c</b>" in said


def test_no_rows_on_either_side_is_said() -> None:
    assert "no rows on either side" in texts(plots.category_distribution({}, {}, title="c"))


# over time ---------------------------------------------------------------------------------


@given(
    value=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    threshold=st.one_of(st.floats(min_value=0, max_value=1e6), st.just(float("inf"))),
)
def test_the_ratio_is_above_one_exactly_where_a_test_says_drift(
    value: float, threshold: float
) -> None:
    ratio = float(plots.drift_ratio(np.array([value]), np.array([threshold]))[0])
    assert (ratio > 1) == (value > threshold)
    assert ratio >= 0


def test_an_untested_column_stays_missing() -> None:
    ratios = plots.drift_ratio(np.array([np.nan, 0.0]), np.array([1.0, 0.0]))
    assert np.isnan(ratios[0]) and ratios[1] == 0.0


def test_thirty_windows_by_twenty_columns_and_a_single_window() -> None:
    rng = np.random.default_rng(2)
    columns = [f"col{i}" for i in range(20)]
    ratios = rng.lognormal(size=(20, 30))
    ratios[0, 3] = np.nan  # not tested in one window
    said = texts(plots.drift_heatmap(WINDOWS, columns, ratios, ratios > 1))
    assert "col19" in said and WINDOWS[-1] in said  # the newest window is always named
    assert sum(name in said for name in WINDOWS) <= plots.WINDOW_TICKS
    svg(plots.drift_lines(WINDOWS, columns[:3], ratios[:3], ratios[:3] > 1))
    one = plots.drift_heatmap(WINDOWS[:1], ["v"], np.array([[2.0]]), np.array([[True]]))
    assert WINDOWS[0] in texts(one)
    assert "no drift verdict" in texts(
        plots.drift_heatmap([], [], np.empty((0, 0)), np.empty((0, 0)))
    )


def _series(count: int, **changed: np.ndarray) -> plots.PerformanceSeries:
    estimated = np.linspace(0.7, 0.9, count)
    values = {
        "estimated": estimated,
        "low": estimated - 0.05,
        "high": estimated + 0.05,
        "realised": np.where(np.arange(count) < count // 2, estimated, np.nan),
        "labels": np.full(count, 150, dtype=np.int64),
        "floor": np.full(count, 0.75),
    } | changed
    return plots.PerformanceSeries("accuracy", **values)


def test_performance_draws_estimates_realised_values_their_labels_and_the_floor() -> None:
    said = texts(plots.performance_over_time(WINDOWS, _series(30)))
    assert "accuracy" in said and "150" in said and "floor" in said
    one = texts(plots.performance_over_time(WINDOWS[:1], _series(1)))
    assert "estimated (CBPE)" in one


def test_performance_without_any_value_says_so() -> None:
    empty = _series(3, estimated=np.full(3, np.nan), realised=np.full(3, np.nan))
    assert "no window has" in texts(plots.performance_over_time(WINDOWS[:3], empty))
    no_floor = _series(3, floor=np.full(3, np.nan))
    assert "floor" not in texts(plots.performance_over_time(WINDOWS[:3], no_floor))


def test_the_timeline_shows_alerts_on_their_windows_and_skips_the_others() -> None:
    events = [
        plots.TimelineEvent("drift", 29, "opened"),
        plots.TimelineEvent("drift", 99, "resolved"),  # beyond the windows shown
        plots.TimelineEvent("elsewhere", 1, "opened"),  # a check not shown
    ]
    statuses: dict[str, list[plots.Status | None]] = {
        "drift": ["ok"] * 29 + ["bad"],
        "performance": [None] * 10 + ["undecided"] * 20,
    }
    said = texts(plots.status_timeline(WINDOWS, statuses, events))
    assert "drift" in said and "performance" in said and "alert opened" in said
    assert "nothing judged yet" in texts(plots.status_timeline([], {}))
