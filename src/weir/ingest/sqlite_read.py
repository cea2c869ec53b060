"""SQLite results as Arrow batches, value by value as SQLite stores them.

SQLite types values, not columns: an INTEGER column can hold 'abc', 1.5 or a blob, and a
column without a declared type holds anything. connectorx types a column by its declaration
and panics on the first value of another kind (or, for an expression, guesses from the
first row and fails on a null). Here each value is read by Python's sqlite3 with its own
storage class and checked against the column's type: a value that does not fit is null
with a reason (`__weir_invalid:NAME`), which quarantines its row with the column named.

A column's type comes from its declaration (read through a temporary view, which keeps the
declared types of a query's plain columns), with SQLite's affinity rules; a column with no
declaration (an expression, `count(*)`) takes the storage classes its values actually have.
Dates and times are carried as text and typed by `weir.ingest.conform`, under the source's
time rule.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from weir.engines.split import INVALID_PREFIX

_EXACT = 2**53


@dataclass(frozen=True)
class _Kind:
    """How one result column is carried into Arrow and what Weir types it as afterwards."""

    carrier: pa.DataType
    implied: str | None
    declared: str


def _kind(declared: str) -> _Kind:
    """SQLite's affinity rules (section 3.1 of its datatype page), and the types connectorx
    gave each declaration, so tables made before keep their types."""
    upper = declared.upper()
    decimal = re.search(r"(DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)", upper)
    if decimal and int(decimal.group(2)) <= 38:
        return _Kind(pa.string(), f"decimal({decimal.group(2)},{decimal.group(3)})", declared)
    if "INT" in upper:
        return _Kind(pa.int64(), None, declared)
    if "BOOL" in upper:
        return _Kind(pa.bool_(), None, declared)
    if "DATETIME" in upper or "TIMESTAMP" in upper:
        return _Kind(pa.string(), "timestamp", declared)
    if "DATE" in upper:
        return _Kind(pa.string(), "date", declared)
    if any(t in upper for t in ("CHAR", "CLOB", "TEXT", "TIME")):
        return _Kind(pa.string(), None, declared)
    if "BLOB" in upper:
        return _Kind(pa.binary(), None, declared)
    return _Kind(pa.float64(), None, declared)  # REAL, FLOAT, DOUBLE, NUMERIC


def _by_values(classes: set[str]) -> _Kind:
    """A column without a declared type, by the storage classes of its values."""
    classes.discard("null")
    if classes == {"integer"}:
        return _Kind(pa.int64(), None, "")
    if classes and classes <= {"integer", "real"}:
        return _Kind(pa.float64(), None, "")
    if classes == {"blob"}:
        return _Kind(pa.binary(), None, "")
    return _Kind(pa.string(), None, "")


@dataclass
class SqliteRead:
    names: list[str]
    kinds: list[_Kind]
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]

    @property
    def implied(self) -> dict[str, str]:
        return {n: k.implied for n, k in zip(self.names, self.kinds, strict=True) if k.implied}


def read_sqlite(path: Path, sql: str, batch_rows: int) -> SqliteRead:
    """Stream `sql` over the database file at `path`, opened read-only."""
    connection = _connect(path)
    try:
        kinds, names = _kinds(connection, sql)
    except BaseException:
        connection.close()
        raise
    schema = pa.schema(
        [pa.field(n, k.carrier) for n, k in zip(names, kinds, strict=True)]
        + [pa.field(INVALID_PREFIX + n, pa.string()) for n in names]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            cursor = connection.execute(sql)
            while rows := cursor.fetchmany(batch_rows):
                yield _batch(schema, names, kinds, rows)
        finally:
            connection.close()

    return SqliteRead(names, kinds, schema, batches())


def _connect(path: Path) -> sqlite3.Connection:
    # the lake writer pulls batches on its own thread; one reader at a time uses it
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)


def top_value(path: Path, sql: str) -> Any:
    """The first value of a one-column query (the cursor's highest value), as stored."""
    connection = _connect(path)
    try:
        row = connection.execute(sql).fetchone()
    finally:
        connection.close()
    return None if row is None else row[0]


def _kinds(connection: sqlite3.Connection, sql: str) -> tuple[list[_Kind], list[str]]:
    """The declared type of each result column, through a temporary view."""
    connection.execute(f"CREATE TEMP VIEW weir_probe AS {sql}")
    try:
        info = connection.execute("PRAGMA table_info(weir_probe)").fetchall()
        names = [row[1] for row in info]
        undeclared = [i for i, row in enumerate(info) if not row[2]]
        classes: dict[int, set[str]] = {i: set() for i in undeclared}
        if undeclared:
            probe = ", ".join(
                f"group_concat(DISTINCT typeof({_ident(names[i])}))" for i in undeclared
            )
            found = connection.execute(f"SELECT {probe} FROM weir_probe").fetchone() or ()
            for i, text in zip(undeclared, found, strict=True):
                classes[i] = set((text or "").split(","))
    finally:
        connection.execute("DROP VIEW weir_probe")
    kinds = [
        _by_values(classes[i]) if i in classes else _kind(str(row[2])) for i, row in enumerate(info)
    ]
    return kinds, names


def _batch(
    schema: pa.Schema, names: list[str], kinds: list[_Kind], rows: list[tuple[Any, ...]]
) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    arrays: list[pa.Array] = []
    reasons: list[pa.Array] = []
    for name, kind, values in zip(names, kinds, columns, strict=True):
        array, invalid = _column(name, kind, values)
        arrays.append(array)
        reasons.append(invalid)
    return pa.RecordBatch.from_arrays(arrays + reasons, schema=schema)


def _column(name: str, kind: _Kind, values: tuple[Any, ...]) -> tuple[pa.Array, pa.Array]:
    """One column's values in their carrier, and a reason for each that does not fit."""
    classes = set(map(type, values))
    classes.discard(type(None))
    fits = _fits(kind.carrier, classes)
    if fits and not (kind.carrier == pa.float64() and int in classes):
        return pa.array(values, kind.carrier), pa.nulls(len(values), pa.string())
    out: list[Any] = []
    why: list[str | None] = []
    for value in values:
        kept, reason = _one(kind, value)
        out.append(kept)
        why.append(None if reason is None else f"column {name}: {_shown(value)} {reason}")
    return pa.array(out, kind.carrier), pa.array(why, pa.string())


def _fits(carrier: pa.DataType, classes: set[type]) -> bool:
    if carrier == pa.int64():
        return classes <= {int}
    if carrier == pa.float64():
        return classes <= {float, int}
    if carrier == pa.bool_():
        return False  # 0 and 1 are checked one by one
    if carrier == pa.binary():
        return classes <= {bytes}
    return classes <= {str}


def _one(kind: _Kind, value: Any) -> tuple[Any, str | None]:
    """A value as the carrier holds it, or None and why not."""
    if value is None:
        return None, None
    declared = f"{kind.declared or 'untyped'} column"
    carrier = kind.carrier
    if carrier == pa.int64():
        if isinstance(value, int):
            return value, None
        return None, f"is not an integer (SQLite stored {_class(value)} in this {declared})"
    if carrier == pa.float64():
        if isinstance(value, float) or (isinstance(value, int) and abs(value) <= _EXACT):
            return value, None
        if isinstance(value, int):
            return (
                None,
                "is an integer beyond what float64 holds exactly; declare it as decimal(38,0)",
            )
        return None, f"is not a number (SQLite stored {_class(value)} in this {declared})"
    if carrier == pa.bool_():
        if isinstance(value, int) and value in (0, 1):
            return bool(value), None
        return None, f"is not a boolean 0 or 1 (SQLite stored {_class(value)} in this {declared})"
    if carrier == pa.binary():
        if isinstance(value, bytes):
            return value, None
        return None, f"is not a blob (SQLite stored {_class(value)} in this {declared})"
    if isinstance(value, str):
        return value, None
    if isinstance(value, bytes):
        return None, f"is a blob, not text (in this {declared})"
    if kind.implied in ("date", "timestamp"):
        return None, f"is a number, not a date or time written as text (in this {declared})"
    return (repr(value) if isinstance(value, float) else str(value)), None


def _class(value: Any) -> str:
    return {int: "an integer", float: "a real", str: "text", bytes: "a blob"}.get(
        type(value), type(value).__name__
    )


def _shown(value: Any) -> str:
    if isinstance(value, bytes):
        return f"x'{value[:32].hex()}'" + ("..." if len(value) > 32 else "")
    return "'" + str(value)[:200] + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
