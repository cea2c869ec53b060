"""What SQL may name inside the sandbox, checked on DuckDB's own parse tree before it runs.

DuckDB's settings (external access off, exactly the input files allowed, configuration
locked, no extension loading) keep a query from files and the network. They do not keep it
from the session itself: its settings (`current_setting`, `duckdb_settings()`), its catalog
(`duckdb_columns()`, `information_schema`, `pg_catalog`), or from running a string as SQL
(`query()`, `json_serialize_plan`). So every statement is also checked against an allow-list:

- exactly one SELECT statement;
- tables: the step's inputs (and views) by name, and the query's own CTEs where in scope;
  never a name qualified by a schema, never one of DuckDB's catalog views;
- table functions: a few that only generate rows from their arguments (range, unnest, ...);
- functions: those DuckDB marks CONSISTENT (the result depends on the arguments alone), the
  clock and randomness, and DuckDB's built-in macros made only of such functions.

The tree is DuckDB's own (`json_serialize_sql`), not another parser's reading of the text,
so what is checked is exactly what runs. Anything the walk does not recognise is refused.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb

from weir.engines.base import SqlError

# Settings given to every connection before anything runs: nothing is fetched or loaded
# behind Weir's back, Python variables are never scanned as tables, and rows never spill to
# disk (DuckDB's default is `.tmp` under the current directory, outside the workspace; an
# engine that may spill names its own directory, see DuckDBEngine).
CONNECT_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
    "temp_directory": "",
}

TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "json_each", "json_tree"})
# Not CONSISTENT, but reading nothing but the clock or a random source.
CLOCK_AND_CHANCE = frozenset(
    {
        "now",
        "today",
        "current_date",
        "get_current_time",
        "get_current_timestamp",
        "transaction_timestamp",
        "random",
        "uuid",
        "uuidv4",
        "uuidv7",
        "gen_random_uuid",
        "error",
    }
)
# CONSISTENT by DuckDB's marking, but they describe the engine or evaluate SQL text.
NOT_ALLOWED = frozenset({"version", "json_serialize_plan", "json_deserialize_sql"})
# Expressions DuckDB parses as a function name that is not in duckdb_functions().
SPECIAL_FUNCTIONS = frozenset({"unnest", "grouping", "grouping_id"})
_TABLE_REFS = frozenset(
    {
        "BASE_TABLE",
        "JOIN",
        "SUBQUERY",
        "TABLE_FUNCTION",
        "EMPTY",
        "EXPRESSION_LIST",
        "SHOW_REF",
        "PIVOT",
    }
)
_SHOWS = frozenset({"DESCRIBE", "SUMMARY"})
_NO_LOCATION = 2**63


class SandboxError(SqlError):
    """A statement names something the sandbox does not allow; `offset` is where (0-based,
    in characters of the SQL text) when DuckDB's parser recorded it."""

    def __init__(self, message: str, *, fix: str, offset: int | None = None) -> None:
        super().__init__(message, fix=fix)
        self.offset = offset

    def without_values(self) -> str:
        return self.message  # said of the SQL before it ran: it quotes no data


@dataclass(frozen=True)
class Refusal:
    """One thing refused: `text` completes a sentence whose subject is the SQL's owner."""

    text: str
    fix: str
    location: int | None  # DuckDB's query_location: a byte offset into the UTF-8 text

    @classmethod
    def named(cls, what: str, fix: str, location: int | None = None) -> Refusal:
        return cls(f"uses {what}, which the SQL sandbox does not allow", fix, location)


_FILE_FIX = "read tables by their names; a file is read by declaring it under sources: in weir.yaml"
_FUNCTION_FIX = (
    "the SQL sandbox allows functions whose result depends on their arguments alone (and the "
    "clock and randomness); compute this elsewhere, e.g. in a Python step"
)
_SELECT_FIX = "write exactly one SELECT query (WITH ... SELECT is fine)"
# DuckDB's PIVOT without a list of values runs a query of its own first to find them
_PIVOT_FIX = "; a PIVOT lists its values: FROM t PIVOT (sum(x) FOR k IN ('a', 'b'))"
_TABLE_FIX = "name a table that a source or model makes (DuckDB's catalog is not readable)"


