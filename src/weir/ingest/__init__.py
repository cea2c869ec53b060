"""Sources: read data where it lives (files, SQL databases, HTTP APIs) into Arrow batches."""

from weir.engines.split import QUARANTINE_SCHEMA
from weir.ingest.base import LineCounts, SourceRead
from weir.ingest.connector import (
    Capabilities,
    Capability,
    Connector,
    FileObservation,
    Observation,
    ReadOptions,
    SourceContext,
    load_position,
)
from weir.ingest.connectors import CONNECTORS, connector_for
from weir.ingest.csv_files import RereadError
from weir.ingest.files import FileState, check_csv, list_files, observe_files, read_files
from weir.ingest.open import open_source
from weir.ingest.sql import sqlite_file
from weir.ingest.state import SourceState, dump_state

__all__ = [
    "CONNECTORS",
    "QUARANTINE_SCHEMA",
    "Capabilities",
    "Capability",
    "Connector",
    "FileObservation",
    "FileState",
    "LineCounts",
    "Observation",
    "ReadOptions",
    "RereadError",
    "SourceContext",
    "SourceRead",
    "SourceState",
    "check_csv",
    "connector_for",
    "dump_state",
    "list_files",
    "load_position",
    "observe_files",
    "open_source",
    "read_files",
    "sqlite_file",
]
