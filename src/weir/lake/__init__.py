"""Delta Lake tables under the project's lake root: atomic writes, versions, time travel."""

from weir.lake.delta import Lake, TableData

__all__ = ["Lake", "TableData"]