@contextmanager
def parser() -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to check many statements with (opening one costs tens of milliseconds)."""
    connection = duckdb.connect(":memory:", config=dict(CONNECT_CONFIG))
    try:
        yield connection
    finally:
        connection.close()


def _serialise(connection: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    # fetchall, not fetchone: DuckDB refuses more work on a connection with a result open
    [row] = connection.execute("SELECT json_serialize_sql($sql::VARCHAR)", {"sql": sql}).fetchall()
    parsed: dict[str, Any] = json.loads(row[0])
    return parsed


def _called(tree: Any) -> Iterator[str]:
    """Every function name in a tree, lower case, `main.` qualification dropped."""
    if isinstance(tree, dict):
        name = tree.get("function_name")
        if isinstance(name, str) and tree.get("schema", "") in ("", "main"):
            yield name.lower()
        elif isinstance(name, str):
            yield f"{tree['schema']}.{name}".lower()
        for value in tree.values():
            yield from _called(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _called(value)


@dataclass(frozen=True)
class Allowed:
    """What DuckDB itself says about its functions and catalog views, read once."""

    functions: frozenset[str]
    catalog_views: frozenset[str]


_ALLOWED: list[Allowed] = []  # filled on first use: the same for every connection


def allowed(connection: duckdb.DuckDBPyConnection) -> Allowed:
    """The functions user SQL may call, from DuckDB's own description of its functions,
    and the names of DuckDB's catalog views (duckdb_tables, pg_settings, ...)."""
    if _ALLOWED:
        return _ALLOWED[0]
    rows = connection.execute(
        "SELECT lower(function_name), function_type, stability, "
        "CASE WHEN function_type = 'macro' AND macro_definition IS NOT NULL "
        "THEN json_serialize_sql('SELECT ' || macro_definition) END "
        "FROM duckdb_functions() WHERE schema_name = 'main'"
    ).fetchall()
    functions = {
        name
        for name, kind, stability, _ in rows
        if kind in ("scalar", "aggregate", "window")
        and stability == "CONSISTENT"
        and not name.startswith("__")
    }
    functions = (functions - NOT_ALLOWED) | CLOCK_AND_CHANCE | SPECIAL_FUNCTIONS
    macros: dict[str, list[set[str]]] = {}
    for name, kind, _, tree in rows:
        if kind == "macro":
            parsed = json.loads(tree) if tree else {"error": True}
            uses = {"?"} if parsed.get("error") else set(_called(parsed))
            macros.setdefault(name, []).append(uses)
    # A macro is allowed once every function each of its definitions calls is allowed.
    changed = True
    while changed:
        changed = False
        for name, definitions in macros.items():
            if name not in functions and all(uses <= functions for uses in definitions):
                functions.add(name)
                changed = True
    views = connection.execute(
        "SELECT DISTINCT lower(view_name) FROM duckdb_views() WHERE internal"
    ).fetchall()
    _ALLOWED.append(Allowed(frozenset(functions), frozenset(v[0] for v in views)))
    return _ALLOWED[0]


class _Walk:
    """Collects refusals over DuckDB's serialised parse tree."""

    def __init__(self, tables: Collection[str], known: Allowed) -> None:
        self.tables = {t.lower() for t in tables}
        self.functions = known.functions
        self.catalog = known.catalog_views
        self.refusals: list[Refusal] = []

    def refuse(self, what: str, fix: str, node: dict[str, Any]) -> None:
        location = node.get("query_location")
        valid = isinstance(location, int) and location < _NO_LOCATION
        self.refusals.append(Refusal.named(what, fix, location if valid else None))

    def node(self, tree: Any, scope: frozenset[str]) -> None:
        if isinstance(tree, list):
            for item in tree:
                self.node(item, scope)
            return
        if not isinstance(tree, dict):
            return
        ctes = tree.get("cte_map")
        if isinstance(ctes, dict):
            names: set[str] = set()
            for entry in ctes.get("map", []):
                # a CTE sees the ones before it and itself (WITH RECURSIVE), not later ones
                names.add(str(entry["key"]).lower())
                self.node(entry["value"], scope | names)
            scope = scope | names
            tree = {k: v for k, v in tree.items() if k != "cte_map"}
        if "class" in tree:
            self.expression(tree, scope)
        elif "sample" in tree and not str(tree.get("type", "")).endswith("_NODE"):
            self.table(tree, scope)
        else:
            self.children(tree, scope)

    def children(self, tree: dict[str, Any], scope: frozenset[str]) -> None:
        for value in tree.values():
            if isinstance(value, dict | list):
                self.node(value, scope)

    def expression(self, tree: dict[str, Any], scope: frozenset[str]) -> None:
        name = tree.get("function_name")
        if isinstance(name, str):
            qualified = tree.get("schema") or tree.get("catalog")
            if qualified or name.lower() not in self.functions:
                shown = f"{qualified}.{name}" if qualified else name
                self.refuse(f"function {shown}()", _FUNCTION_FIX, tree)
        self.children(tree, scope)

    def table(self, tree: dict[str, Any], scope: frozenset[str]) -> None:
        kind = tree.get("type")
        if kind not in _TABLE_REFS:
            self.refuse(f"a {kind} table reference", _TABLE_FIX, tree)
            return
        if kind == "BASE_TABLE":
            self.base_table(tree, scope)
        elif kind == "TABLE_FUNCTION":
            function = tree.get("function") or {}
            name = str(function.get("function_name", "?"))
            if function.get("schema") or name.lower() not in TABLE_FUNCTIONS:
                self.refuse(f"table function {name}()", _FILE_FIX, tree)
            self.children(function, scope)
            tree = {k: v for k, v in tree.items() if k != "function"}
        elif kind == "SHOW_REF" and (tree.get("show_type") not in _SHOWS or tree.get("table_name")):
            self.refuse(f"SHOW {tree.get('table_name') or ''}".strip(), _TABLE_FIX, tree)
            return
        self.children(tree, scope)

    def base_table(self, tree: dict[str, Any], scope: frozenset[str]) -> None:
        name = str(tree.get("table_name", ""))
        qualifier = ".".join(p for p in (tree.get("catalog_name"), tree.get("schema_name")) if p)
        lowered = name.lower()
        known = lowered in self.tables or (lowered in scope and lowered not in self.catalog)
        if qualifier or not known:
            shown = f"{qualifier}.{name}" if qualifier else name
            fix = _FILE_FIX if "." in name or "/" in name else _TABLE_FIX
            self.refuse(f"table '{shown}'", fix, tree)
        self.children(tree, scope)


