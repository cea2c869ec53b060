from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from weir.engines import DuckDBEngine
from weir.project.model import CheckConfig
from weir.quality import CheckOutcome, run_checks

ENGINE = DuckDBEngine(threads=1)
ADAPTER: TypeAdapter[Any] = TypeAdapter(CheckConfig)


def check(table: pa.Table, **config: Any) -> list[CheckOutcome]:
    return run_checks(ENGINE, ds.dataset(table), [ADAPTER.validate_python(config)])


def one(table: pa.Table, **config: Any) -> CheckOutcome:
    [outcome] = check(table, **config)
    return outcome


def test_not_null_reports_each_column() -> None:
    table = pa.table({"a": [1, None, 3], "b": ["x", "y", "z"]})
    results = check(table, rule="not_null", columns=["a", "b"])
    assert [(r.check, r.passed, r.failing) for r in results] == [
        ("not_null(a)", False, 1),
        ("not_null(b)", True, 0),
    ]


def test_all_null_and_empty_tables() -> None:
    assert (
        one(pa.table({"a": pa.nulls(3, pa.int64())}), rule="not_null", columns=["a"]).failing == 3
    )
    empty = pa.table({"a": pa.array([], pa.int64())})
    assert one(empty, rule="not_null", columns=["a"]).passed
    assert not one(empty, rule="row_count", min=1).passed


def test_unique_counts_every_row_in_a_duplicated_key() -> None:
    table = pa.table({"k": [1, 1, 2, 3, 3, 3], "j": ["a", "a", "b", "c", "d", "c"]})
    assert one(table, rule="unique", columns=["k"]).failing == 5
    assert one(table, rule="unique", columns=["k", "j"]).failing == 4


def test_unique_does_not_count_null_keys_as_duplicates() -> None:
    # as deduplicate keeps rows with a null key; nulls are not_null's to judge
    assert one(pa.table({"k": [None, None, 1]}), rule="unique", columns=["k"]).failing == 0


def test_accepted_values_ignores_nulls_and_handles_unicode_and_quotes() -> None:
    table = pa.table({"c": ["ß", "O'Brien", None, "x"]})
    result = one(table, rule="accepted_values", column="c", values=["ß", "O'Brien"])
    assert (result.passed, result.failing) == (False, 1)


def test_range_bounds_are_inclusive_and_extreme_values_work() -> None:
    table = pa.table({"v": [0.0, 10.0, 1e308, -1e308, None]})
    assert one(table, rule="range", column="v", min=0, max=10).failing == 2
    assert one(table, rule="range", column="v", min=-1e308).passed


def test_row_count_bounds() -> None:
    table = pa.table({"a": [1, 2, 3]})
    assert one(table, rule="row_count", min=3, max=3).passed
    result = one(table, rule="row_count", max=2)
    assert not result.passed and "3 rows" in result.detail


def test_missing_column_fails_with_a_suggestion() -> None:
    result = one(pa.table({"amount": [1]}), rule="not_null", columns=["amout"])
    assert not result.passed and "did you mean 'amount'?" in result.detail


def test_severity_is_carried() -> None:
    assert (
        one(pa.table({"a": [None]}), rule="not_null", columns=["a"], severity="warn").severity
        == "warn"
    )


