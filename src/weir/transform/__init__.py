"""Transforms: SQL models parsed with sqlglot and run by the engine."""

from weir.transform.lineage import column_sources, output_columns
from weir.transform.python import call_step, code_identity, load_function
from weir.transform.sql import SqlModel, parse_model, table_references

__all__ = [
    "SqlModel",
    "call_step",
    "code_identity",
    "column_sources",
    "load_function",
    "output_columns",
    "parse_model",
    "table_references",
]
