"""How each column of a PostgreSQL or MariaDB result is read, decided before the first row.

connectorx decodes the wire protocol into Arrow in Rust, fast, but not every type: it
panics (a Rust panic surfaces as a BaseException that nothing catches) on PostgreSQL money,
interval, timetz, xml, geometric types and "char", on numerics wider than 38 digits, on
MariaDB zero dates ('0000-00-00'), negative TIMEs and geometry; and it silently cuts every
numeric and DECIMAL to 10 decimal places. So the result's columns are looked up first with
the database's own driver (a `LIMIT 0` query) and each is read in a form that arrives whole:

- numeric / DECIMAL as text, typed by Weir as decimal(p,s) (at most 38 digits: more
  integer digits or decimals than that are quarantined, naming the column, unless it is
  declared as string); an unconstrained numeric as decimal(38,10), the same way;
- PostgreSQL's 'infinity' dates and timestamps as null, with a reason that quarantines
  their row (a BC date is kept by the database and set aside by Weir's range check); an
  array of more than one dimension ('{{1,2},{3,4}}', which connectorx panics on) the same;
- money as its numeric value (decimal(38,2)); interval, timetz, bit strings, xml, ranges,
  geometric and any other type as their text; a MariaDB TIME as text, BIT as an integer,
  geometry as WKT;
- a MariaDB date that is not a date (zero, or an invalid day with ALLOW_INVALID_DATES) as
  null, with a reason next to it that quarantines its row;
- a MariaDB TIMESTAMP (an instant, which the server shows in the session's zone) as its
  UTC time with an offset, so the source's `timezone` (for DATETIME, a wall-clock type) is
  never applied to it.

A declared column type wins: a numeric is then read as text and typed as declared (so
`string` keeps every digit of a numeric(60,0)); other columns are cast from what they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from weir.engines.split import INVALID_PREFIX

# PostgreSQL types connectorx reads faithfully
_PG_NATIVE = {
    "bool",
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "text",
    "varchar",
    "bpchar",
    "name",
    "uuid",
    "json",
    "jsonb",
    "date",
    "timestamp",
    "timestamptz",
    "time",
    "bytea",
    "oid",
}
_PG_NATIVE_ARRAYS = {"_bool", "_int2", "_int4", "_int8", "_float4", "_float8", "_text", "_varchar"}

# MariaDB/MySQL protocol type codes (pymysql.constants.FIELD_TYPE)
_MY_DECIMAL = (0, 246)
_MY_DATES = (7, 10, 12, 14)  # TIMESTAMP, DATE, DATETIME, NEWDATE
_MY_TIMESTAMP = 7
_MY_TIME = 11
_MY_BIT = 16
_MY_GEOMETRY = 255
_MY_UNSIGNED = 32


@dataclass
class ReadPlan:
    """The select list that reads a result, and the types of the columns read as text."""

    items: list[str] = field(default_factory=list)
    implied: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def numeric(self, name: str, source_type: str, fit: str) -> None:
        """A numeric column read as text and typed as `fit`; a misfit's reason says why."""
        self.implied[name] = fit
        wider = "" if source_type.replace("numeric", "decimal") == fit else f", read as {fit}"
        self.notes[name] = (
            f" (the column is {source_type}{wider}; declare it as string in columns to keep "
            "every digit)"
        )

    def sql(self, base: str) -> str:
        return f"SELECT {', '.join(self.items)} FROM ({base}) AS weir_typed"


def decimal_fit(precision: int | None, scale: int | None) -> str:
    """The decimal type a numeric(p,s) is stored as: itself within 38 digits; wider, its
    integer digits first, then as many decimals as still fit; unconstrained: (38,10)."""
    if precision is None or precision <= 0:
        return "decimal(38,10)"
    scale = scale or 0
    if scale < 0:  # PostgreSQL 15: numeric(5,-2) rounds to hundreds, integers of 7 digits
        precision, scale = precision - scale, 0
    elif scale > precision:  # numeric(3,5): 0.00123, five decimals
        precision = scale
    if precision <= 38:
        return f"decimal({precision},{scale})"
    whole = min(precision - scale, 38)
    return f"decimal(38,{max(0, min(scale, 38 - whole))})"


