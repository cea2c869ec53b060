"""Weir's own SQL as sqlglot expression trees, rendered in the engine's dialect: one seam.

The SQL Weir generates (checks, cleaning, profiles, the quarantine select, fingerprints) is
never spliced together as text. Each piece is a small DuckDB-dialect template of Weir's own,
parsed once into a sqlglot tree, whose `:name` placeholders are filled with expression
nodes (a quoted column, a literal, another tree), so a value can never change the shape of
the statement. A user's SQL fragment (a check's expression) is DuckDB text today: it is
parsed with `read="duckdb"` into the same tree. `render(tree, engine.dialect)` is the one
place a tree becomes text, so a second engine gets the same statements in its own dialect.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import sqlglot
import sqlglot.expressions as exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from weir.core.errors import WeirError

#: The dialect Weir's templates, users' check expressions and SQL models are written in.
SOURCE_DIALECT = "duckdb"


class RenderError(WeirError):
    """A tree holds what the engine's dialect cannot say (a gap of that engine)."""


def render(tree: exp.Expr, dialect: str) -> str:
    """`tree` as SQL text of `dialect` (a sqlglot dialect name, e.g. duckdb or spark).

    What the dialect cannot express raises RenderError rather than rendering something
    that means another thing. (A placeholder left in the tree is a bound parameter of the
    query, `$name` in DuckDB: sqlglot reads `$name` and `:name` alike, so `template`, not
    this, checks that every hole of Weir's templates was filled.)"""
    try:
        return tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise RenderError(
            f"this SQL cannot be written in the {dialect} dialect: {exc}",
            fix="use the duckdb engine for this step, or report the gap",
        ) from None


# DuckDB reads `SELECT :x` as a prefix alias (`SELECT alias: expr`): a placeholder first in
# a select list is parsed as a column of this name, then made a placeholder again.
_FIRST_HOLE = re.compile(r"\bSELECT(\s+DISTINCT)?\s+:([A-Za-z_]\w*)", re.IGNORECASE)
_HOLE_PREFIX = "__weir_hole_"


@functools.lru_cache(maxsize=512)
def _parsed(text: str) -> exp.Expr:
    marked = _FIRST_HOLE.sub(lambda m: f"SELECT{m.group(1) or ''} {_HOLE_PREFIX}{m.group(2)}", text)
    tree = sqlglot.parse_one(marked, read=SOURCE_DIALECT)
    if marked == text:
        return tree

    def unmark(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name.startswith(_HOLE_PREFIX):
            return exp.Placeholder(this=node.name.removeprefix(_HOLE_PREFIX))
        return node

    return tree.transform(unmark)


def template(text: str, **parts: exp.Expr | int | float | str | bool | None) -> Any:
    """A tree from one of Weir's DuckDB-dialect templates, its `:name` placeholders filled
    with `parts`: expression nodes as they are, Python values as literals (a str is a text
    literal, never SQL). The template is parsed once; each call gets its own copy.

    Typed Any because the tree's node class is the template's (a Select, a condition...);
    callers annotate what they know it is."""
    tree = _parsed(text).copy()
    filled = {name: _node(value) for name, value in parts.items()}
    missing = {p.name for p in tree.find_all(exp.Placeholder)} - set(filled)
    if missing:
        raise ValueError(f"template {text!r} needs {sorted(missing)}")
    return exp.replace_placeholders(tree, **filled) if filled else tree


def _node(value: exp.Expr | int | float | str | bool | None) -> exp.Expr:
    if isinstance(value, exp.Expr):
        return _grouped(value.copy())
    return literal(value)


def _grouped(node: exp.Expr) -> exp.Expr:
    """An operation in parentheses, so that it stays one operand wherever it is put (a tree
    is not text: `a OR b` put into `:x AND c` must not become `a OR b AND c`)."""
    if isinstance(node, exp.Binary | exp.Unary | exp.Predicate) and not isinstance(node, exp.Paren):
        return exp.Paren(this=node)
    return node


def column(name: str, table: str | None = None) -> exp.Column:
    """A column, always quoted (any name is safe, whatever its case or characters)."""
    return exp.column(exp.to_identifier(name, quoted=True), table=table)


def table(name: str) -> exp.Table:
    return exp.to_table(name)


def literal(value: Any) -> exp.Expr:
    """A Python value (None, bool, int, float, str, Decimal, date...) as a SQL literal."""
    return exp.convert(value)


def sql_type(name: str) -> exp.DataType:
    """A type named in DuckDB's spelling (VARCHAR, DECIMAL(10,2), TIMESTAMPTZ) as a tree."""
    return exp.DataType.build(name, dialect=SOURCE_DIALECT)


def cast(value: exp.Expr, to: str, *, safe: bool = False) -> exp.Expr:
    """CAST (or, `safe`, TRY_CAST) of `value` to a type in DuckDB's spelling."""
    node = exp.TryCast if safe else exp.Cast
    return node(this=value.copy(), to=sql_type(to))


def parse_expression(text: str) -> exp.Expr:
    """A user's SQL expression (DuckDB dialect) as a tree; ParseError when it is not one."""
    return sqlglot.parse_one(text, read=SOURCE_DIALECT)


def parse_query(text: str) -> exp.Expr:
    """A SELECT (DuckDB dialect: Weir's own, or a SQL model) as a tree."""
    return _parsed(text).copy()


def join(parts: list[exp.Expr], operator: type[exp.Binary], empty: str) -> exp.Expr:
    """`a OR b OR c` (AND, +...), `empty` (a template: 'false', '0') when there is none."""
    if not parts:
        nothing: exp.Expr = template(empty)
        return nothing
    tree = _grouped(parts[0].copy())
    for part in parts[1:]:
        tree = operator(this=tree, expression=_grouped(part.copy()))
    return tree


def call(name: str, *args: exp.Expr) -> exp.Expr:
    """A function call by its DuckDB name (sqlglot maps the ones it knows to each dialect's
    spelling: epoch -> UNIX_TIMESTAMP on Spark)."""
    return exp.func(name, *(a.copy() for a in args), dialect=SOURCE_DIALECT)
