"""What every engine offers to the stages. DuckDB today; Spark implements the same protocol.

Quality checks, profiles and cleaning are written against `Engine`, so mypy checks that each
engine provides what they use. An engine has a `dialect` (a sqlglot dialect name): Weir's
own SQL is built as sqlglot trees and rendered in it (`weir.engines.sql.render`), and the
dialect is part of every cache key (`settings()`). `materialise` runs a query over table
versions and commits its result to a lake table itself: DuckDB streams Arrow into the lake
through this process, an engine like Spark writes the Delta table from its own workers.
Ingestion is engine-specific (it uses DuckDB's readers on local files).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, Union

from weir.core.errors import WeirError
from weir.core.tables import TableFiles

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.dataset as pads

Readable = Union["pads.Dataset", "pa.Table", "pa.RecordBatchReader", TableFiles]


class SqlError(WeirError):
    """The engine refused a query; the message is the engine's own."""

    # Raised while the statement is parsed and bound, before a row is read: such a message
    # quotes the SQL and the schema, never a value.
    BEFORE_DATA = ("Parser Error", "Binder Error", "Catalog Error")

    def without_values(self) -> str:
        """The message as it may be shown about a table holding governed PII: the kind of
        error alone (`Conversion Error`), since the rest may quote a value, in any quoting
        or none (`error(email)` raises the value itself); whole when it was raised before
        any row was read."""
        kind, colon, _ = self.message.partition(":")
        if colon and kind in self.BEFORE_DATA:
            return self.message
        known = colon and re.fullmatch(r"[A-Z][A-Za-z ]{0,40} Error", kind)
        return f"{kind if known else 'an engine error'} (the rest of the message is withheld: it may quote a value of a PII column)"


@dataclass(frozen=True)
class Fingerprint:
    """Content identity of a table: equal rows (in any order) give equal digests."""

    row_count: int
    digest: str
    non_null: tuple[int, ...] = ()  # per column, from the same scan: a profile needs them
    not_finite: tuple[int, ...] = ()  # per column, NaN and ±Infinity (0 but for floats): too


WriteMode = Literal["overwrite", "append", "merge"]


@dataclass(frozen=True)
class TableAt:
    """One input of a query: a lake table at a version, and the name the SQL reads it by."""

    table: str
    version: int
    alias: str | None = None  # default: the table's own name

    @property
    def name(self) -> str:
        return self.alias or self.table


@dataclass(frozen=True)
class Materialise:
    """What `Engine.materialise` is asked to do: run `sql` (one SELECT in the engine's
    dialect) over `inputs` and `views` of them, and commit the result to lake table `target`
    as one Delta commit carrying `metadata`.

    mode:  overwrite (the result is the table's next version, schema included), append
           (rows added; new columns merged in), merge (upsert on `keys`: matching rows
           updated, others inserted).
    views: name -> SELECT over the inputs, in dependency order (a SQL model's upstream
           views).
    """

    sql: str
    inputs: tuple[TableAt, ...]
    target: str
    mode: WriteMode = "overwrite"
    keys: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    views: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if (self.mode == "merge") != bool(self.keys):
            raise ValueError("a merge needs its key columns, and only a merge takes keys")
        names = [i.name for i in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError(f"two inputs are read by the same name: {sorted(names)}")


@dataclass(frozen=True)
class Materialised:
    """What a materialise committed: the target's new version, and for a merge the counts
    of rows it inserted, updated... (Delta's `num_target_rows_*` metrics)."""

    version: int
    merge_counts: tuple[tuple[str, int], ...] = ()


class TableStore(Protocol):
    """The lake as an engine sees it: where table versions are read and commits made.
    `weir.lake.Lake` is one; an engine that writes Delta itself uses only `path`."""

    def path(self, table: str) -> Path: ...

    def scan(self, table: str, version: int) -> TableFiles | pads.Dataset: ...

    def write(
        self,
        table: str,
        data: pa.RecordBatchReader,
        *,
        mode: Literal["overwrite", "append"] = "overwrite",
        metadata: Mapping[str, str] | None = None,
    ) -> int: ...

    def merge(
        self,
        table: str,
        data: pa.RecordBatchReader,
        keys: list[str],
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, int]]: ...


class Engine(Protocol):
    name: str
    #: the sqlglot dialect the engine runs (duckdb, spark...): Weir's SQL is rendered in it
    dialect: str

    def settings(self) -> Mapping[str, Any]:
        """What, besides inputs and code, can change an engine's results (goes into cache keys)."""
        ...

    def query(
        self,
        sql: str,
        tables: Mapping[str, Readable],
        params: Mapping[str, Any] | None = None,
        views: Mapping[str, str] | None = None,
    ) -> AbstractContextManager[pa.RecordBatchReader]:
        """Run one SELECT over the named tables (and views of them, in dependency order) in a
        sandbox that can read nothing else: no file, URL or extension, no setting, no catalog
        beyond the inputs, no SQL run from a string (weir.engines.sandbox says what DuckDB
        allows); $name parameters are bound, never spliced in; stream the result as Arrow
        batches. Raises SqlError (SandboxError for a statement the sandbox refuses)."""
        ...

    def fingerprint(self, data: Readable) -> Fingerprint: ...

    def materialise(self, request: Materialise, lake: TableStore) -> Materialised:
        """Run `request.sql` over its inputs (read from `lake` at their versions) in the
        same sandbox as `query`, and commit the result to `request.target` as one commit
        with `request.metadata`; return the new version. Whole or nothing: a query that
        fails commits nothing. Raises SqlError for the query, LakeError for the commit."""
        ...


def schema_record(schema: pa.Schema) -> list[dict[str, Any]]:
    """An Arrow schema as JSON-able data for the catalog."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def iter_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return