def postgres_plan(url: str, base: str, declared: Mapping[str, str]) -> ReadPlan:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(f"SELECT * FROM ({base}) AS weir_probe LIMIT 0")
        columns = list(cursor.description or [])
        oids = [c.type_code for c in columns]
        names: dict[int, str] = {
            oid: typname
            for oid, typname, typtype in connection.execute(
                "SELECT oid::int, typname, typtype FROM pg_type WHERE oid = ANY(%s)", [oids]
            ).fetchall()
            if typtype != "e"
        }
    plan = ReadPlan()
    for column in columns:
        name, quoted = column.name, _pg_ident(column.name)
        typname = names.get(column.type_code, "enum")
        if typname == "numeric":
            plan.items.append(f"{quoted}::text AS {quoted}")
            if name not in declared:
                fit = decimal_fit(column.precision, column.scale)
                shown = (
                    f"numeric({column.precision},{column.scale or 0})"
                    if column.precision
                    else "numeric"
                )
                plan.numeric(name, shown, fit)
        elif typname == "money":
            plan.items.append(f"{quoted}::numeric::text AS {quoted}")
            plan.numeric(name, "money", "decimal(38,2)")
        elif typname in ("date", "timestamp", "timestamptz"):
            # 'infinity' arrives as a number no calendar shows: set aside, and say so
            plan.items.append(f"CASE WHEN isfinite({quoted}) THEN {quoted} END AS {quoted}")
            said = _pg_literal(f"column {name}: '")
            tail = _pg_literal("' is PostgreSQL's infinity, not a calendar date")
            invalid = _pg_ident(INVALID_PREFIX + name)
            plan.items.append(
                f"CASE WHEN NOT isfinite({quoted}) THEN {said} || {quoted}::text || {tail} END "
                f"AS {invalid}"
            )
        elif typname in _PG_NATIVE_ARRAYS:
            # a list holds one dimension; connectorx panics on a row with more
            flat = f"coalesce(array_ndims({quoted}), 1) = 1"
            plan.items.append(f"CASE WHEN {flat} THEN {quoted} END AS {quoted}")
            said = _pg_literal(f"column {name}: '")
            tail = _pg_literal(
                "' is an array of more than one dimension; cast the column to text in the "
                "query to keep it"
            )
            invalid = _pg_ident(INVALID_PREFIX + name)
            plan.items.append(
                f"CASE WHEN NOT {flat} THEN {said} || left({quoted}::text, 200) || {tail} END "
                f"AS {invalid}"
            )
        elif typname in _PG_NATIVE or typname == "enum":
            plan.items.append(quoted)
        else:
            plan.items.append(f"{quoted}::text AS {quoted}")
    return plan


def mysql_connect(url: str, **options: Any) -> Any:
    """A pymysql connection to a mysql:// URL (its user and password percent-decoded)."""
    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname or "localhost",
        port=parts.port or 3306,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=parts.path.lstrip("/") or None,
        **options,
    )


def mysql_plan(url: str, base: str, declared: Mapping[str, str]) -> ReadPlan:
    connection = mysql_connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM ({base}) AS weir_probe LIMIT 0")
            described = list(cursor.description or [])
            fields: list[Any] = list(cursor._result.fields) if cursor._result else []
    finally:
        connection.close()
    plan = ReadPlan()
    for index, column in enumerate(described):
        name, code = column[0], column[1]
        flags = fields[index].flags if index < len(fields) else 0
        _mysql_column(plan, name, code, column, flags, name in declared)
    return plan


def _mysql_column(
    plan: ReadPlan, name: str, code: int, column: Any, flags: int, declared: bool
) -> None:
    quoted = _my_ident(name)
    if code in (_MY_TIME, *_MY_DECIMAL):
        plan.items.append(f"CAST({quoted} AS CHAR) AS {quoted}")
        if code in _MY_DECIMAL and not declared:
            scale = int(column[5] or 0)
            signed = 0 if flags & _MY_UNSIGNED else 1
            precision = int(column[3] or 0) - signed - (1 if scale else 0)
            plan.numeric(name, f"decimal({precision},{scale})", decimal_fit(precision, scale))
    elif code in _MY_DATES:
        broken = f"({quoted} IS NOT NULL AND DATE_ADD({quoted}, INTERVAL 0 DAY) IS NULL)"
        value = quoted
        if code == _MY_TIMESTAMP:
            # an instant, shown in the session's zone: read it as UTC from its epoch value
            micros = f"CAST(ROUND(UNIX_TIMESTAMP({quoted}) * 1000000) AS SIGNED)"
            utc = f"TIMESTAMPADD(MICROSECOND, {micros}, TIMESTAMP'1970-01-01 00:00:00')"
            value = f"CONCAT(DATE_FORMAT({utc}, '%Y-%m-%d %H:%i:%s.%f'), '+00:00')"
            if not declared:
                plan.implied[name] = "timestamp"
        plan.items.append(f"CASE WHEN {broken} THEN NULL ELSE {value} END AS {quoted}")
        reason = (
            f"CONCAT('column {_my_text(name)}: ''', CAST({quoted} AS CHAR), "
            "''' is not a calendar date (a zero or invalid MariaDB date)')"
        )
        invalid = _my_ident(INVALID_PREFIX + name)
        plan.items.append(f"CASE WHEN {broken} THEN {reason} END AS {invalid}")
    elif code == _MY_BIT:
        plan.items.append(f"CAST({quoted} AS UNSIGNED) AS {quoted}")
    elif code == _MY_GEOMETRY:
        plan.items.append(f"ST_AsText({quoted}) AS {quoted}")
    else:
        plan.items.append(quoted)


def _pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pg_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _my_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _my_text(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "''")
