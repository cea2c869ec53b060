"""The default engine: DuckDB in process, reading Arrow datasets straight from the lake.

Each query gets its own connection: input tables are registered as Arrow datasets, then
external access is switched off and the configuration locked, so user SQL can read the
tables it names and nothing else — no files, no URLs, no extensions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import duckdb

from weir.core.tables import TableFiles
from weir.engines.base import Fingerprint, Readable, SqlError

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_ROWS = 122_880


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# DuckDB's row-group size: batches map onto its vectors cleanly


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, *, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.threads = threads
        self.memory_limit = memory_limit

    def settings(self) -> Mapping[str, Any]:
        # Threads and memory change speed, not results, so they stay out of cache keys.
        return {"engine": self.name, "duckdb": duckdb.__version__}

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A fresh in-memory connection with Weir's settings (UTC, limits)."""
        config: dict[str, Any] = {}
        if self.threads:
            config["threads"] = self.threads
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        connection = duckdb.connect(":memory:", config=config)
        # Timestamps are stored in UTC; without this, TIMESTAMPTZ would render in local time.
        connection.execute("SET TimeZone = 'UTC'")
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
        the text, so a secret passed this way cannot appear in an error message)."""
        connection = self.connect()
        try:
            self._sandbox(connection, tables, views or {})
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
                raise SqlError(str(exc)) from None
            yield reader
        finally:
            connection.close()

    def _sandbox(
        self,
        connection: duckdb.DuckDBPyConnection,
        tables: Mapping[str, Readable],
        views: Mapping[str, str] | None = None,
    ) -> None:
        """Make `tables` readable under their names, then shut every other door and lock it.

        Parquet files are read natively through views; only their directories stay readable.
        """
        allowed: set[str] = set()
        for name, source in tables.items():
            if isinstance(source, TableFiles):
                listed = ", ".join(_literal(p) for p in source.paths)
                # by name, in the table's column order: a column added by a later append is
                # absent from older files and reads as NULL there
                columns = ", ".join(_ident(c) for c in source.schema.names)
                connection.execute(
                    f"CREATE VIEW {_ident(name)} AS SELECT {columns} "
                    f"FROM read_parquet([{listed}], union_by_name = true)"
                )
                allowed |= {str(PurePath(p).parent) + "/" for p in source.paths}
            else:
                connection.register(name, source)
        for name, view_sql in (views or {}).items():  # in dependency order
            try:
                connection.execute(f"CREATE VIEW {_ident(name)} AS {view_sql}")
            except duckdb.Error as exc:
                raise SqlError(f"view {name}: {exc}") from None
        if allowed:
            connection.execute(
                f"SET allowed_directories = [{', '.join(_literal(d) for d in sorted(allowed))}]"
            )
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")

    def fingerprint(self, data: Readable) -> Fingerprint:
        """Order-independent content digest: row count plus the sum and xor of row hashes.

        Computed inside DuckDB, so a large table is never pulled into Python. Column names
        and types are part of the digest: the same values under another schema differ.
        """
        connection = self.connect()
        columns = ", ".join(_ident(name) for name in data.schema.names) or "NULL"
        try:
            self._sandbox(connection, {"t": data})
            non_null = "".join(f", count({_ident(n)})" for n in data.schema.names)
            count, total, xor, *counts = connection.execute(
                f"SELECT count(*), coalesce(sum(h::HUGEINT), 0), coalesce(bit_xor(h), 0)"
                f"{non_null} FROM (SELECT hash({columns}) AS h, * FROM t)"
            ).fetchone() or (0, 0, 0)
        finally:
            connection.close()
        schema = ",".join(f"{f.name}:{f.type}" for f in data.schema)
        digest = hashlib.sha256(f"{schema}|{count}|{total}|{xor}".encode()).hexdigest()
        return Fingerprint(int(count), digest, tuple(int(c) for c in counts))
