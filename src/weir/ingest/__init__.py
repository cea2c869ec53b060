"""Sources: read data where it lives into Arrow batches (files today)."""

from weir.engines.split import QUARANTINE_SCHEMA
from weir.ingest.files import (
    FileRead,
    FileState,
    list_files,
    observe_files,
    read_files,
)

__all__ = [
    "QUARANTINE_SCHEMA",
    "FileRead",
    "FileState",
    "list_files",
    "observe_files",
    "read_files",
]
