"""Query engines behind one protocol (DuckDB by default), and the SQL they are given."""

from weir.engines.base import (
    Engine,
    Fingerprint,
    Materialise,
    Materialised,
    Readable,
    SqlError,
    TableAt,
    TableStore,
    WriteMode,
    iter_batches,
    schema_record,
)
from weir.engines.duckdb import DuckDBEngine, damaged_file_error
from weir.engines.registry import ENGINES, EngineFactory, EngineOptions
from weir.engines.sql import RenderError, render

__all__ = [
    "ENGINES",
    "DuckDBEngine",
    "Engine",
    "EngineFactory",
    "EngineOptions",
    "Fingerprint",
    "Materialise",
    "Materialised",
    "Readable",
    "RenderError",
    "SqlError",
    "TableAt",
    "TableStore",
    "WriteMode",
    "damaged_file_error",
    "iter_batches",
    "render",
    "schema_record",
]
