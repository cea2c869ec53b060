"""The default engine: DuckDB in process, reading Arrow datasets straight from the lake.

Each query gets its own connection, sandboxed before anything of the query is seen:
extensions are never installed or loaded, external access is off except for exactly the
Parquet files of the input versions, and the configuration is locked. Only then are the
inputs registered and views created (DuckDB reads what a view names when it is created, so
a view made earlier could read any file), and every statement, views included, is checked
against the allow-list of `weir.engines.sandbox` on DuckDB's own parse tree.

A query that outgrows `memory_limit` spills rows to `temp_directory` (the workspace's
`tmp/`), never to DuckDB's default `.tmp` under the current directory; an engine given no
directory does not spill. Errors met while a result streams are SqlErrors like the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot.expressions as exp

from weir.core.tables import TableFiles
from weir.engines.base import (
    Fingerprint,
    Materialise,
    Materialised,
    Readable,
    SqlError,
    TableStore,
)
from weir.engines.sandbox import CONNECT_CONFIG, check_sql
from weir.engines.sql import call, column, literal, render, template

BATCH_ROWS = 122_880  # DuckDB's row-group size: batches map onto its vectors cleanly


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Timeout:
    """Interrupts a connection's query once `seconds` have passed (None: never), and says
    so in the error that follows instead of DuckDB's bare 'Interrupted'."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, seconds: float | None) -> None:
        self.seconds = seconds
        self.expired = False
        self.timer: threading.Timer | None = None
        if seconds is not None:
            self.timer = threading.Timer(seconds, self._expire, args=(connection,))
            self.timer.daemon = True
            self.timer.start()

    def _expire(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.expired = True
        with contextlib.suppress(duckdb.Error):  # the query may have ended just now
            connection.interrupt()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def error(self, exc: BaseException) -> SqlError:
        if self.expired:
            return SqlError(
                f"the query ran longer than engine.query_timeout_seconds ({self.seconds:g} s) "
                "and was stopped",
                fix="make the query cheaper, or raise engine.query_timeout_seconds in weir.yaml",
            )
        return SqlError(str(exc))


# DuckDB's kinds of error that a file it cannot read gives; any other kind (Conversion,
# Out of Memory, Constraint...) is about the rows or the machine, and reading the inputs
# again could not name a file
_FILE_KINDS = ("IO Error", "Invalid Input Error")
_KIND = re.compile(r"([A-Z][A-Za-z ]{0,40} Error):")


def damaged_file_error(error: BaseException) -> bool:
    """Whether `error`, or one it was raised while handling, is what a data file whose bytes
    are damaged gives: an OS or Arrow read error, DuckDB's I/O or file input error, or the
    untyped error DuckDB raises for a Parquet footer or page it cannot decode
    ('TProtocolException: Invalid data', "don't know what type", 'likely corrupted')."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, duckdb.Error):
            if type(current) is duckdb.Error or isinstance(current, duckdb.IOException):
                return True
            if isinstance(current, duckdb.InvalidInputException):
                return "file" in str(current).lower()
        elif isinstance(current, OSError | pa.ArrowException):
            kind = _KIND.match(str(current))  # DuckDB's own error, passed on by Arrow
            return kind is None or kind.group(1) in _FILE_KINDS
        current = current.__cause__ or current.__context__
    return False


def _engine_errors(reader: pa.RecordBatchReader, timeout: _Timeout) -> Iterator[pa.RecordBatch]:
    """`reader`'s batches; an error DuckDB meets while they stream (Arrow passes it on as
    an OSError) becomes a SqlError, as it is when met before the first batch."""
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (duckdb.Error, OSError, pa.ArrowException) as exc:
            raise timeout.error(exc) from None
        yield batch


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: Path | None = None,
        query_timeout_seconds: float | None = None,
    ) -> None:
        self.threads = threads
        self.memory_limit = memory_limit
        self.temp_directory = temp_directory
        self.query_timeout_seconds = query_timeout_seconds

    def settings(self) -> Mapping[str, Any]:
        # Threads and memory change speed, not results, so they stay out of cache keys; the
        # dialect Weir's own SQL is rendered in does change what runs.
        return {"engine": self.name, "dialect": self.dialect, "duckdb": duckdb.__version__}

    def scratch(self) -> Path | None:
        """The directory for rows that do not fit in memory and files a load spools (made
        owner-only when first asked for), or None when it has none: DuckDB then does not
        spill, and a load spools to the system's temporary directory."""
        if self.temp_directory is not None:
            self.temp_directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.temp_directory

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A fresh in-memory connection with Weir's settings (UTC, limits, no extension is
        ever installed or loaded on demand, no Python variable is scanned as a table, rows
        spill only to this engine's own directory, no progress bar on standard output)."""
        config: dict[str, Any] = dict(CONNECT_CONFIG)
        if self.threads:
            config["threads"] = self.threads
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        scratch = self.scratch()
        if scratch is not None:
            config["temp_directory"] = str(scratch)
        connection = duckdb.connect(":memory:", config=config)
        # Timestamps are stored in UTC; without this, TIMESTAMPTZ would render in local time.
        connection.execute("SET TimeZone = 'UTC'")
        # The bar is drawn on standard output once a query runs 2 s: into the CLI's output.
        connection.execute("SET enable_progress_bar = false")
        return connection

    @contextmanager
    def query(
        self,
        sql: str,
        tables: Mapping[str, Readable],
        params: Mapping[str, Any] | None = None,
        views: Mapping[str, str] | None = None,
    ) -> Iterator[pa.RecordBatchReader]:
        """Run one SELECT over `tables`; `params` fill $name placeholders (never spliced into
        the text, so a secret passed this way cannot appear in an error message). With
        `query_timeout_seconds`, the query is stopped when it has run that long, the time
        its result takes to stream out included."""
        connection = self._sandbox(tables, views or {})
        timeout = _Timeout(connection, self.query_timeout_seconds)
        try:
            check_sql(sql, [*tables, *(views or {})], connection)
            try:
                # DuckDB refuses parameters a statement does not use: pass only those named.
                used = {k: v for k, v in (params or {}).items() if f"${k}" in sql}
                relation = connection.sql(sql, params=used) if used else connection.sql(sql)
                if relation is None:
                    raise SqlError(
                        "the SQL did not produce a result", fix="a model must be one SELECT"
                    )
                reader = relation.to_arrow_reader(BATCH_ROWS)
            except duckdb.Error as exc:
                raise timeout.error(exc) from None
            yield pa.RecordBatchReader.from_batches(reader.schema, _engine_errors(reader, timeout))
        finally:
            timeout.cancel()
            connection.close()

    def _sandbox(
        self, tables: Mapping[str, Readable], views: Mapping[str, str] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """A connection that can read `tables` (and `views` of them) and nothing else.

        Every door is shut and locked first; only then are the inputs registered, Weir's
        views over Parquet files created (they may read exactly those files), and the
        user's views checked and created, in dependency order.
        """
        connection = self.connect()
        try:
            files = sorted(
                {p for s in tables.values() if isinstance(s, TableFiles) for p in s.paths}
            )
            if files:
                connection.execute(f"SET allowed_paths = [{', '.join(map(_literal, files))}]")
            connection.execute("SET enable_external_access = false")
            connection.execute("SET lock_configuration = true")
            for name, source in tables.items():
                if isinstance(source, TableFiles):
                    listed = ", ".join(_literal(p) for p in source.paths)
                    # by name, in the table's column order: a column added by a later append
                    # is absent from older files and reads as NULL there
                    columns = ", ".join(_ident(c) for c in source.schema.names)
                    connection.execute(
                        f"CREATE VIEW {_ident(name)} AS SELECT {columns} "
                        f"FROM read_parquet([{listed}], union_by_name = true)"
                    )
                else:
                    connection.register(name, source)
            known = list(tables)
            for name, view_sql in (views or {}).items():  # in dependency order
                check_sql(view_sql, known, connection, what=f"view {name}")
                try:
                    # from the checked statement itself, never spliced into other SQL text
                    relation = connection.sql(view_sql)
                    if relation is None:
                        raise SqlError(f"view {name}: not a query", fix="a view is one SELECT")
                    relation.create_view(name, replace=False)
                except duckdb.Error as exc:
                    raise SqlError(f"view {name}: {exc}") from None
                known.append(name)
        except BaseException:
            connection.close()
            raise
        return connection

    def fingerprint(self, data: Readable) -> Fingerprint:
        """Order-independent content digest: row count plus the sum and xor of row hashes.

        Computed inside DuckDB, so a large table is never pulled into Python. Column names
        and types are part of the digest: the same values under another schema differ.
        """
        connection = self._sandbox({"t": data})
        try:
            sql = render(_fingerprint_query(data.schema), self.dialect)
            check_sql(sql, ["t"], connection)
            count, total, xor, *counts = connection.execute(sql).fetchone() or (0, 0, 0)
        finally:
            connection.close()
        schema = ",".join(f"{f.name}:{f.type}" for f in data.schema)
        digest = hashlib.sha256(f"{schema}|{count}|{total}|{xor}".encode()).hexdigest()
        width = len(data.schema)
        return Fingerprint(
            int(count),
            digest,
            tuple(int(c) for c in counts[:width]),
            tuple(int(c) for c in counts[width:]),
        )

    def materialise(self, request: Materialise, lake: TableStore) -> Materialised:
        """Stream the query's Arrow result through this process into the lake (delta-rs):
        the commit is made only once every batch has been read, so a query that fails
        midway commits nothing."""
        tables: dict[str, Readable] = {
            i.name: lake.scan(i.table, i.version) for i in request.inputs
        }
        metadata = dict(request.metadata)
        with self.query(request.sql, tables, views=dict(request.views)) as reader:
            if request.mode == "merge":
                version, counts = lake.merge(
                    request.target, reader, list(request.keys), metadata=metadata
                )
                return Materialised(version, tuple(sorted(counts.items())))
            version = lake.write(request.target, reader, mode=request.mode, metadata=metadata)
        return Materialised(version)


def _fingerprint_query(schema: pa.Schema) -> exp.Select:
    """Row count, the sum and xor of row hashes, each column's non-null count and each
    float column's NaN and \u00b1Infinity count, in one scan of `t`."""
    rows = template("SELECT hash(:row) AS h, * FROM t", row=exp.null())
    columns = [column(name) for name in schema.names]
    if columns:
        rows.expressions[0].set("this", call("hash", *columns))
    non_null = [template("count(:c)", c=c) for c in columns]
    not_finite = [
        template("count(:c) FILTER (WHERE NOT isfinite(:c))", c=c)
        if pa.types.is_floating(f.type)
        else literal(0)
        for f, c in zip(schema, columns, strict=True)
    ]
    totals = [
        template("count(*)"),
        template("coalesce(sum(h::HUGEINT), 0)"),
        template("coalesce(bit_xor(h), 0)"),
    ]
    return exp.select(*totals, *non_null, *not_finite).from_(rows.subquery())
