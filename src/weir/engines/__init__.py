"""Query engines behind one protocol: DuckDB by default."""

from weir.engines.base import Engine, Fingerprint, Readable, SqlError, iter_batches, schema_record
from weir.engines.duckdb import DuckDBEngine, damaged_file_error

__all__ = [
    "DuckDBEngine",
    "Engine",
    "Fingerprint",
    "Readable",
    "SqlError",
    "damaged_file_error",
    "iter_batches",
    "schema_record",
]
