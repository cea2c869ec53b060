"""Values from a database or an API, typed by the source's declared columns.

A declared type is a promise about every row, not a hint: a value that does not fit sets
its row aside with the reason and the record's place, the rest of the batch goes on. A
timestamp without an offset is read in the declared zone, or refused when none is declared.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from weir.core.errors import StepError
from weir.engines.split import QUARANTINE_SCHEMA, Diverted
from weir.project.base import _DECIMAL

UTC = pa.timestamp("us", tz="UTC")

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "date": pa.date32(),
    "timestamp": UTC,
}


def arrow_type(type_name: str) -> pa.DataType:
    match = _DECIMAL.match(type_name)
    if match:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    return ARROW_TYPES[type_name]


def utc_timestamps(
    column: pa.Array, name: str, zone: str | None, source: str, where: str
) -> pa.Array:
    """A timestamp column in microseconds, UTC. Naive values need `zone`; nanoseconds are
    cast only when no value loses precision."""
    kind = column.type
    assert isinstance(kind, pa.TimestampType)
    if kind.unit == "ns":
        micro = pc.cast(column, pa.timestamp("us", tz=kind.tz), safe=False)
        lossy = pc.not_equal(pc.cast(micro, kind), column)
        if pc.any(lossy).as_py():
            raise StepError(
                f"source:{source}",
                f"{where}: column {name} has nanoseconds, which microsecond storage would drop",
                fix=f"round {name} to microseconds at the source, or declare it as string",
            )
        column, kind = micro, micro.type
    if kind.tz is None:
        if zone is None:
            raise StepError(
                f"source:{source}",
                f"{where}: column {name} holds times without a time zone; nothing was committed",
                fix=f"declare the zone they were written in: sources.{source}.timezone "
                "(e.g. Europe/Paris or UTC)",
            )
        column = pc.assume_timezone(column, zone, ambiguous="earliest", nonexistent="earliest")
    return pc.cast(column, UTC)


def conform(
    batch: pa.RecordBatch,
    columns: Mapping[str, str] | None,
    *,
    zone: str | None,
    source: str,
    where: str,
    key_of: Callable[[int], str],
) -> tuple[pa.RecordBatch, pa.Table]:
    """The batch with declared types and UTC timestamps, and the rows that do not fit."""
    names = batch.schema.names
    if columns:
        missing = [c for c in columns if c not in names]
        if missing:
            raise StepError(
                f"source:{source}",
                f"{where}: declared column(s) {', '.join(missing)} are not in the data "
                f"(it has {', '.join(names) or 'no columns'})",
                fix=f"fix sources.{source}.columns, or the query that feeds it",
            )
    bad: dict[int, list[str]] = {}
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for name, column in zip(names, batch.columns, strict=True):
        declared = (columns or {}).get(name)
        if declared is not None:
            column = cast_or_mark(column, name, arrow_type(declared), zone, bad)
        elif pa.types.is_timestamp(column.type):
            column = utc_timestamps(column, name, zone, source, where)
        arrays.append(column)
        fields.append(pa.field(name, column.type))
    naive = [m for reasons in bad.values() for m in reasons if m.endswith("has no time zone")]
    if naive:
        raise StepError(
            f"source:{source}",
            f"{where}: {naive[0]}; nothing was committed",
            fix=f"declare the zone these times were written in: sources.{source}.timezone "
            "(e.g. Europe/Paris or UTC), or send them with an offset",
        )
    typed = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
    if not bad:
        return typed, QUARANTINE_SCHEMA.empty_table()
    rows = sorted(bad)
    keep = pc.invert(pa.array([i in bad for i in range(batch.num_rows)]))
    raw_rows = batch.take(pa.array(rows)).to_pylist()
    rejects = pa.table(
        {
            "file": pa.nulls(len(rows), pa.string()),
            "line": pa.nulls(len(rows), pa.int64()),
            "byte_offset": pa.nulls(len(rows), pa.int64()),
            "column_name": [", ".join(sorted({m.split(":")[0][7:] for m in bad[i]})) for i in rows],
            "error_type": ["CAST"] * len(rows),
            "error": ["; ".join(bad[i]) for i in rows],
            "raw": [json.dumps(r, default=str, ensure_ascii=False) for r in raw_rows],
            "key": [key_of(i) for i in rows],
        },
        schema=QUARANTINE_SCHEMA,
    )
    return typed.filter(keep), rejects


def cast_or_mark(
    column: pa.Array, name: str, target: pa.DataType, zone: str | None, bad: dict[int, list[str]]
) -> pa.Array:
    """`column` as `target`; values that do not fit become null and mark their row."""
    try:
        return _cast_all(column, target, zone)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        pass
    values: list[Any] = []
    for index, value in enumerate(column.to_pylist()):
        try:
            values.append(_cast_all(pa.array([value], column.type), target, zone)[0].as_py())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            reason = (
                "has no time zone" if _is_naive_text(value, target, zone) else f"is not {target}"
            )
            bad.setdefault(index, []).append(f"column {name}: '{value}' {reason}")
            values.append(None)
    return pa.array(values, target)


def _cast_all(column: pa.Array, target: pa.DataType, zone: str | None) -> pa.Array:
    if target == UTC and pa.types.is_string(column.type):
        try:
            return pc.cast(column, UTC)
        except pa.ArrowInvalid:
            if zone is None:
                raise
            naive = pc.cast(column, pa.timestamp("us"))
            return pc.cast(pc.assume_timezone(naive, zone), UTC)
    if target == UTC and pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            if zone is None:
                raise ValueError("no zone")
            column = pc.assume_timezone(column, zone)
        return pc.cast(column, UTC)
    if pa.types.is_integer(target) and pa.types.is_floating(column.type):
        whole = pc.equal(pc.floor(column), column)
        if not pc.all(pc.fill_null(whole, True)).as_py():
            raise pa.ArrowInvalid("not whole")
    return pc.cast(column, target, safe=True)


def _is_naive_text(value: Any, target: pa.DataType, zone: str | None) -> bool:
    if target != UTC or zone is not None or not isinstance(value, str):
        return False
    try:
        pc.cast(pa.array([value]), pa.timestamp("us"))
    except pa.ArrowInvalid:
        return False
    return True


def typed_stream(
    stream: pa.RecordBatchReader,
    stored: list[str],
    columns: Mapping[str, str] | None,
    *,
    zone: str | None,
    source: str,
    noun: str,
    place: Callable[[pa.RecordBatch, int, int], str],
    diverted: Diverted,
) -> pa.RecordBatchReader:
    """`stream` under its stored names, conformed batch by batch; rows that do not fit go to
    `diverted`, placed by `place(batch, index in batch, index in stream)`. The first batch
    is typed before the reader is made, since typing decides the schema; an empty stream
    still gives one (empty) batch, so its schema is known."""

    def batches() -> Iterator[pa.RecordBatch]:
        seen = 0
        empty = pa.RecordBatch.from_pylist([], schema=stream.schema)
        for raw in itertools.chain(stream, [empty]):
            if raw is empty and seen:
                return
            batch, offset = raw.rename_columns(stored), seen
            good, bad = conform(
                batch,
                columns,
                zone=zone,
                source=source,
                where=f"{noun} {seen + 1}-{seen + batch.num_rows}",
                key_of=lambda i, b=batch, o=offset: place(b, i, o + i),  # type: ignore[misc]
            )
            seen += batch.num_rows
            if bad.num_rows:
                diverted.tables.append(bad)
            yield good

    typed = batches()
    first = next(typed)
    return pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], typed))
