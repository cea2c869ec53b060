"""The schema contract between a source and its table: what a load may change, and how.

A load's columns are compared with the table's current ones. An added column is a new
schema version (or refused); a removed one is refused (or kept, null in the new rows); a
column whose type changed is widened, has the rows that do not fit the old type set aside,
or is refused, as the source's `schema_policy` says. Nothing changes without being counted
in the run summary and recorded in the commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from weir.core.errors import SourceRefusedError
from weir.engines.split import QUARANTINE_SCHEMA
from weir.ingest.conform import fit_type
from weir.ingest.typed_stream import raw_rows
from weir.project.sources import SchemaPolicy


@dataclass
class Contract:
    """How to turn each incoming batch into the table's schema."""

    target: pa.Schema
    changes: list[str] = field(default_factory=list)
    quarantine_columns: list[str] = field(default_factory=list)
    rewrite_existing: bool = False  # a widened type: the stored rows are rewritten too

    source: str = ""

    def apply(self, batch: pa.RecordBatch, rejected: list[pa.Table]) -> pa.RecordBatch:
        bad: dict[int, list[str]] = {}
        arrays = []
        for target_field in self.target:
            if target_field.name not in batch.schema.names:
                arrays.append(pa.nulls(batch.num_rows, target_field.type))
                continue
            column = batch.column(target_field.name)
            if column.type == target_field.type:
                arrays.append(column)
                continue
            typed, misfits = fit_type(column, target_field.name, target_field.type)
            if misfits and target_field.name not in self.quarantine_columns:
                # a widening that would change a value (an int64 above 2**53 as float64);
                # said without the value: the error is printed and kept in the catalog
                count = len(misfits)
                raise SourceRefusedError(
                    self.source,
                    f"column {target_field.name}: {count:,} value{'s' if count > 1 else ''} "
                    f"would change if widened to {target_field.type}; nothing was committed",
                    fix=f"declare sources.{self.source}.columns.{target_field.name} as string "
                    f"or decimal(p,s), or set sources.{self.source}.schema_policy.type_changes: "
                    "quarantine",
                )
            for index, reason in misfits.items():
                bad.setdefault(index, []).append(reason)
            arrays.append(typed)
        typed = pa.RecordBatch.from_arrays(arrays, schema=self.target)
        if not bad:
            return typed
        rows = sorted(bad)
        raw = raw_rows(batch, rows)
        rejected.append(
            pa.table(
                {
                    "file": pa.nulls(len(rows), pa.string()),
                    "line": pa.nulls(len(rows), pa.int64()),
                    "byte_offset": pa.nulls(len(rows), pa.int64()),
                    "column_name": [bad[i][0].split(":")[0][7:] for i in rows],
                    "error_type": ["SCHEMA"] * len(rows),
                    "error": ["; ".join(bad[i]) + " (the table's type)" for i in rows],
                    "raw": raw,
                    "key": pa.nulls(len(rows), pa.string()),
                },
                schema=QUARANTINE_SCHEMA,
            )
        )
        return typed.filter(pc.invert(pa.array([i in bad for i in range(batch.num_rows)])))

    def stream(
        self, reader: pa.RecordBatchReader, rejected: list[pa.Table]
    ) -> pa.RecordBatchReader:
        def batches() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                yield self.apply(batch, rejected)

        return pa.RecordBatchReader.from_batches(self.target, batches())


def widened(old: pa.DataType, new: pa.DataType) -> pa.DataType | None:
    """A type both fit in, or None: int32→int64, ints→float64 (a value float64 cannot hold
    exactly refuses the load when it comes), decimals to one holding both, anything→string."""
    if old == new or _plain(old) == _plain(new):
        return old  # the same values in another layout (Delta keeps binary, not large_binary)
    if pa.types.is_null(old):
        return new
    if pa.types.is_null(new):
        return old
    if pa.types.is_integer(old) and pa.types.is_integer(new):
        return pa.int64()
    if pa.types.is_decimal(old) and pa.types.is_decimal(new):
        return _decimal_holding(old, new)
    if _numeric(old) and _numeric(new):
        return pa.float64()
    if pa.types.is_string(old) or pa.types.is_large_string(old):
        return old  # anything has a text form
    if (pa.types.is_string(new) or pa.types.is_large_string(new)) and _scalar(old):
        return new  # a number or a boolean has an exact text form: the stored rows become text
    return None


