"""Casts that keep the value or give NULL: what the cleaning rule `cast` (and a constant
that `fill_missing` puts into a column) may do to a value.

DuckDB's `try_cast` bends values: '1.5' and 2.5 become integers by rounding, 'NaN', 'inf'
and '1e39' (as a float32) become floats that are no numbers, 2^53 + 1 becomes a float that
is another number, 2 becomes true, '0000-01-01' a date no tool reads back, and a time
without an offset is read in the session's zone (UTC) while a zone name's ambiguous hour is
picked by the engine. Here each of those is NULL instead, so the rule's `on_error` decides
(the step fails naming them, or they are nulled and counted). What stays is a conversion
that keeps the value: an integer written as text (surrounding blanks, a sign, '4.0'), a
float within its type's range (rounded to its precision, as floats are; a decimal only when
the float gives its digits back, as ingest), a decimal that casts back unchanged (text with
no more fraction digits than the scale, other than trailing zeros: '1.239' is no
DECIMAL(10,2)), 0 and 1 as booleans, a date or an instant in years 1-9999 (a time of day is
never dropped to make a date: text with one other than a zone-less midnight, or a timestamp
other than midnight, UTC's for an instant, as ingest), a time written with an offset.
"""

from __future__ import annotations

INTEGERS = (
    *("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"),
    *("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"),
)
FLOATS = ("FLOAT", "DOUBLE")
NUMBERS = (*INTEGERS, *FLOATS, "DECIMAL")

# RE2, whole value: an integer, perhaps with '.0'
_INTEGER_TEXT = r"\s*[+-]?[0-9]+(\.0*)?\s*"
# RE2, whole value: a decimal number, its fraction digits F (the scale's, then zeros)
_DECIMAL_TEXT = r"\s*[+-]?([0-9]+(\.F)?|\.F)\s*"
# a time of day, then an offset: Z, UTC, GMT, +hh, +hhmm, +hh:mm; at most 6 fraction digits
# unless the rest are zeros (microseconds keep them)
_TIME_WITH_OFFSET = (
    r"\s*[0-9]{4,}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6}0*)?)?"
    r"\s*(?i:z|utc|gmt|[+-][0-9]{2}(:?[0-9]{2})?)\s*"
)
_OFFSET = r"(?i:z|utc|gmt|[+-][0-9]{2}(:?[0-9]{2})?)\s*$"
_FIRST_DAY, _LAST_DAY = "DATE '0001-01-01'", "DATE '9999-12-31'"
_FIRST_US = "TIMESTAMPTZ '0001-01-01 00:00:00+00'"
_LAST_US = "TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'"


def _scale(duckdb_type: str) -> int:
    """'DECIMAL(10,2)' -> 2."""
    inside = duckdb_type.partition("(")[2].rstrip(") ")
    return int(inside.split(",")[1]) if "," in inside else 0


def _kind(duckdb_type: str) -> str:
    """'DECIMAL(10,2)' -> 'DECIMAL'; 'TIMESTAMP WITH TIME ZONE' -> 'TIMESTAMPTZ'."""
    base = duckdb_type.split("(")[0].strip().upper()
    return {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ", "BOOL": "BOOLEAN"}.get(base, base)


def exact_cast(value: str, source: str, target: str) -> str:
    """SQL: `value` (an expression of DuckDB type `source`) as `target`, or NULL where the
    cast would not keep it."""
    src, tgt = _kind(source), _kind(target)
    cast = f"try_cast({value} AS {target})"
    if src == tgt and src not in ("DECIMAL",):
        return value
    keeps: str | None = None
    if tgt in INTEGERS:
        if src == "VARCHAR":
            keeps = f"regexp_full_match({value}, '{_INTEGER_TEXT}')"
        elif src in FLOATS or src == "DECIMAL":
            keeps = f"{value} = trunc({value})"
    elif tgt in FLOATS:
        as_float = f"try_cast({cast} AS DOUBLE)"
        finite = f"isfinite({as_float})"
        if src in FLOATS:  # NaN and infinity stay what they were; an overflow does not
            finite = f"({finite} OR NOT isfinite({value}))"
        if src == "VARCHAR":  # a mantissa with a digit other than 0 is not zero
            nonzero = f"regexp_matches(regexp_extract({value}, '^[^eE]*'), '[1-9]')"
        else:
            nonzero = f"try_cast({value} AS DOUBLE) <> 0"
        keeps = f"{finite} AND NOT ({as_float} = 0 AND {nonzero})"
        if src in INTEGERS:
            keeps += f" AND try_cast({cast} AS HUGEINT) = {value}"
        elif src == "DECIMAL":  # the float's shortest digits are the decimal's (as ingest)
            keeps += f" AND try_cast(try_cast({cast} AS VARCHAR) AS {source}) = {value}"
    elif tgt == "DECIMAL":
        if src == "VARCHAR":  # plain digits, no more fraction digits than the scale holds
            text = _DECIMAL_TEXT.replace("F", f"[0-9]{{0,{_scale(target)}}}0*")
            keeps = f"regexp_full_match({value}, '{text}')"
        elif src in NUMBERS:  # kept when it casts back unchanged
            keeps = f"try_cast({cast} AS {source}) = {value}"
        else:
            keeps = "false"
    elif tgt == "BOOLEAN" and src in NUMBERS:
        keeps = f"{value} IN (0, 1)"
    elif tgt == "DATE":
        keeps = f"{cast} BETWEEN {_FIRST_DAY} AND {_LAST_DAY}"
        if src == "VARCHAR":  # a time of day is not dropped to make a date (as ingest)
            midnight = (
                f"(NOT regexp_matches({value}, '{_OFFSET}') AND "
                f"try_cast({value} AS TIMESTAMP) = {cast}::TIMESTAMP)"
            )
            keeps += f" AND (NOT contains({value}, ':') OR {midnight})"
        elif src.startswith("TIMESTAMP"):  # midnight only (the session's zone is UTC)
            keeps += f" AND try_cast({cast} AS {source}) = {value}"
    elif tgt == "TIMESTAMPTZ":
        if src == "VARCHAR":
            keeps = f"regexp_full_match({value}, '{_TIME_WITH_OFFSET}')"
        elif src in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
            keeps = "false"  # a wall-clock time: which zone is not said
        keeps = f"{keeps or 'true'} AND {cast} BETWEEN {_FIRST_US} AND {_LAST_US}"
    if keeps is None:
        return cast
    return f"CASE WHEN {keeps} THEN {cast} END"
