"""Cleaning rules against values that bend silently: rounding casts, NaN and Infinity in
statistics, a constant of the wrong type, null keys, Unicode whitespace, a column a rule
would overwrite. Every change is counted; what cannot be done exactly is refused or nulled
as the rule declares."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa
import pytest
from pydantic import TypeAdapter

from weir.core import ConfigError, StepError
from weir.engines import DuckDBEngine
from weir.project.cleaning import CleaningRule
from weir.quality.cleaning import Chain, StageReport, apply_rule

ENGINE = DuckDBEngine(threads=1)
RULE: TypeAdapter[Any] = TypeAdapter(CleaningRule)


def clean(table: pa.Table, *rules: dict[str, Any]) -> tuple[pa.Table, list[StageReport]]:
    chain = Chain(ENGINE, table, "clean.t")
    for index, rule in enumerate(rules):
        apply_rule(chain, RULE.validate_python(rule), index)
    reports = chain.count()
    with ENGINE.query(chain.final_sql(), chain.inputs()) as reader:
        return reader.read_all(), reports


def cast(values: pa.Array, to: str) -> tuple[list[Any], int]:
    out, [report] = clean(
        pa.table({"v": values}), {"rule": "cast", "column": "v", "to": to, "on_error": "null"}
    )
    return out.column("v").to_pylist(), report.changed_values


# cast: a value that would change is not converted -----------------------------------------


def test_text_that_is_no_integer_is_not_rounded() -> None:
    values, nulled = cast(
        pa.array(["1.5", "2.5", "0x10", "1_000", "1e3", " 7 ", "+3", "4.0"]), "int64"
    )
    assert values == [None, None, None, None, None, 7, 3, 4] and nulled == 5


def test_a_fraction_is_not_rounded_to_an_integer() -> None:
    values, nulled = cast(pa.array([1.5, -0.5, 2.0, math.nan, math.inf, 1e30]), "int64")
    assert values == [None, None, 2, None, None, None] and nulled == 5


def test_text_that_is_no_finite_float_does_not_become_nan_or_infinity() -> None:
    values, nulled = cast(
        pa.array(["NaN", "inf", "-Infinity", "1e400", "1e-400", "0", "0.5"]), "float64"
    )
    assert values == [None, None, None, None, None, 0.0, 0.5] and nulled == 5
    values, nulled = cast(pa.array(["1e39", "1e-50", "1.5"]), "float32")
    assert values == [None, None, 1.5] and nulled == 2


def test_an_integer_a_float_cannot_hold_exactly_is_not_converted() -> None:
    values, nulled = cast(pa.array([2**53, 2**53 + 1, 16_777_217]), "float64")
    assert values == [float(2**53), None, 16_777_217.0] and nulled == 1
    values, nulled = cast(pa.array([16_777_216, 16_777_217]), "float32")
    assert values == [16_777_216.0, None] and nulled == 1


def test_a_number_other_than_0_or_1_is_no_boolean() -> None:
    values, nulled = cast(pa.array([0, 1, 2, -1]), "bool")
    assert values == [False, True, None, None] and nulled == 2


def test_a_date_outside_years_1_to_9999_is_not_converted() -> None:
    values, nulled = cast(
        pa.array(["0000-01-01", "-0001-05-05", "10000-01-01", "0001-01-01"]), "date"
    )
    assert values == [None, None, None, dt.date(1, 1, 1)] and nulled == 3


def test_a_time_of_day_is_not_dropped_to_make_a_date() -> None:
    values, nulled = cast(
        pa.array(
            ["2025-06-01 10:00", "2025-06-01 00:00:00+05", "2025-06-01T00:00:00", "2025-06-01"]
        ),
        "date",
    )
    assert values == [None, None, dt.date(2025, 6, 1), dt.date(2025, 6, 1)] and nulled == 2


def test_a_time_without_an_offset_is_not_read_as_utc() -> None:
    utc = dt.UTC
    values, nulled = cast(
        pa.array(
            [
                "2025-06-01 10:00:00",  # a wall-clock time: parse_datetime and a timezone
                "2025-06-01",
                "2025-10-26 02:30:00 Europe/Berlin",  # the engine would pick an hour
                "2025-06-01 10:00:00.1234567",  # the 7 would be dropped
                "9999-12-31 23:00:00-05:00",  # year 10000 in UTC
                "2025-06-01T10:00:00+02:00",
                "2025-06-01 10:00:00Z",
                "2025-06-01 10:00:00.5 UTC",
            ]
        ),
        "timestamp",
    )
    assert values[:5] == [None] * 5 and nulled == 5
    assert values[5:] == [
        dt.datetime(2025, 6, 1, 8, tzinfo=utc),
        dt.datetime(2025, 6, 1, 10, tzinfo=utc),
        dt.datetime(2025, 6, 1, 10, 0, 0, 500_000, tzinfo=utc),
    ]


def test_the_failure_says_why_a_cast_keeps_values() -> None:
    with pytest.raises(StepError) as caught:
        clean(pa.table({"v": ["1.5"]}), {"rule": "cast", "column": "v", "to": "int64"})
    assert "'1.5'" in str(caught.value) and "exact" in str(caught.value.fix)


# fill_missing -------------------------------------------------------------------------------


def test_a_constant_that_does_not_fit_the_column_is_refused_before_running() -> None:
    table = pa.table({"v": pa.array([1, None], pa.int64())})
    for value in ("abc", 2.7, 1e30):
        with pytest.raises(ConfigError, match=r"rules\.0 \(fill_missing\).*'v'"):
            clean(
                table,
                {"rule": "fill_missing", "columns": ["v"], "strategy": "constant", "value": value},
            )
    out, _ = clean(
        table, {"rule": "fill_missing", "columns": ["v"], "strategy": "constant", "value": 3.0}
    )
    assert out.column("v").to_pylist() == [1, 3]


@pytest.mark.parametrize("strategy", ["mean", "median", "mode"])
def test_nan_and_infinity_are_not_statistics(strategy: str) -> None:
    table = pa.table({"v": [1.0, 3.0, math.nan, math.inf, -math.inf, None, math.nan]})
    out, [report] = clean(table, {"rule": "fill_missing", "columns": ["v"], "strategy": strategy})
    filled = out.column("v").to_pylist()[5]
    assert filled in (1.0, 2.0, 3.0) and report.changed_values == 1
    assert report.stats[strategy]["v"] == filled


@pytest.mark.parametrize("strategy", ["mean", "median", "mode"])
def test_a_table_without_rows_has_nothing_to_fill(strategy: str) -> None:
    table = pa.table({"v": pa.array([], pa.float64())})
    out, [report] = clean(table, {"rule": "fill_missing", "columns": ["v"], "strategy": strategy})
    assert (
        out.num_rows == 0 and report.changed_values == 0 and report.stats[strategy] == {"v": None}
    )


def test_a_mean_of_the_largest_integers_fits_the_column() -> None:
    # a mean taken as a float (9.223372036854776e18) was too large for int64 and refused
    table = pa.table({"v": pa.array([2**63 - 1, 2**63 - 1, None], pa.int64())})
    out, _ = clean(table, {"rule": "fill_missing", "columns": ["v"], "strategy": "mean"})
    assert out.column("v").to_pylist()[2] == 2**63 - 1


def test_the_value_filled_is_the_one_recorded() -> None:
    out, [report] = clean(
        pa.table({"v": pa.array([1, 2, None], pa.int64())}),
        {"rule": "fill_missing", "columns": ["v"], "strategy": "mean"},
    )
    assert out.column("v").to_pylist()[2] == report.stats["filled_with"]["v"]
    assert report.stats["mean"] == {"v": 1.5}


# outliers -----------------------------------------------------------------------------------


def test_outlier_fences_come_from_finite_values_and_infinity_is_clipped() -> None:
    table = pa.table({"v": [10.0, 11.0, 12.0, 13.0, 14.0, math.inf, -math.inf, math.nan, None]})
    out, [report] = clean(
        table, {"rule": "outliers", "column": "v", "method": "iqr", "action": "clip"}
    )
    low, high = report.stats["lower_fence"], report.stats["upper_fence"]
    assert math.isfinite(low) and math.isfinite(high)
    values = out.column("v").to_pylist()
    assert values[5:7] == [high, low] and math.isnan(values[7]) and values[8] is None
    assert report.changed_values == 2 and report.stats["not_numbers"] == 1


def test_an_integer_is_clipped_to_within_the_fences() -> None:
    table = pa.table({"v": list(range(101))})
    rule = {"rule": "outliers", "column": "v", "method": "percentile", "action": "clip"}
    out, [report] = clean(table, rule | {"lower": 0.105, "upper": 0.895})
    low, high = report.stats["lower_fence"], report.stats["upper_fence"]
    values = out.column("v").to_pylist()
    assert all(low <= v <= high for v in values), (low, high, min(values), max(values))


@pytest.mark.parametrize("method", ["zscore", "percentile", "iqr"])
def test_outliers_of_nan_and_infinity_alone_change_nothing(method: str) -> None:
    table = pa.table({"v": [math.nan, math.inf, None]})
    out, [report] = clean(
        table, {"rule": "outliers", "column": "v", "method": method, "action": "flag"}
    )
    assert report.stats["upper_fence"] is None and out.column("v_outlier").to_pylist() == [
        False,
        False,
        False,
    ]


def test_a_flag_column_that_exists_is_not_renamed_silently() -> None:
    table = pa.table({"v": [1.0, 2.0, 100.0], "v_outlier": [True, False, False]})
    with pytest.raises(ConfigError, match="v_outlier"):
        clean(table, {"rule": "outliers", "column": "v", "method": "zscore", "action": "flag"})


# deduplicate, forward_fill --------------------------------------------------------------------


def test_rows_with_a_null_key_are_not_duplicates_of_each_other() -> None:
    table = pa.table({"k": [None, None, 1, 1], "t": [1, 2, 1, 2], "v": ["a", "b", "c", "d"]})
    out, [report] = clean(table, {"rule": "deduplicate", "key": ["k"], "order_by": "t"})
    assert sorted(out.column("v").to_pylist()) == ["a", "b", "c"] and report.removed_rows == 1
    assert out.num_rows + report.removed_rows == table.num_rows


def test_forward_fill_between_rows_at_the_same_time_is_the_same_every_run() -> None:
    rows = [{"k": 1, "t": 1, "v": v} for v in ("a", "b", "c", "d")] + [{"k": 1, "t": 2, "v": None}]
    results = set()
    for shift in range(4):  # the same rows in other orders
        ordered = rows[shift:4] + rows[:shift] + rows[4:]
        out, _ = clean(
            pa.Table.from_pylist(ordered),
            {"rule": "forward_fill", "columns": ["v"], "by": ["k"], "order_by": "t"},
        )
        results.add(next(r["v"] for r in out.to_pylist() if r["t"] == 2))
    assert len(results) == 1


def test_forward_fill_leaves_a_row_without_a_time_alone() -> None:
    table = pa.table({"k": [1, 1, 1], "t": [1, None, 2], "v": ["a", None, None]})
    out, [report] = clean(
        table, {"rule": "forward_fill", "columns": ["v"], "by": ["k"], "order_by": "t"}
    )
    got = {r["t"]: r["v"] for r in out.to_pylist()}
    assert got == {1: "a", None: None, 2: "a"} and report.changed_values == 1


# text ---------------------------------------------------------------------------------------


def test_unicode_whitespace_is_whitespace() -> None:
    table = pa.table(
        {"s": ["\t a \n", "\u00a0b\u3000", "c\u2003 \u2028d", "\u0085e\x0b", "f\u200b", None, ""]}
    )
    trimmed, [r1] = clean(table, {"rule": "trim", "columns": ["s"]})
    assert trimmed.column("s").to_pylist() == [
        "a",
        "b",
        "c\u2003 \u2028d",
        "e",
        "f\u200b",
        None,
        "",
    ]
    assert r1.changed_values == 3
    spaced, [r2] = clean(table, {"rule": "normalise_whitespace", "columns": ["s"]})
    assert spaced.column("s").to_pylist() == ["a", "b", "c d", "e", "f\u200b", None, ""]
    assert r2.changed_values == 4


# review: exact digits, times of day, constants of another type ------------------------------


def test_a_time_of_day_is_not_dropped_from_a_timestamp_column_to_make_a_date() -> None:
    utc = dt.UTC
    instants = [dt.datetime(2024, 1, 1, 10, 30, tzinfo=utc), dt.datetime(2024, 1, 2, tzinfo=utc)]
    values, nulled = cast(pa.array(instants, pa.timestamp("us", tz="UTC")), "date")
    assert values == [None, dt.date(2024, 1, 2)] and nulled == 1
    walls = [dt.datetime(2024, 1, 1, 23, 59), dt.datetime(2024, 1, 2)]
    values, nulled = cast(pa.array(walls, pa.timestamp("us")), "date")
    assert values == [None, dt.date(2024, 1, 2)] and nulled == 1
    nanos = pa.array([86_400 * 10**9 + 500, 86_400 * 10**9], pa.timestamp("ns"))
    values, nulled = cast(nanos, "date")
    assert values == [None, dt.date(1970, 1, 2)] and nulled == 1


def test_a_decimal_a_float_cannot_hold_is_not_rounded() -> None:
    import decimal

    values, nulled = cast(
        pa.array(
            [decimal.Decimal("12345678901234567.89"), decimal.Decimal("0.10")],
            pa.decimal128(19, 2),
        ),
        "float64",
    )
    assert values == [None, 0.1] and nulled == 1


@pytest.mark.parametrize("value", [1.239, "1.239", "1e2", True])
def test_a_constant_is_not_rounded_into_a_decimal_column(value: Any) -> None:
    import decimal

    table = pa.table({"v": pa.array([decimal.Decimal("1.00"), None], pa.decimal128(10, 2))})
    with pytest.raises(ConfigError, match=r"rules\.0 \(fill_missing\).*'v'") as caught:
        clean(
            table,
            {"rule": "fill_missing", "columns": ["v"], "strategy": "constant", "value": value},
        )
    assert "DECIMAL(10,2)" in str(caught.value) and caught.value.fix


@pytest.mark.parametrize("value", [1.5, "1.50", " -1.5 ", 2, 0.1])
def test_a_constant_a_decimal_column_holds_exactly_fills_it(value: Any) -> None:
    import decimal

    table = pa.table({"v": pa.array([decimal.Decimal("1.00"), None], pa.decimal128(10, 2))})
    out, [report] = clean(
        table, {"rule": "fill_missing", "columns": ["v"], "strategy": "constant", "value": value}
    )
    filled = out.column("v").to_pylist()[1]
    assert filled == decimal.Decimal(str(value).strip()) and report.changed_values == 1


def test_a_boolean_constant_fills_only_a_boolean_column() -> None:
    for column, value in ((pa.array([1, None], pa.int64()), True), ([1.0, None], False)):
        with pytest.raises(ConfigError, match=r"rules\.0 \(fill_missing\).*'v'"):
            clean(
                pa.table({"v": column}),
                {"rule": "fill_missing", "columns": ["v"], "strategy": "constant", "value": value},
            )
    with pytest.raises(ConfigError, match=r"rules\.0 \(fill_missing\).*'v'"):
        clean(
            pa.table({"v": [True, None]}),
            {"rule": "fill_missing", "columns": ["v"], "strategy": "constant", "value": 1},
        )
    out, _ = clean(
        pa.table({"v": [True, None]}),
        {"rule": "fill_missing", "columns": ["v"], "strategy": "constant", "value": False},
    )
    assert out.column("v").to_pylist() == [True, False]


@pytest.mark.parametrize("method", ["iqr", "percentile", "zscore"])
def test_clipping_a_decimal_column_leaves_the_values_within_the_fences_as_they_are(
    method: str,
) -> None:
    import decimal

    inliers = [
        decimal.Decimal("12345678901234567.81") + decimal.Decimal(i) / 100 for i in range(11)
    ]
    values = [*inliers, decimal.Decimal("99999999999999999.99")]
    out, [report] = clean(
        pa.table({"v": pa.array(values, pa.decimal128(38, 2))}),
        {"rule": "outliers", "column": "v", "method": method, "action": "clip"},
    )
    low, high = (decimal.Decimal(str(report.stats[f"{e}_fence"])) for e in ("lower", "upper"))
    clipped = out.column("v").to_pylist()
    outside = [v for v in values if not low <= v <= high]
    assert values[-1] in outside and report.changed_values == len(outside)
    for before, after in zip(values, clipped, strict=True):
        assert after == before if before not in outside else low <= after <= high


def test_clipping_a_bigint_column_does_not_round_the_values_it_keeps() -> None:
    values = [2**60 + i for i in range(11)] + [2**62]
    out, [report] = clean(
        pa.table({"v": pa.array(values, pa.int64())}),
        {"rule": "outliers", "column": "v", "method": "zscore", "action": "clip"},
    )
    assert out.column("v").to_pylist()[:11] == values[:11] and report.changed_values == 1


def test_a_mean_or_median_of_integers_or_decimals_is_exact() -> None:
    import decimal

    big = 2**60
    rule = {"rule": "fill_missing", "columns": ["v"]}
    out, [report] = clean(
        pa.table({"v": pa.array([big + 1, big + 1, None], pa.int64())}), rule | {"strategy": "mean"}
    )
    assert out.column("v").to_pylist()[2] == big + 1 and "filled_with" not in report.stats
    out, [report] = clean(
        pa.table({"v": pa.array([big + 1, big + 3, None], pa.int64())}),
        rule | {"strategy": "median"},
    )
    assert out.column("v").to_pylist()[2] == big + 2  # not 2^60, below both values
    assert report.stats["median"] == {"v": str(big + 2)}  # a float would not say it
    d = decimal.Decimal
    out, [report] = clean(
        pa.table({"v": pa.array([d("1.01"), d("1.02"), None], pa.decimal128(10, 2))}),
        rule | {"strategy": "median"},
    )
    assert report.stats["median"] == {"v": "1.015"}  # not 1.01, the median in the column's type
    assert report.stats["filled_with"] == {"v": "1.02"} and out.column("v")[2].as_py() == d("1.02")
    values = [d("12345678901234567.89"), d("12345678901234567.89"), None]
    out, [report] = clean(
        pa.table({"v": pa.array(values, pa.decimal128(38, 2))}), rule | {"strategy": "mean"}
    )
    assert out.column("v").to_pylist()[2] == values[0] and "filled_with" not in report.stats
