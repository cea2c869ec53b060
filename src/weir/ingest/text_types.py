"""Typed values from text, in DuckDB SQL: the checked reading of CSV fields and JSON values.

DuckDB's own casts bend values without a word: '2.1' becomes BIGINT 2, '1.125' DECIMAL(10,2)
1.13, '2025-01-01 10:00' a DATE, a timestamp's offset and its nanoseconds are dropped by
TIMESTAMP. So a column that could be bent is read as text and typed here, where each value
either fits exactly or marks its row with the reason (the quarantine's `error`).

A timestamp is split in two: values with an offset are instants (`value`), values without
one are wall-clock times (`local`), which `weir.project.times` reads in the source's zone under
its time rule, the same code for every source kind.

Some findings are not a row's but the load's: nanoseconds that microseconds would drop, NaN
in JSON (unless declared). Such a condition is `Typed.refuse`, and the reader gathers them
in one helper column of codes (never of values, so no data can forge one).

Each piece (a cast, a pattern match) is computed once per value: the pieces are columns of
nested SELECTs (`Typed.levels`), which the outer expressions refer to by name. Written as
one expression, DuckDB would parse a timestamp once for each place it is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from weir.engines.split import DECIDE_COLUMN
from weir.ingest.conform import OFFSET_PATTERN, UTC_NAMES, ZONE_NAME_PATTERN, ZONE_NAMED

INTEGER_TYPES = ("int32", "int64")
_SQL_INTEGER = {"int32": "INTEGER", "int64": "BIGINT"}

Level = tuple[tuple[str, str], ...]  # (alias, SQL) pairs computed side by side


@dataclass(frozen=True)
class Typed:
    levels: tuple[Level, ...]  # computed inside out; a level may use the ones before it
    value: str  # SQL: the typed value
    bad: str  # SQL: TRUE when the text does not fit
    message: str  # SQL: why, for the quarantine row
    local: str | None = None  # SQL: a timestamp's wall-clock part (TIMESTAMP), else None
    refuse: str | None = None  # SQL: TRUE when the value must refuse the load
    code: str = "N"  # the decision `refuse` stands for (see `decisions`)


def integer_column(text: str, column: str, type_name: str, alias: str, note: str = "") -> Typed:
    """Signs and digits only, in range: no rounding, no 1e3, 0x10 or 1_000."""
    t, v, b = f"{alias}t", f"{alias}v", f"{alias}b"
    return Typed(
        (
            ((t, text),),
            ((v, f"try_cast({t} AS {_SQL_INTEGER[type_name]})"),),
            ((b, f"({t} IS NOT NULL AND (NOT regexp_full_match({t}, {_DIGITS}) OR {v} IS NULL))"),),
        ),
        v,
        b,
        _says(t, column, f"is not a whole number in {type_name} range{note}"),
    )


def decimal_column(
    text: str, column: str, precision: int, scale: int, alias: str, note: str = ""
) -> Typed:
    """Digits that fit decimal(p,s) exactly: never rounded to the scale."""
    t, v, b = f"{alias}t", f"{alias}v", f"{alias}b"
    whole = precision - scale
    pattern = rf"\s*[+-]?0*[0-9]{{0,{whole}}}(\.[0-9]{{0,{scale}}}0*)?\s*"
    bad = (
        f"({t} IS NOT NULL AND (NOT regexp_full_match({t}, '{pattern}') "
        f"OR NOT regexp_matches({t}, '[0-9]') OR {v} IS NULL))"
    )
    why = f"does not fit decimal({precision},{scale}) without rounding{note}"
    return Typed(
        (((t, text),), ((v, f"try_cast({t} AS DECIMAL({precision},{scale}))"),), ((b, bad),)),
        v,
        b,
        _says(t, column, why),
    )


def float_column(
    text: str,
    column: str,
    alias: str,
    note: str = "",
    sql_type: str = "DOUBLE",
    non_finite: str | None = None,
) -> Typed:
    """A float, unless it is an integer too long for float64 to hold exactly, or a number
    beyond the float type ('1e400', which DuckDB reads as infinity). `non_finite` says what
    a written NaN or infinity ('NaN', 'inf', '-Infinity') becomes: reject refuses the load
    (decision F), null stores null and counts it (decision C), keep or None stores the float
    (a JSON reader checks them itself)."""
    t, v, o, b = f"{alias}t", f"{alias}v", f"{alias}o", f"{alias}b"
    long_integer = (
        f"CASE WHEN strlen({t}) > 15 THEN regexp_full_match({t}, {_DIGITS}) "
        # beyond HUGEINT (39 digits) the cast is NULL: that is beyond float64 too
        f"AND coalesce(abs(try_cast({t} AS HUGEINT)) > 9007199254740992, true) ELSE false END"
    )
    long_said = (
        "is an integer beyond what float64 holds exactly; declare it as decimal(38,0) or string"
    )
    written = f"regexp_full_match(lower(trim({t})), '[+-]?(nan|inf|infinity)')"
    kind = "float32" if sql_type == "FLOAT" else "float64"
    message = (
        f"CASE WHEN {v} IS NULL THEN {_says(t, column, 'is not a number' + note)} "
        f"WHEN {o} THEN {_says(t, column, f'is beyond what {kind} holds')} "
        f"ELSE {_says(t, column, long_said)} END"
    )
    levels = (
        ((t, text),),
        ((v, f"try_cast({t} AS {sql_type})"),),
        ((o, f"coalesce(NOT isfinite({v}) AND NOT {written}, false)"),),
        ((b, f"({t} IS NOT NULL AND ({v} IS NULL OR {o} OR coalesce({long_integer}, false)))"),),
    )
    if non_finite in (None, "keep"):
        return Typed(levels, v, b, message)
    infinite = f"coalesce(NOT isfinite({v}) AND NOT {o}, false)"
    value = v if non_finite == "reject" else f"(CASE WHEN NOT {infinite} THEN {v} END)"
    code = "F" if non_finite == "reject" else "C"
    return Typed(levels, value, b, message, refuse=infinite, code=code)


def date_column(
    text: str, column: str, date_format: str | None, alias: str, note: str = ""
) -> Typed:
    """A date, in `date_format` or ISO; a time of day is not dropped to make one."""
    t, v, b, s = f"{alias}t", f"{alias}v", f"{alias}b", f"{alias}s"
    if date_format:
        stamp = f"try_strptime({t}, {quote(date_format)})"
        value = f"{s}::DATE"
        loses = f"({s} <> {v}::TIMESTAMP)"
    else:
        stamp = f"(CASE WHEN contains({t}, ':') THEN try_cast({t} AS TIMESTAMP) END)"
        value = f"try_cast({t} AS DATE)"
        loses = (
            f"CASE WHEN contains({t}, ':') THEN regexp_matches({t}, {quote(OFFSET_PATTERN)}) "
            f"OR {s} IS DISTINCT FROM {v}::TIMESTAMP ELSE false END"
        )
    shown = f" in the format {date_format}" if date_format else ""
    return Typed(
        (
            ((t, text),),
            ((s, stamp),),
            ((v, value),),
            ((b, f"({t} IS NOT NULL AND ({v} IS NULL OR coalesce({loses}, false)))"),),
        ),
        v,
        b,
        _says(t, column, f"is not a date{shown}{note}"),
    )


def timestamp_column(
    text: str, column: str, timestamp_format: str | None, alias: str, note: str = ""
) -> Typed:
    """An instant when the text carries an offset (in `value`), a wall-clock time when it
    does not (in `local`); nanoseconds that microseconds would drop refuse the load."""
    t, z, v, local, b = f"{alias}t", f"{alias}z", f"{alias}v", f"{alias}l", f"{alias}b"
    if timestamp_format and ("%z" in timestamp_format or "%Z" in timestamp_format):
        zoned = "true"
        aware = f"try_strptime({t}, {quote(timestamp_format)})::TIMESTAMPTZ"
        naive = "NULL::TIMESTAMP"
    elif timestamp_format:
        zoned = "false"
        aware = "NULL::TIMESTAMPTZ"
        naive = f"try_strptime({t}, {quote(timestamp_format)})"
    else:
        # a zone's name other than UTC's is no offset (see conform.ZONE_NAME_PATTERN): the
        # value is not read, rather than read by DuckDB's own rule for that zone
        utc = ", ".join(quote(n) for n in UTC_NAMES)
        zoned = (
            f"CASE WHEN NOT regexp_matches({t}, {quote(OFFSET_PATTERN)}) THEN false "
            f"WHEN upper(regexp_extract({t}, {quote(ZONE_NAME_PATTERN)}, 1)) IN ('', {utc}) "
            "THEN true END"
        )
        aware = f"try_cast({t} AS TIMESTAMPTZ)"
        naive = f"try_cast({t} AS TIMESTAMP)"
    # CASE, not AND: DuckDB evaluates both sides of an AND for every row
    nanos = f"CASE WHEN strlen({t}) > 26 THEN regexp_matches({t}, '\\.[0-9]{{6}}[0-9]*[1-9]') ELSE false END"
    shown = f" in the format {timestamp_format}" if timestamp_format else ""
    # `z`: true with an offset, false without one, null with a zone's name
    named = f"regexp_extract({t}, {quote(ZONE_NAME_PATTERN)}, 1)"
    before, after = ZONE_NAMED.split("{zone}")
    message = (
        f"CASE WHEN {z} IS NULL THEN {_says(t, column, before)} || {named} || {quote(after)} "
        f"ELSE {_says(t, column, 'is not a timestamp' + shown + note)} END"
    )
    return Typed(
        (
            ((t, text),),
            ((z, zoned),),
            (
                (v, f"CASE WHEN {z} THEN {aware} END"),
                (local, f"CASE WHEN NOT {z} THEN {naive} END"),
            ),
            ((b, f"({t} IS NOT NULL AND {v} IS NULL AND {local} IS NULL)"),),
        ),
        v,
        b,
        message,
        local,
        refuse=nanos,
    )


def plain_column(
    text: str, column: str, type_name: str, sql_type: str, alias: str, note: str = ""
) -> Typed:
    """Text as `sql_type` where DuckDB's cast is exact (a string, a boolean)."""
    t, v, b = f"{alias}t", f"{alias}v", f"{alias}b"
    cast = t if sql_type == "VARCHAR" else f"try_cast({t} AS {sql_type})"
    shown = {"bool": "a boolean", "string": "text"}.get(type_name, type_name)
    return Typed(
        (((t, text),), ((v, cast),), ((b, f"({t} IS NOT NULL AND {v} IS NULL)"),)),
        v,
        b,
        _says(t, column, f"is not {shown}{note}"),
    )


