"""Delta Lake tables under the project's lake root: atomic writes, versions, time travel."""

from weir.lake.delta import Commit, Lake, TableData
from weir.lake.failures import BrokenLogError, InputStreamError, MissingDataError

__all__ = ["BrokenLogError", "Commit", "InputStreamError", "Lake", "MissingDataError", "TableData"]
