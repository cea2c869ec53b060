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


def test_unique_treats_nulls_as_a_group() -> None:
    assert one(pa.table({"k": [None, None, 1]}), rule="unique", columns=["k"]).failing == 2


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
        c for c in counts.values() if c > 1
    )
    allowed = [v for v in values if v is not None][:3]
    if allowed:
        expected = sum(v is not None and v not in allowed for v in values)
        assert one(table, rule="accepted_values", column="v", values=allowed).failing == expected


def test_unknown_rule_is_refused_by_the_config_model() -> None:
    with pytest.raises(Exception, match="not_null"):
        ADAPTER.validate_python({"rule": "not_nul", "columns": ["a"]})
