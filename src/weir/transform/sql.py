"""SQL models: sql/NAME.sql makes table NAME. Parsed with sqlglot, never templated.

Parsing gives the model's dependencies (the tables it names, minus its own CTEs) and a
normalised text for the cache key, so an edit to comments or layout does not re-run it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlglot
import sqlglot.expressions as exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError

from weir.core.errors import ConfigError
from weir.core.suggest import suggestion_text
from weir.engines.sandbox import SandboxError, check_sql
from weir.project.project import SqlModelFile

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

DIALECT = "duckdb"
_TOKEN = re.compile(r"<Token token_type: [^,]+, text: ([^,]*), [^>]*>")


@dataclass(frozen=True)
class SqlModel:
    name: str
    path: str
    sql: str
    normalised: str
    dependencies: tuple[str, ...]


def parse_model(
    model: SqlModelFile,
    known_tables: Collection[str],
    display_path: str,
    parser: DuckDBPyConnection | None = None,
) -> SqlModel:
    """Parse one model; errors name the file, line and column and say how to fix them.
    `parser`: a connection to check the SQL with (see weir.engines.sandbox.parser)."""
    try:
        statements = [s for s in sqlglot.parse(model.text, read=DIALECT) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line, column = first.get("line", "?"), first.get("col", "?")
        description = _TOKEN.sub(r"'\1'", str(first.get("description", exc)))
        raise ConfigError(
            f"{display_path}:{line}:{column}: cannot parse SQL: {description}",
            fix="write one DuckDB SELECT statement (WITH ... SELECT is fine)",
        ) from None
    if len(statements) != 1:
        raise ConfigError(
            f"{display_path}: has {len(statements)} statements; a model is exactly one SELECT",
            fix="move other statements into their own model files",
        )
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise ConfigError(
            f"{display_path}: a model must be a SELECT query, not {statement.key.upper()}",
            fix="Weir creates the table from your SELECT; remove CREATE/INSERT/UPDATE",
        )
    dependencies = table_references(statement, display_path)
    for table in dependencies:
        if table not in known_tables:
            raise ConfigError(
                f"{display_path}: reads table '{table}', which no source or model makes",
                fix=suggestion_text(table, known_tables),
            )
    sandboxed(model.text, dependencies, display_path, parser)
    return SqlModel(
        name=model.name,
        path=display_path,
        sql=model.text,
        normalised=statement.sql(dialect=DIALECT, comments=False),
        dependencies=tuple(sorted(dependencies)),
    )


def sandboxed(
    sql: str,
    tables: Collection[str],
    display_path: str,
    parser: DuckDBPyConnection | None = None,
) -> None:
    """Refuse, before anything runs, SQL the engine's sandbox would refuse: files, settings,
    DuckDB's catalog, SQL run from strings. The error names the file, line and column."""
    try:
        check_sql(sql, tables, parser, what="the model")
    except SandboxError as exc:
        where = display_path
        if exc.offset is not None:
            line = sql.count("\n", 0, exc.offset) + 1
            column = exc.offset - (sql.rfind("\n", 0, exc.offset) + 1) + 1
            where = f"{display_path}:{line}:{column}"
        raise ConfigError(f"{where}: {exc.message}", fix=exc.fix) from None


def table_references(statement: exp.Expr, display_path: str) -> set[str]:
    """Names of the tables a query reads, excluding CTEs and table functions."""
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    tables: set[str] = set()
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function such as range(10) or unnest(...)
        if table.args.get("db") or table.args.get("catalog"):
            raise ConfigError(
                f"{display_path}: '{table.sql(dialect=DIALECT)}' is qualified by a schema",
                fix="name Weir tables without a schema, e.g. FROM orders",
            )
        if table.name not in ctes:
            tables.add(table.name)
    return tables


_CARET_LINE = re.compile(r"LINE (\d+): (.*)\n( *)\^")
# Most precise first: a missing column, then a missing table.
_NAMED = (
    re.compile(r'column (?:named )?"([^"]+)"', re.IGNORECASE),
    re.compile(r'table "([^"]+)"|Table with name (\w+)', re.IGNORECASE),
)


def locate_error(sql: str, message: str) -> tuple[int, int, bool] | None:
    """(line, column, exact) of an engine error in a model's SQL, 1-based.

    Parse errors carry DuckDB's own LINE and caret (exact). Binder errors name the column or
    table they could not find; its first occurrence in the SQL is reported (exact=False).
    """
    caret = _CARET_LINE.search(message)
    if caret:
        prefix = len(f"LINE {caret.group(1)}: ")
        return int(caret.group(1)), len(caret.group(3)) - prefix + 1, True
    found = next((m for m in (p.search(message) for p in _NAMED) if m), None)
    if found is None:
        return None
    name = next(g for g in found.groups() if g).lower()
    try:
        tokens = Dialect.get_or_raise(DIALECT).tokenize(sql)
    except SqlglotError:
        return None
    for token in tokens:
        if token.text.lower() == name:
            line = sql.count("\n", 0, token.start) + 1
            column = token.start - (sql.rfind("\n", 0, token.start) + 1) + 1
            return line, column, False
    return None
