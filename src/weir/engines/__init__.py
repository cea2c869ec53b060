"""Query engines behind one protocol: DuckDB by default."""

from weir.engines.base import Engine, Fingerprint, iter_batches, schema_record
from weir.engines.duckdb import DuckDBEngine, SqlError

__all__ = ["DuckDBEngine", "Engine", "Fingerprint", "SqlError", "iter_batches", "schema_record"]