def _plain(kind: pa.DataType) -> pa.DataType:
    """`kind` with 64-bit offsets and list item names left out: what tells values apart."""
    if pa.types.is_large_string(kind):
        return pa.string()
    if pa.types.is_large_binary(kind):
        return pa.binary()
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.list_(_plain(kind.value_type))
    return kind


def _scalar(kind: pa.DataType) -> bool:
    return bool(_numeric(kind) or pa.types.is_decimal(kind) or pa.types.is_boolean(kind))


def _decimal_holding(old: pa.DataType, new: pa.DataType) -> pa.DataType | None:
    """The narrowest decimal that holds both exactly (a numeric(20,2) load into a table of
    decimal(38,10) fits), or None beyond 38 digits."""
    whole = max(old.precision - old.scale, new.precision - new.scale)
    scale = max(old.scale, new.scale)
    return pa.decimal128(whole + scale, scale) if whole + scale <= 38 else None


def _numeric(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


def _fits(new: pa.DataType, old: pa.DataType) -> bool:
    """Values of `new` cast into `old` without loss (a narrower incoming type)."""
    return bool(widened(old, new) == old)


def plan(
    current: pa.Schema | None, incoming: pa.Schema, policy: SchemaPolicy, source: str
) -> Contract:
    """The contract for one load against the table's `current` schema (None: first load)."""
    if current is None:
        return Contract(incoming, source=source)
    fix = f"change the source back, or set sources.{source}.schema_policy"
    old = {f.name: f for f in current}
    added = [f for f in incoming if f.name not in old]
    removed = [name for name in old if name not in incoming.names]
    contract = Contract(current, source=source)
    fields = list(current)
    if added:
        names = ", ".join(f.name for f in added)
        if policy.new_columns == "reject":
            raise SourceRefusedError(
                source,
                f"new column(s) {names}; nothing was committed",
                fix=f"{fix}.new_columns: evolve to add them",
            )
        fields += added
        contract.changes.append(f"added {names}")
    if removed:
        names = ", ".join(removed)
        if policy.removed_columns == "reject":
            raise SourceRefusedError(
                source,
                f"column(s) {names} are missing from this load; nothing was committed",
                fix=f"{fix}.removed_columns: evolve to keep them, null in new rows",
            )
        contract.changes.append(f"{names} missing, kept as null")
    for index, old_field in enumerate(fields):
        if old_field.name not in old or old_field.name not in incoming.names:
            continue
        new_type = incoming.field(old_field.name).type
        if new_type == old_field.type or _fits(new_type, old_field.type):
            continue
        change = f"{old_field.name}: {old_field.type} -> {new_type}"
        wider = widened(old_field.type, new_type)
        if policy.type_changes == "evolve" and wider is not None:
            fields[index] = old_field.with_type(wider)
            contract.rewrite_existing = True
            contract.changes.append(f"widened {old_field.name} to {wider}")
        elif policy.type_changes == "quarantine":
            contract.quarantine_columns.append(old_field.name)
            contract.changes.append(f"{change}: rows that do not fit are quarantined")
        else:
            if policy.type_changes == "evolve":  # evolve is set: no type holds both
                raise SourceRefusedError(
                    source,
                    f"column {change} changed type (no type holds both); nothing was committed",
                    fix=f"{fix}.type_changes: quarantine (rows that do not fit the table's "
                    "type are set aside), or rebuild the table with weir run --full-refresh",
                )
            raise SourceRefusedError(
                source,
                f"column {change} changed type; nothing was committed",
                fix=f"{fix}.type_changes: evolve (widen) or quarantine",
            )
    contract.target = pa.schema(fields)
    return contract
