from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import fields as dataclasses_fields

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.engines import DuckDBEngine
from weir.quality import TableProfile, profile_table

ENGINE = DuckDBEngine(threads=1)


def test_profile_of_mixed_columns() -> None:
    table = pa.table(
        {
            "amount": [1.0, 2.0, 3.0, None, 10.0],
            "channel": ["web", "pos", "web", "web", None],
            "day": [dt.date(2026, 1, d) for d in (1, 2, 3, 4, 5)],
            "flag": [True, False, True, True, True],
            "tags": [["a"], [], None, ["b"], ["c"]],
        }
    )
    profile = profile_table(ENGINE, table)
    assert profile.rows == 5
    amount = profile.column("amount")
    assert (amount.count, amount.nulls, amount.null_fraction) == (4, 1, 0.2)
    assert amount.mean == pytest.approx(4.0)
    assert amount.std == pytest.approx(statistics.stdev([1.0, 2.0, 3.0, 10.0]))
    assert amount.min == "1.0" and amount.max == "10.0"
    assert amount.histogram is not None and sum(b["count"] for b in amount.histogram) == 4
    assert amount.quantiles_approx is not None and set(amount.quantiles_approx) == {
        "p05",
        "p25",
        "p50",
        "p75",
        "p95",
    }
    channel = profile.column("channel")
    assert channel.top_values == [{"value": "web", "count": 3}, {"value": "pos", "count": 1}]
    assert channel.distinct_approx == 2 and channel.mean is None
    assert profile.column("day").min == "2026-01-01"
    assert profile.column("flag").top_values == [
        {"value": "true", "count": 4},
        {"value": "false", "count": 1},
    ]
    tags = profile.column("tags")
    assert tags.nulls == 1 and tags.min is None and tags.top_values is None


def test_empty_and_all_null_tables() -> None:
    empty = profile_table(
        ENGINE, pa.table({"a": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
    )
    assert empty.rows == 0 and empty.column("a").null_fraction == 0.0
    assert empty.column("a").histogram is None and empty.column("s").top_values == []
    nulls = profile_table(ENGINE, pa.table({"a": pa.nulls(3, pa.int64())}))
    assert nulls.column("a").nulls == 3 and nulls.column("a").mean is None


def test_constant_column_has_one_bin_and_unicode_values_survive() -> None:
    profile = profile_table(ENGINE, pa.table({"a": [7, 7, 7], "s": ["ß", "日本", "ß"]}))
    assert profile.column("a").histogram == [{"upper": 7.0, "count": 3.0}]
    assert profile.column("s").top_values == [
        {"value": "ß", "count": 2},
        {"value": "日本", "count": 1},
    ]


def test_non_finite_numbers_do_not_break_the_record() -> None:
    profile = profile_table(ENGINE, pa.table({"a": [float("nan")] * 5 + [1.0, float("inf")] * 5}))
    record = profile.as_record()
    import json

    json.dumps(record, allow_nan=False)  # the catalog stores JSON; NaN/inf must not leak in
    assert TableProfile.from_record(record).column("a").count == 15


@settings(max_examples=30, deadline=None)
@given(st.lists(st.none() | st.integers(-(10**6), 10**6), min_size=1, max_size=60))
def test_counts_and_moments_match_python(values: list[int | None]) -> None:
    column = profile_table(ENGINE, pa.table({"v": pa.array(values, pa.int64())})).column("v")
    present = [v for v in values if v is not None]
    assert column.count == len(present) and column.nulls == len(values) - len(present)
    if present:
        assert column.mean == pytest.approx(statistics.fmean(present))
        assert column.min == str(min(present)) and column.max == str(max(present))
        assert sum(b["count"] for b in column.histogram or []) == len(present)
        assert column.histogram is not None and column.histogram[-1]["upper"] >= max(present)


def test_large_tables_take_the_distribution_from_a_sample_and_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import weir.quality.profile as profile_module

    monkeypatch.setattr(profile_module, "SAMPLE_ABOVE", 100_000)
    monkeypatch.setattr(profile_module, "SAMPLE_ROWS", 50_000)
    values = [None if i % 10 == 0 else float(i % 1000) for i in range(300_000)]
    profile = profile_table(ENGINE, pa.table({"v": values}))
    column = profile.column("v")
    assert profile.rows == 300_000 and column.nulls == 30_000  # counts stay exact
    assert profile.sample_rows is not None and 10_000 < profile.sample_rows < 150_000
    assert column.mean == pytest.approx(
        statistics.fmean(v for v in values if v is not None), rel=0.05
    )
    assert profile.as_record()["sample_rows"] == profile.sample_rows
    small = profile_table(ENGINE, pa.table({"v": [1.0, 2.0]}))
    assert small.sample_rows is None


def test_nan_and_infinity_do_not_erase_a_columns_distribution() -> None:
    import math

    from weir.engines import DuckDBEngine
    from weir.quality import profile_table

    values = [1.0, 2.0, 3.0, 4.0, math.nan, math.inf, -math.inf, None]
    [column] = profile_table(DuckDBEngine(threads=1), pa.table({"v": values})).columns
    assert (column.count, column.nulls, column.not_finite) == (7, 1, 3)
    assert column.mean == 2.5 and column.std is not None and column.histogram
    assert sum(b["count"] for b in column.histogram) == 4  # the finite values
    assert column.min == "-inf" and column.max == "nan"  # what the column holds, as it is


def test_the_profile_view_states_nan_and_infinity() -> None:
    import math

    from rich.console import Console

    from weir.catalog import VersionRecord
    from weir.cli.render import profile_table as view

    profile = profile_table(ENGINE, pa.table({"v": [1.0, math.nan, math.inf, None]}))
    fields = {f.name for f in dataclasses_fields(VersionRecord)}
    record = VersionRecord(**dict.fromkeys(fields) | {"table": "t", "version": 0})
    console = Console(width=200, record=True)
    console.print(view(record, profile.as_record()))
    assert "25.0% (+2 NaN/inf)" in console.export_text()


def _nan_every_tenth(n: int, value: float | None = None) -> pa.Table:
    import math

    return pa.table(
        {
            "x": [
                math.nan if i % 10 == 0 else (float(i) if value is None else value)
                for i in range(n)
            ]
        }
    )


def test_a_sampled_profile_counts_nan_and_infinity_over_the_whole_table() -> None:
    table = _nan_every_tenth(20_000)
    profile = profile_table(ENGINE, table, sample_above=1_000, sample_rows=1_000)
    column = profile.column("x")
    assert profile.sample_rows is not None and profile.sample_rows < 20_000
    assert (column.count, column.not_finite) == (20_000, 2_000)  # exact, as nulls are
    # given by the scan that made the fingerprint, the same
    fingerprint = ENGINE.fingerprint(table)
    given_counts = profile_table(
        ENGINE,
        table,
        sample_above=1_000,
        sample_rows=1_000,
        counts=(fingerprint.row_count, *fingerprint.non_null),
        not_finite=fingerprint.not_finite,
    )
    assert given_counts.column("x").not_finite == 2_000


def test_a_sampled_histogram_of_one_value_counts_the_sample() -> None:
    profile = profile_table(
        ENGINE, _nan_every_tenth(20_000, 5.0), sample_above=1_000, sample_rows=1_000
    )
    [only] = profile.column("x").histogram or []
    assert profile.sample_rows is not None and 0 < only["count"] < profile.sample_rows