def refusals(
    sql: str, tables: Collection[str], connection: duckdb.DuckDBPyConnection | None = None
) -> list[Refusal]:
    """What in `sql` the sandbox refuses; [] when the statement may run over `tables`.
    `connection` parses (any connection will do); without one, a new one is opened."""
    if connection is None:
        with parser() as own:
            return refusals(sql, tables, own)
    tree = _serialise(connection, sql)
    if tree.get("error"):
        if tree.get("error_type") == "not implemented":
            return [Refusal("is not a SELECT query", _SELECT_FIX + _PIVOT_FIX, None)]
        position = str(tree.get("position", ""))
        return [
            Refusal(
                f"does not parse: {tree.get('error_message', '')}",
                "fix the SQL",
                int(position) if position.isdigit() else None,
            )
        ]
    statements = tree.get("statements", [])
    if len(statements) != 1:
        return [Refusal(f"has {len(statements)} statements", _SELECT_FIX, None)]
    walk = _Walk(tables, allowed(connection))
    walk.node(statements[0], frozenset())
    return walk.refusals


def character_offset(sql: str, location: int | None) -> int | None:
    """DuckDB's byte offset as a character offset into `sql`."""
    if location is None:
        return None
    return len(sql.encode()[:location].decode(errors="ignore"))


def check_sql(
    sql: str,
    tables: Collection[str],
    connection: duckdb.DuckDBPyConnection | None = None,
    *,
    what: str = "the SQL",
) -> None:
    """Raise SandboxError for the first thing in `sql` the sandbox does not allow."""
    found = refusals(sql, tables, connection)
    if found:
        first = found[0]
        raise SandboxError(
            f"{what} {first.text}",
            fix=first.fix,
            offset=character_offset(sql, first.location),
        )


def columns_named(sql: str, connection: duckdb.DuckDBPyConnection | None = None) -> set[str] | None:
    """The columns a statement over a table `t` names (lower case; `t.x` names `x`), or
    None when it may read columns it does not name: `*` (other than `count(*)`),
    `COLUMNS(...)`, a positional reference (`#1`). The row itself (`to_json(t)`) is named
    `t`, and a lambda's parameter by its name: callers compare with the columns they know."""
    if connection is None:
        with parser() as own:
            return columns_named(sql, own)
    tree = _serialise(connection, sql)
    if tree.get("error"):
        return None
    named: set[str] = set()
    for node in _nodes(tree.get("statements", [])):
        kind = node.get("class")
        if kind in ("STAR", "POSITIONAL_REFERENCE"):
            return None
        if kind == "COLUMN_REF":
            parts = [str(p).lower() for p in node.get("column_names", [])]
            named.add(parts[1] if len(parts) > 1 and parts[0] == "t" else parts[0])
    return named


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)
