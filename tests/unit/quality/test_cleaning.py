from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


def column(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist()


def test_drop_missing_counts_removed_rows() -> None:
    out, [report] = clean(
        pa.table({"a": [1, None, 3], "b": ["x", "y", None]}),
        {"rule": "drop_missing", "columns": ["a", "b"]},
    )
    assert column(out, "a") == [1] and report.removed_rows == 2


@pytest.mark.parametrize(
    ("strategy", "expected", "stat"),
    [("mean", 3.0, 3.0), ("median", 2.0, 2.0), ("mode", 2.0, 2.0)],
)
def test_fill_from_statistics_records_them(strategy: str, expected: float, stat: float) -> None:
    out, [report] = clean(
        pa.table({"v": [2.0, 2.0, 5.0, None]}),
        {"rule": "fill_missing", "columns": ["v"], "strategy": strategy},
    )
    assert column(out, "v")[-1] == expected
    assert report.changed_values == 1 and report.stats == {strategy: {"v": stat}}


def test_fill_constant_keeps_the_column_type_and_unicode() -> None:
    out, [report] = clean(
        pa.table({"s": ["ß", None, None]}),
        {"rule": "fill_missing", "columns": ["s"], "strategy": "constant", "value": "未知"},
    )
    assert column(out, "s") == ["ß", "未知", "未知"] and report.changed_values == 2


def test_fill_mean_of_an_all_null_column_is_an_error() -> None:
    with pytest.raises(StepError, match="no values to take a mean"):
        clean(
            pa.table({"v": pa.nulls(3, pa.float64())}),
            {"rule": "fill_missing", "columns": ["v"], "strategy": "mean"},
        )


def test_mean_of_text_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs numbers"):
        clean(
            pa.table({"s": ["a"]}), {"rule": "fill_missing", "columns": ["s"], "strategy": "mean"}
        )


def test_forward_fill_within_each_key_in_time_order() -> None:
    table = pa.table({"k": [1, 1, 1, 2, 2], "t": [3, 1, 2, 1, 2], "v": [None, 10, None, None, 7]})
    out, [report] = clean(
        table, {"rule": "forward_fill", "columns": ["v"], "by": ["k"], "order_by": "t"}
    )
    got = {(r["k"], r["t"]): r["v"] for r in out.to_pylist()}
    assert got == {(1, 1): 10, (1, 2): 10, (1, 3): 10, (2, 1): None, (2, 2): 7}
    assert report.changed_values == 2


def test_deduplicate_exact_and_by_key_keeping_first_or_last() -> None:
    table = pa.table({"id": [1, 1, 1, 2], "ts": [3, 1, 1, 5], "v": ["c", "a", "a", "x"]})
    out, [report] = clean(table, {"rule": "deduplicate"})
    assert out.num_rows == 3 and report.removed_rows == 1
    first, _ = clean(
        table, {"rule": "deduplicate", "key": ["id"], "keep": "first", "order_by": "ts"}
    )
    assert sorted((r["id"], r["v"]) for r in first.to_pylist()) == [(1, "a"), (2, "x")]
    last, [report] = clean(
        table, {"rule": "deduplicate", "key": ["id"], "keep": "last", "order_by": "ts"}
    )
    assert (
        sorted((r["id"], r["v"]) for r in last.to_pylist()) == [(1, "c"), (2, "x")]
        and report.removed_rows == 2
    )


def test_outliers_clip_by_iqr_and_record_fences() -> None:
    values = [10.0, 11.0, 12.0, 13.0, 14.0, 1000.0, None]
    out, [report] = clean(
        pa.table({"v": values}),
        {"rule": "outliers", "column": "v", "method": "iqr", "action": "clip", "k": 1.5},
    )
    upper = report.stats["upper_fence"]
    assert (
        upper == pytest.approx(13.75 + 1.5 * 2.5)
        and max(v for v in column(out, "v") if v is not None) == upper
    )
    assert report.changed_values == 1 and column(out, "v")[-1] is None


def test_outliers_flag_by_zscore_and_percentile_clip_keeps_int_type() -> None:
    flagged, [report] = clean(
        pa.table({"v": [1.0] * 20 + [100.0]}),
        {"rule": "outliers", "column": "v", "method": "zscore", "action": "flag", "threshold": 3},
    )
    assert column(flagged, "v_outlier").count(True) == 1 and report.changed_values == 1
    clipped, _ = clean(
        pa.table({"v": list(range(101))}),
        {
            "rule": "outliers",
            "column": "v",
            "method": "percentile",
            "action": "clip",
            "lower": 0.1,
            "upper": 0.9,
        },
    )
    assert (
        clipped.schema.field("v").type == pa.int64()
        and min(column(clipped, "v")) == 10
        and max(column(clipped, "v")) == 90
    )


def test_outliers_on_an_empty_table_change_nothing() -> None:
    out, [report] = clean(
        pa.table({"v": pa.array([], pa.float64())}),
        {"rule": "outliers", "column": "v", "method": "iqr", "action": "clip"},
    )
    assert out.num_rows == 0 and report.stats["upper_fence"] is None


def test_cast_with_null_policy_counts_failures_and_fail_policy_names_examples() -> None:
    table = pa.table({"v": ["1", "2", "x", None]})
    out, [report] = clean(table, {"rule": "cast", "column": "v", "to": "int64", "on_error": "null"})
    assert column(out, "v") == [1, 2, None, None] and report.changed_values == 1
    with pytest.raises(StepError, match=r"e\.g\. 'x'"):
        clean(table, {"rule": "cast", "column": "v", "to": "int64"})


def test_text_rules() -> None:
    table = pa.table({"s": ["  Hello   wORLD ", "ÉCOLE", None]})
    trimmed, [r1] = clean(table, {"rule": "trim", "columns": ["s"]})
    assert column(trimmed, "s")[0] == "Hello   wORLD" and r1.changed_values == 1
    spaced, _ = clean(table, {"rule": "normalise_whitespace", "columns": ["s"]})
    assert column(spaced, "s")[0] == "Hello wORLD"
    lower, [r3] = clean(table, {"rule": "case", "columns": ["s"], "to": "lower"})
    assert column(lower, "s")[:2] == ["  hello   world ", "école"] and r3.changed_values == 2
    title, _ = clean(spaced, {"rule": "case", "columns": ["s"], "to": "title"})
    assert column(title, "s")[:2] == ["Hello World", "École"]


def test_parse_datetime_with_formats_and_zones() -> None:
    table = pa.table({"d": ["03/02/2026 10:11", "2026-02-03T10:11:00+0100", None]})
    rule = {
        "rule": "parse_datetime",
        "column": "d",
        "formats": ["%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M:%S%z"],
        "timezone": "Europe/Paris",
    }
    out, [report] = clean(table, rule)
    utc = dt.UTC
    assert column(out, "d") == [
        dt.datetime(2026, 2, 3, 9, 11, tzinfo=utc),
        dt.datetime(2026, 2, 3, 9, 11, tzinfo=utc),
        None,
    ]
    assert report.changed_values == 2
    with pytest.raises(StepError, match="'yesterday'"):
        clean(pa.table({"d": ["yesterday"]}), rule)


def test_rules_apply_in_order_each_on_the_result_of_the_last() -> None:
    table = pa.table({"id": [1, 1, 2], "s": [" a ", " a ", None]})
    out, reports = clean(
        table,
        {"rule": "trim", "columns": ["s"]},
        {"rule": "deduplicate"},
        {"rule": "fill_missing", "columns": ["s"], "strategy": "constant", "value": "none"},
    )
    assert sorted(column(out, "s")) == ["a", "none"]
    assert [(r.rule, r.changed_values, r.removed_rows) for r in reports] == [
        ("trim", 2, 0),
        ("deduplicate", 0, 1),
        ("fill_missing", 1, 0),
    ]


def test_unknown_columns_are_named_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean 'amount'"):
        clean(pa.table({"amount": [1.0]}), {"rule": "trim", "columns": ["amout"]})


@settings(max_examples=30, deadline=None)
@given(st.lists(st.none() | st.integers(-50, 50), max_size=40), st.integers(-5, 5))
def test_counts_match_a_python_oracle(values: list[int | None], fill: int) -> None:
    table = pa.table({"v": pa.array(values, pa.int64())})
    out, [dropped] = clean(table, {"rule": "drop_missing", "columns": ["v"]})
    assert dropped.removed_rows == values.count(None) and out.num_rows == len(
        values
    ) - values.count(None)
    filled, [report] = clean(
        table, {"rule": "fill_missing", "columns": ["v"], "strategy": "constant", "value": fill}
    )
    assert report.changed_values == values.count(None)
    assert column(filled, "v") == [fill if v is None else v for v in values]
    deduped, [report] = clean(table, {"rule": "deduplicate"})
    assert deduped.num_rows == len(set(values)) and report.removed_rows == len(values) - len(
        set(values)
    )
