"""Column lineage of SQL models, from sqlglot: which input columns each output column reads.

Where sqlglot cannot trace a column, the answer is None ("unknown"), never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlglot.expressions as exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage

from weir.transform.sql import DIALECT, SqlModel


def column_sources(
    model: SqlModel, column: str, input_columns: Mapping[str, Iterable[str]]
) -> set[tuple[str, str]] | None:
    """(table, column) pairs of the model's inputs that `column` is computed from.

    Includes columns that shape the value without appearing in it (join keys, window
    partitions and orders, filters in the path): they too carry information into it.
    """
    schema = {t: dict.fromkeys(columns, "VARCHAR") for t, columns in input_columns.items()}
    try:
        root = lineage(column, model.sql, schema=schema, dialect=DIALECT)
    except (SqlglotError, KeyError, ValueError):
        return None
    found: set[tuple[str, str]] = set()
    for node in root.walk():
        if node.downstream:
            continue
        table = getattr(node.source, "name", "")
        if table in model.dependencies:
            found.add((table, node.name.split(".")[-1]))
    return found


def output_columns(model: SqlModel, input_columns: Mapping[str, Iterable[str]]) -> list[str] | None:
    """The columns a model's SELECT produces, from its inputs' columns (for views, which
    have no stored schema); None when sqlglot cannot say."""
    from sqlglot import parse_one
    from sqlglot.optimizer.qualify import qualify

    schema: dict[str, object] = {
        t: dict.fromkeys(columns, "VARCHAR") for t, columns in input_columns.items()
    }
    try:
        qualified = qualify(parse_one(model.sql, read=DIALECT), schema=schema, dialect=DIALECT)
    except (SqlglotError, KeyError, ValueError):
        return None
    if not isinstance(qualified, exp.Query):
        return None
    return list(qualified.named_selects)
