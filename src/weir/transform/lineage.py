"""Column lineage of SQL models, from sqlglot: which input columns each output column reads.

Where sqlglot cannot trace a column, the answer is None ("unknown"), never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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
