"""Transforms: SQL models parsed with sqlglot and run by the engine."""

from weir.transform.lineage import column_sources
from weir.transform.sql import SqlModel, parse_model, table_references

__all__ = ["SqlModel", "column_sources", "parse_model", "table_references"]
