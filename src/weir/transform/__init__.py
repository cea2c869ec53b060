"""Transforms: SQL models parsed with sqlglot and run by the engine."""

from weir.transform.sql import SqlModel, parse_model, table_references

__all__ = ["SqlModel", "parse_model", "table_references"]
