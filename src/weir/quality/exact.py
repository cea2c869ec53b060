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

import sqlglot.expressions as exp

from weir.engines.sql import cast, literal, template

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


def exact_cast(value: exp.Expr, source: str, target: str) -> exp.Expr:
    """`value` (an expression of DuckDB type `source`) as `target`, or NULL where the cast
    would not keep it: a sqlglot tree."""
    src, tgt = _kind(source), _kind(target)
    converted = cast(value, target, safe=True)
    if src == tgt and src not in ("DECIMAL",):
        return value.copy()
    keeps: exp.Expr | None = None
    if tgt in INTEGERS:
        if src == "VARCHAR":
            keeps = _full_match(value, _INTEGER_TEXT)
        elif src in FLOATS or src == "DECIMAL":
            keeps = template(":v = trunc(:v)", v=value)
    elif tgt in FLOATS:
        keeps = _keeps_float(value, converted, src, source)
    elif tgt == "DECIMAL":
        if src == "VARCHAR":  # plain digits, no more fraction digits than the scale holds
            keeps = _full_match(value, _DECIMAL_TEXT.replace("F", f"[0-9]{{0,{_scale(target)}}}0*"))
        elif src in NUMBERS:  # kept when it casts back unchanged
            keeps = _casts_back(converted, source, value)
        else:
            keeps = template("false")
    elif tgt == "BOOLEAN" and src in NUMBERS:
        keeps = template(":v IN (0, 1)", v=value)
    elif tgt == "DATE":
        keeps = _keeps_date(value, converted, src, source)
    elif tgt == "TIMESTAMPTZ":
        keeps = template("true")
        if src == "VARCHAR":
            keeps = _full_match(value, _TIME_WITH_OFFSET)
        elif src in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
            keeps = template("false")  # a wall-clock time: which zone is not said
        keeps = template(
            f":keeps AND :c BETWEEN {_FIRST_US} AND {_LAST_US}", keeps=keeps, c=converted
        )
    if keeps is None:
        return converted
    kept: exp.Expr = template("CASE WHEN :keeps THEN :c END", keeps=keeps, c=converted)
    return kept


def _full_match(value: exp.Expr, pattern: str) -> exp.Expr:
    matched: exp.Expr = template("regexp_full_match(:v, :p)", v=value, p=literal(pattern))
    return matched


def _casts_back(converted: exp.Expr, source: str, value: exp.Expr) -> exp.Expr:
    back: exp.Expr = template(":back = :v", back=cast(converted, source, safe=True), v=value)
    return back


def _keeps_float(value: exp.Expr, converted: exp.Expr, src: str, source: str) -> exp.Expr:
    as_float = cast(converted, "DOUBLE", safe=True)
    finite = template("isfinite(:f)", f=as_float)
    if src in FLOATS:  # NaN and infinity stay what they were; an overflow does not
        finite = template(":finite OR NOT isfinite(:v)", finite=finite, v=value)
    if src == "VARCHAR":  # a mantissa with a digit other than 0 is not zero
        nonzero = template("regexp_matches(regexp_extract(:v, '^[^eE]*'), '[1-9]')", v=value)
    else:
        nonzero = template(":d <> 0", d=cast(value, "DOUBLE", safe=True))
    keeps: exp.Expr = template(
        ":finite AND NOT (:f = 0 AND :nonzero)", finite=finite, f=as_float, nonzero=nonzero
    )
    if src in INTEGERS:
        keeps = template(
            ":keeps AND :back = :v",
            keeps=keeps,
            back=cast(converted, "HUGEINT", safe=True),
            v=value,
        )
    elif src == "DECIMAL":  # the float's shortest digits are the decimal's (as ingest)
        text = cast(converted, "VARCHAR", safe=True)
        keeps = template(":keeps AND :back", keeps=keeps, back=_casts_back(text, source, value))
    return keeps


def _keeps_date(value: exp.Expr, converted: exp.Expr, src: str, source: str) -> exp.Expr:
    keeps: exp.Expr = template(f":c BETWEEN {_FIRST_DAY} AND {_LAST_DAY}", c=converted)
    if src == "VARCHAR":  # a time of day is not dropped to make a date (as ingest)
        midnight = template(
            "NOT regexp_matches(:v, :offset) AND :at = :c::TIMESTAMP",
            v=value,
            offset=literal(_OFFSET),
            at=cast(value, "TIMESTAMP", safe=True),
            c=converted,
        )
        keeps = template(
            ":keeps AND (NOT contains(:v, ':') OR :midnight)",
            keeps=keeps,
            v=value,
            midnight=midnight,
        )
    elif src.startswith("TIMESTAMP"):  # midnight only (the session's zone is UTC)
        keeps = template(
            ":keeps AND :back", keeps=keeps, back=_casts_back(converted, source, value)
        )
    return keeps
