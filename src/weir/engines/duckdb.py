"""The default engine: DuckDB in process, reading Arrow datasets straight from the lake.

Each query gets its own connection: input tables are registered as Arrow datasets, then
external access is switched off and the configuration locked, so user SQL can read the
tables it names and nothing else — no files, no URLs, no extensions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import duckdb

from weir.core.errors import WeirError
from weir.engines.base import Fingerprint

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pads

BATCH_ROWS = 122_880  # DuckDB's row-group size: batches map onto its vectors cleanly


class SqlError(WeirError):
    """DuckDB refused a query; the message is DuckDB's own."""


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
    def query(self, sql: str, tables: Mapping[str, pads.Dataset]) -> Iterator[pa.RecordBatchReader]:
        connection = self.connect()
        try:
            for name, dataset in tables.items():
                connection.register(name, dataset)
            connection.execute("SET enable_external_access = false")
            connection.execute("SET lock_configuration = true")
            try:
                relation = connection.sql(sql)
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

    def fingerprint(self, data: pads.Dataset | pa.Table) -> Fingerprint:
        """Order-independent content digest: row count plus the sum and xor of row hashes.

        Computed inside DuckDB, so a large table is never pulled into Python. Column names
        and types are part of the digest: the same values under another schema differ.
        """
        connection = self.connect()
        try:
            connection.register("t", data)
            count, total, xor = connection.execute(
                "SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0), coalesce(bit_xor(hash(t)), 0) FROM t"
            ).fetchone() or (0, 0, 0)
        finally:
            connection.close()
        schema = ",".join(f"{f.name}:{f.type}" for f in data.schema)
        digest = hashlib.sha256(f"{schema}|{count}|{total}|{xor}".encode()).hexdigest()
        return Fingerprint(row_count=int(count), digest=digest)
