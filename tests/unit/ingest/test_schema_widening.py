"""The schema contract between loads: a widening holds every value, or the load is refused."""

from __future__ import annotations

import decimal

import pyarrow as pa
import pytest

from weir.core import SourceRefusedError
from weir.ingest.contract import plan
from weir.project.sources import SchemaPolicy


def test_a_narrower_decimal_fits_the_tables_decimal() -> None:
    """Tables made when every numeric arrived as decimal(38,10) keep loading once a
    numeric(20,2) arrives as itself."""
    table = pa.schema([("amount", pa.decimal128(38, 10))])
    incoming = pa.schema([("amount", pa.decimal128(20, 2))])
    contract = plan(table, incoming, SchemaPolicy(), "s")
    assert contract.changes == [] and contract.target == table
    batch = pa.record_batch(
        [pa.array([decimal.Decimal("12.34")], pa.decimal128(20, 2))], schema=incoming
    )
    assert contract.apply(batch, []).column(0).to_pylist() == [decimal.Decimal("12.34")]


def test_decimals_widen_to_one_that_holds_both() -> None:
    table = pa.schema([("x", pa.decimal128(10, 2))])
    incoming = pa.schema([("x", pa.decimal128(12, 4))])
    contract = plan(table, incoming, SchemaPolicy(type_changes="evolve"), "s")
    assert contract.target.field("x").type == pa.decimal128(12, 4)


def test_a_widening_that_would_change_a_value_is_refused() -> None:
    table = pa.schema([("id", pa.float64())])
    incoming = pa.schema([("id", pa.int64())])
    contract = plan(table, incoming, SchemaPolicy(type_changes="evolve"), "s")
    ok = pa.record_batch([pa.array([2**53], pa.int64())], schema=incoming)
    assert contract.apply(ok, []).column(0).to_pylist() == [float(2**53)]
    bad = pa.record_batch([pa.array([2**53 + 1], pa.int64())], schema=incoming)
    with pytest.raises(SourceRefusedError, match=r"column id: 1 value would change") as refused:
        contract.apply(bad, [])
    assert "9007199254740993" not in str(refused.value)  # a stored error quotes no value


def test_numbers_widen_to_text_when_evolve_is_declared() -> None:
    """The docs promise 'anything to string'; an int64 table meeting a text load was refused
    with the fix 'set type_changes: evolve', which was already set."""
    table = pa.schema([("x", pa.int64())])
    incoming = pa.schema([("x", pa.string())])
    contract = plan(table, incoming, SchemaPolicy(type_changes="evolve"), "s")
    assert contract.target.field("x").type == pa.string() and contract.rewrite_existing
    stored = pa.record_batch([pa.array([5, None, 2**62 + 1])], schema=table)
    assert contract.apply(stored, []).column(0).to_pylist() == ["5", None, str(2**62 + 1)]


def test_a_change_evolve_cannot_hold_does_not_suggest_evolve() -> None:
    table = pa.schema([("s", pa.struct([("a", pa.int64())]))])
    incoming = pa.schema([("s", pa.struct([("a", pa.string())]))])
    with pytest.raises(SourceRefusedError, match="no type holds both") as refused:
        plan(table, incoming, SchemaPolicy(type_changes="evolve"), "s")
    assert "evolve" not in refused.value.fix and "type_changes: quarantine" in refused.value.fix


def test_the_lakes_binary_and_list_hold_a_loads_large_binary_and_large_list() -> None:
    """Delta stores binary and list; a database read gives large_binary and large_list. The
    second load of a table with a bytea or an array column was refused as a type change."""
    table = pa.schema(
        [("b", pa.binary()), ("a", pa.list_(pa.field("element", pa.int32()))), ("s", pa.string())]
    )
    incoming = pa.schema(
        [("b", pa.large_binary()), ("a", pa.large_list(pa.int32())), ("s", pa.large_string())]
    )
    contract = plan(table, incoming, SchemaPolicy(), "s")
    assert contract.changes == [] and contract.target == table
    batch = pa.record_batch(
        [
            pa.array([b"\x01", None], pa.large_binary()),
            pa.array([[1, 2], None], pa.large_list(pa.int32())),
            pa.array(["x", None], pa.large_string()),
        ],
        schema=incoming,
    )
    applied = contract.apply(batch, [])
    assert applied.schema == table
    assert applied.to_pylist() == [
        {"b": b"\x01", "a": [1, 2], "s": "x"},
        {"b": None, "a": None, "s": None},
    ]


def test_a_list_of_another_item_type_is_still_a_type_change() -> None:
    table = pa.schema([("a", pa.list_(pa.int32()))])
    incoming = pa.schema([("a", pa.large_list(pa.string()))])
    with pytest.raises(SourceRefusedError, match="changed type"):
        plan(table, incoming, SchemaPolicy(), "s")
