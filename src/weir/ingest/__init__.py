"""Sources: read data where it lives (files, SQL databases, HTTP APIs) into Arrow batches."""

from weir.engines.split import QUARANTINE_SCHEMA
from weir.ingest.base import LineCounts, SourceRead
from weir.ingest.csv_files import RereadError
from weir.ingest.files import FileState, check_csv, list_files, observe_files, read_files
from weir.ingest.open import open_source
from weir.ingest.sql import sqlite_file

__all__ = [
    "QUARANTINE_SCHEMA",
    "FileState",
    "LineCounts",
    "RereadError",
    "SourceRead",
    "check_csv",
    "list_files",
    "observe_files",
    "open_source",
    "read_files",
    "sqlite_file",
]