def test_column_names_needing_quotes() -> None:
    table = pa.table({'we"ird col': [1, None], "select": [1, 1]})
    assert one(table, rule="not_null", columns=['we"ird col']).failing == 1
    assert one(table, rule="unique", columns=["select"]).failing == 2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.none() | st.integers(-1000, 1000), max_size=40),
    st.integers(-1000, 1000),
    st.integers(0, 500),
)
def test_rules_agree_with_a_python_oracle(values: list[int | None], low: int, width: int) -> None:
    table = pa.table({"v": pa.array(values, pa.int64())})
    high = low + width
    assert one(table, rule="not_null", columns=["v"]).failing == sum(v is None for v in values)
    assert one(table, rule="range", column="v", min=low, max=high).failing == sum(
        v is not None and not low <= v <= high for v in values
    )
    counts: dict[int | None, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    assert one(table, rule="unique", columns=["v"]).failing == sum(
        c for v, c in counts.items() if c > 1 and v is not None
    )
    allowed = [v for v in values if v is not None][:3]
    if allowed:
        expected = sum(v is not None and v not in allowed for v in values)
        assert one(table, rule="accepted_values", column="v", values=allowed).failing == expected


def test_unknown_rule_is_refused_by_the_config_model() -> None:
    with pytest.raises(Exception, match="not_null"):
        ADAPTER.validate_python({"rule": "not_nul", "columns": ["a"]})


# rules added with the quality issue ------------------------------------------------------


def test_range_can_exclude_its_bounds() -> None:
    table = pa.table({"v": [0.0, 5.0, 10.0]})
    assert one(table, rule="range", column="v", min=0, max=10).failing == 0
    result = one(table, rule="range", column="v", min=0, max=10, inclusive=False)
    assert result.failing == 2 and result.check == "range(v in (0.0, 10.0))"


def test_regex_matches_whole_values_and_skips_nulls() -> None:
    table = pa.table({"c": ["EUR", "eur", "EURO", None, "GBP"]})
    assert one(table, rule="regex", column="c", pattern="[A-Z]{3}").failing == 2


def test_a_bad_regex_fails_the_check_with_the_engine_message() -> None:
    result = one(pa.table({"c": ["x"]}), rule="regex", column="c", pattern="(")
    assert not result.passed and "the check's SQL failed" in result.detail


def test_expression_fails_rows_where_it_is_false_or_null() -> None:
    table = pa.table({"amount": [5, -1, None, 0], "kind": ["sale", "refund", "sale", "sale"]})
    result = one(table, rule="expression", expression="amount >= 0 OR kind = 'refund'")
    assert result.failing == 1  # only the NULL amount sale; the refund passes


@pytest.mark.parametrize(
    ("expression", "message"),
    [("avg(amount)", "aggregates"), ("(SELECT 1)", "not a query"), ("amount >=", "cannot parse")],
)
def test_bad_expressions_are_config_errors(expression: str, message: str) -> None:
    from weir.core import ConfigError

    with pytest.raises(ConfigError, match=message):
        check(pa.table({"amount": [1]}), rule="expression", expression=expression)


def test_relationships_find_orphans() -> None:
    orders = pa.table({"customer_id": [1, 2, 3, None]})
    customers = pa.table({"id": [1, 2, None]})
    compiled = ADAPTER.validate_python(
        {"rule": "relationships", "column": "customer_id", "to": "customers", "field": "id"}
    )
    [result] = run_checks(ENGINE, ds.dataset(orders), [compiled], {"customers": customers})
    assert (result.failing, result.check) == (1, "relationships(customer_id -> customers.id)")


def test_aggregate_bounds() -> None:
    table = pa.table({"amount": [10.0, 20.0, 30.0]})
    assert one(table, rule="aggregate", expression="avg(amount)", min=15, max=25).passed
    result = one(table, rule="aggregate", expression="max(amount)", max=25)
    assert not result.passed and "value 30" in result.detail
    assert not one(
        pa.table({"amount": pa.array([], pa.float64())}),
        rule="aggregate",
        expression="avg(amount)",
        min=0,
    ).passed


def test_freshness_uses_the_newest_value() -> None:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    table = pa.table({"ts": [now - dt.timedelta(days=3), now - dt.timedelta(hours=2)]})
    assert one(table, rule="freshness", column="ts", max_age="3h").passed
    stale = one(table, rule="freshness", column="ts", max_age="1h")
    assert not stale.passed and "h old" in stale.detail
    assert not one(
        pa.table({"ts": pa.array([], pa.timestamp("us", "UTC"))}),
        rule="freshness",
        column="ts",
        max_age="1d",
    ).passed


def test_empty_input_does_not_pass_row_rules_when_row_count_is_declared() -> None:
    empty = pa.table({"a": pa.array([], pa.int64())})
    guarded = run_checks(
        ENGINE,
        ds.dataset(empty),
        [
            ADAPTER.validate_python({"rule": "row_count", "min": 1}),
            ADAPTER.validate_python({"rule": "not_null", "columns": ["a"]}),
        ],
    )
    assert [(r.check, r.passed) for r in guarded] == [("row_count", False), ("not_null(a)", False)]
    assert "no rows to check" in guarded[1].detail
    assert one(
        empty, rule="not_null", columns=["a"]
    ).passed  # without row_count, nothing is claimed


@pytest.mark.parametrize(
    "rule",
    [
        {"rule": "unique", "columns": ["a"]},
        {"rule": "row_count", "min": 1},
        {"rule": "aggregate", "expression": "avg(a)", "min": 0},
    ],
)
def test_table_rules_cannot_quarantine(rule: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="no rows to quarantine"):
        ADAPTER.validate_python({**rule, "severity": "quarantine"})


@pytest.mark.parametrize("text", ["7", "7 days", "1y", ""])
def test_freshness_needs_a_duration(text: str) -> None:
    with pytest.raises(Exception, match="not a duration"):
        ADAPTER.validate_python({"rule": "freshness", "column": "ts", "max_age": text})
