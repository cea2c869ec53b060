"""The SQL that reads JSON and NDJSON (files, and the pages an HTTP source spooled).

DuckDB infers each field's type from the records. Where that inference could bend a value,
the field is read as JSON text and typed by `weir.ingest.text_types` instead:
- a field whose records disagree (a string here, a number there) is DuckDB's `JSON` type,
  whose values are JSON text: the string 'a' would be stored as '"a"'. It is read as text,
  strings unquoted, numbers as written; an object with such a field inside is stored as
  its JSON text;
- a float field may hold integers too long for float64 (12345678901234567890123), which
  would lose digits;
- a declared type is applied to the value as written: 2.7 in an int64 field is quarantined,
  not rounded to 3;
- a timestamp field is read from its text by the one time rule: DuckDB's own reading
  would drop nanoseconds ('...00.123456789Z') without a word;
- NaN and Infinity are not JSON; a file that holds them is refused, unless the source
  declares them (`non_finite: null` stores null and counts it, `keep` stores the float).

DuckDB renames a key that differs from another only by case ('A' beside 'a' becomes 'A_1',
and no value is read into it), and reads records with an empty key, or records that are
not objects, as one column named `json`. When the inferred names look like either, the
records' own keys are read and such a load is refused, naming the keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from weir.core.errors import SourceRefusedError
from weir.engines.split import FILE_COLUMN, LOCAL_PREFIX, RAW_COLUMN, REJECT_COLUMN
from weir.ingest.names import check_names
from weir.ingest.text_types import (
    INTEGER_TYPES,
    Typed,
    date_column,
    decimal_column,
    decisions,
    float_column,
    ident,
    integer_column,
    nest,
    quote,
    timestamp_column,
)
from weir.project.base import _DECIMAL
from weir.project.model import duckdb_type


@dataclass(frozen=True)
class JsonRead:
    """Where the records are and what the source declares about them."""

    paths: list[str]
    layout: str  # newline_delimited | auto
    compression: str
    columns: Mapping[str, str] | None
    non_finite: str  # reject | null | keep
    filename: bool = True
    source: str = ""  # the source's name, for errors
    shown: str = ""  # where the records are, as the user knows it


def json_sql(connection: duckdb.DuckDBPyConnection, read: JsonRead) -> tuple[str, list[object]]:
    """The query and its parameters; DuckDB's inference runs once here, over every record."""
    options = [
        f"format = {quote(read.layout)}",
        "compression = ?",
        "union_by_name = true",
        "sample_size = -1",
        # only ISO dates are inferred: DuckDB would guess an order for '01-02-2025' and
        # then fail to read it; such values stay text, as '01/02/2025' does
        "dateformat = '%Y-%m-%d'",
    ]
    params: list[object] = [read.paths, read.compression]
    inferred = connection.execute(
        f"DESCRIBE SELECT * FROM read_json(?, {', '.join(options)})", params
    ).fetchall()
    if _renamed_or_merged([name for name, *_ in inferred]):
        _check_records(connection, read)
    declared = dict(read.columns or {})
    read_types: dict[str, str] = {}
    typed: dict[str, Typed] = {}
    for name, kind, *_ in inferred:
        target = declared.get(name) or _inferred_target(kind)
        if target is None:
            read_types[name] = kind
            continue
        read_types[name] = "JSON"
        typed[name] = _typed(
            name, target, read.non_finite, f"__w{len(read_types) - 1}", name in declared
        )
    struct = ", ".join(f"{quote(c)}: {quote(t)}" for c, t in read_types.items())
    options.append(f"columns = {{{struct}}}")
    if read.filename:
        options.append(f"filename = {quote(FILE_COLUMN)}")
    reader = f"read_json(?, {', '.join(options)})"
    if not typed:
        return f"SELECT * FROM {reader}", params
    projection, codes = [], []
    for index, name in enumerate(read_types):
        one = typed.get(name)
        if one is None:
            projection.append(ident(name))
            continue
        projection.append(f"CASE WHEN NOT {one.bad} THEN {one.value} END AS {ident(name)}")
        if one.local is not None:
            local = ident(LOCAL_PREFIX + name)
            projection.append(f"CASE WHEN NOT {one.bad} THEN {one.local} END AS {local}")
        if one.refuse is not None:
            codes.append((one.refuse, f"N{index}"))
        infinite = _infinite(name)
        if read.non_finite != "keep":
            codes.append((infinite, f"{'F' if read.non_finite == 'reject' else 'C'}{index}"))
    decide = decisions(codes)
    if decide is not None:
        projection.append(decide)
    any_bad = " OR ".join(t.bad for t in typed.values())
    reasons = ", ".join(f"CASE WHEN {t.bad} THEN {t.message} END" for t in typed.values())
    extra = [f"CASE WHEN {any_bad} THEN concat_ws('; ', {reasons}) END AS {REJECT_COLUMN}"]
    pairs = ", ".join(f"{quote(n)}, {ident(n)}" for n in read_types)
    extra.append(f"CASE WHEN {any_bad} THEN json_object({pairs})::VARCHAR END AS {RAW_COLUMN}")
    if read.filename:
        extra.append(FILE_COLUMN)
    relation = nest(reader, list(typed.values()))
    return f"SELECT {', '.join(projection + extra)} FROM {relation}", params


