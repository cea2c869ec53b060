"""Delta Lake tables under the project's lake root: atomic writes, versions, time travel."""

from weir.lake.delta import Commit, Lake, TableData, check_latest
from weir.lake.failures import (
    BrokenLogError,
    InputStreamError,
    MissingDataError,
    UnreadableDataError,
    stream_failure,
)

__all__ = [
    "BrokenLogError",
    "Commit",
    "InputStreamError",
    "Lake",
    "MissingDataError",
    "TableData",
    "UnreadableDataError",
    "check_latest",
    "stream_failure",
]