def nest(source: str, typed: list[Typed]) -> str:
    """`source` (a FROM item) with every level of every typed column added as columns,
    one nested SELECT per level."""
    depth = max((len(t.levels) for t in typed), default=0)
    relation = source
    for level in range(depth):
        items = [
            f"{sql} AS {alias}"
            for t in typed
            if level < len(t.levels)
            for alias, sql in t.levels[level]
        ]
        relation = f"(SELECT *, {', '.join(items)} FROM {relation}) AS weir_level{level}"
    return relation


def decisions(codes: list[tuple[str, str]]) -> str | None:
    """SQL of the decision column from (condition, code) pairs: the codes whose condition
    holds, joined by commas, or NULL. A code is a letter and the column's position: N3
    (nanoseconds in column 3 refuse the load), F3 (NaN refuses it), C3 (NaN made null)."""
    if not codes:
        return None
    parts = ", ".join(f"CASE WHEN {condition} THEN '{code}' END" for condition, code in codes)
    anything = " OR ".join(condition for condition, _ in codes)
    return f"CASE WHEN {anything} THEN concat_ws(',', {parts}) END AS {DECIDE_COLUMN}"


_DIGITS = r"'\s*[+-]?[0-9]+\s*'"


def _says(text: str, column: str, why: str) -> str:
    """SQL of the reason: column NAME: 'VALUE' WHY."""
    return f"{quote(f'column {column}: ' + chr(39))} || {text} || {quote(chr(39) + ' ' + why)}"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