def _renamed_or_merged(names: list[str]) -> bool:
    """The inferred names look like DuckDB's renaming of a colliding key ('A_1' beside 'a')
    or its one `json` column for records it could not read as records."""
    lower = {n.lower() for n in names}
    if "json" in lower:
        return True
    for name in names:
        renamed = re.fullmatch(r"(.*)_[0-9]+", name, flags=re.DOTALL)
        if renamed and renamed.group(1).lower() in lower:
            return True
    return False


def _check_records(connection: duckdb.DuckDBPyConnection, read: JsonRead) -> None:
    """Refuse records that are not objects, and keys that are empty or collide."""
    layout = "newline_delimited" if read.layout == "newline_delimited" else "auto"
    objects = f"read_json_objects(?, format = {quote(layout)}, compression = ?)"
    params: list[object] = [read.paths, read.compression]
    where = read.shown or ", ".join(read.paths)
    other = connection.execute(
        f"SELECT json_type(json) FROM {objects} "
        "WHERE json_type(json) NOT IN ('OBJECT', 'NULL') LIMIT 1",
        params,
    ).fetchall()
    if other:
        # the kind, not the record: an error is printed and kept in the catalog
        raise SourceRefusedError(
            read.source,
            f"{where}: a record is {other[0][0].lower()}, not an object; every record must "
            "be a JSON object; nothing was committed",
            fix="write one JSON object per record (NDJSON: one per line)",
        )
    keys = connection.execute(
        f"SELECT DISTINCT unnest(json_keys(json)) FROM {objects} ORDER BY 1", params
    ).fetchall()
    check_names([k for (k,) in keys], "keep", read.source, f"the keys of {where}")


def _inferred_target(kind: str) -> str | None:
    """The Weir type a field DuckDB inferred as `kind` is checked against, or None when
    DuckDB's own reading is exact."""
    if "JSON" in kind:  # the records disagree, at the top or inside: the value as text
        return "string"
    if kind in ("DOUBLE", "FLOAT"):
        return "float64"
    if kind.startswith("TIMESTAMP"):  # DuckDB's own reading drops nanoseconds
        return "timestamp"
    return None


def _infinite(name: str) -> str:
    """SQL: the field holds NaN or an infinity (which JSON does not allow)."""
    column = ident(name)
    return (
        f"coalesce(json_type({column}) = 'DOUBLE' "
        f"AND NOT isfinite(try_cast({column} AS DOUBLE)), false)"
    )


def _typed(name: str, target: str, non_finite: str, alias: str, declared: bool) -> Typed:
    """The checked reading of one field's JSON value (`ident(name)` is of type JSON); a
    non-finite number is kept as the float it is only when the source says so."""
    plain = _plain(name, target, f"({ident(name)}->>'$')", alias)
    if declared and (target == "string" or _DECIMAL.match(target)):
        plain = _exact_digits(name, target, plain)
    if non_finite == "keep":
        return plain
    infinite = _infinite(name)
    value = f"(CASE WHEN NOT {infinite} THEN {plain.value} END)"
    bad = f"(NOT {infinite} AND {plain.bad})"
    return Typed(plain.levels, value, bad, plain.message, plain.local, plain.refuse)


def _exact_digits(name: str, target: str, plain: Typed) -> Typed:
    """DuckDB's JSON reader holds a number with a fraction or an exponent as a float64, so
    its text comes back with the float's digits ('0.12345678901234567890123' as
    '0.12345678901234568'). For a declared decimal or string such a value, which shows 16
    or more significant digits, may not be the one written: its row is set aside, never
    stored changed (a number of fewer digits reads back exactly). A field whose type is
    inferred is a float, or text of the float's shortest digits, as most writers write it."""
    text = f"({ident(name)}->>'$')"
    digits = f"ltrim(replace(regexp_extract({text}, '^-?([0-9.]+)', 1), '.', ''), '0')"
    lossy = f"coalesce(json_type({ident(name)}) = 'DOUBLE' AND length({digits}) >= 16, false)"
    said = _says_json(
        name,
        text,
        f"has more digits than DuckDB's JSON reader keeps (it reads a float64); "
        f"write the number as a JSON string to load it as {target}",
    )
    return Typed(
        plain.levels,
        plain.value,
        f"({plain.bad} OR {lossy})",
        f"CASE WHEN {lossy} THEN {said} ELSE {plain.message} END",
        plain.local,
        plain.refuse,
        plain.code,
    )


def _says_json(name: str, text: str, why: str) -> str:
    return f"{quote(f'column {name}: ' + chr(39))} || {text} || {quote(chr(39) + ' ' + why)}"


def _plain(name: str, target: str, text: str, alias: str) -> Typed:
    decimal = _DECIMAL.match(target)
    if target in INTEGER_TYPES:
        return integer_column(text, name, target, alias)
    if decimal:
        return decimal_column(text, name, int(decimal.group(1)), int(decimal.group(2)), alias)
    if target in ("float64", "float32"):
        return float_column(text, name, alias, sql_type=duckdb_type(target))
    if target == "timestamp":
        return timestamp_column(text, name, None, alias)
    if target == "date":
        return date_column(text, name, None, alias)
    t, v, b = f"{alias}t", f"{alias}v", f"{alias}b"
    cast = f"try_cast({t} AS {duckdb_type(target)})" if target != "string" else t
    message = (
        f"{quote(f'column {name}: ' + chr(39))} || {t} || {quote(chr(39) + f' is not {target}')}"
    )
    return Typed(
        (((t, text),), ((v, cast),), ((b, f"({t} IS NOT NULL AND {v} IS NULL)"),)),
        v,
        b,
        message,
    )
