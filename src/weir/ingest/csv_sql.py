"""The SQL that reads a CSV file with declared (or inferred) types, and decides what a bad
value means.

Columns DuckDB would bend (integers, decimals, dates, timestamps) are read as text and typed
by `weir.ingest.text_types`: a value that does not fit marks its row with a reason (the
reject column) instead of failing the load or changing the value. Without declared columns
the types are DuckDB's sniffed ones (`weir.ingest.csv_infer`), read through the same checked
path, so a value deep in the file that does not fit the inferred type is quarantined with
its reason rather than rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from weir.engines.split import FILE_COLUMN, LOCAL_PREFIX, RAW_COLUMN, REJECT_COLUMN
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
    plain_column,
    quote,
    timestamp_column,
)
from weir.project.base import _DECIMAL
from weir.project.model import duckdb_type
from weir.project.sources import FileSource

__all__ = ["INTEGER_TYPES", "CsvTypes", "csv_sql", "ident", "quote"]

TEXT_TYPED = (*INTEGER_TYPES, "timestamp", "date")
_NO_NULL = "\x00weir: no null token\x00"  # a token no CSV field equals


@dataclass(frozen=True)
class CsvTypes:
    """The types a CSV read applies: declared, or inferred by the sniffer (then `note` says
    so in every reason, with the fix)."""

    columns: dict[str, str]
    date_format: str | None = None
    timestamp_format: str | None = None
    note: str = ""


def csv_sql(files: list[Path], source: FileSource, types: CsvTypes) -> tuple[str, list[object]]:
    options = source.csv
    params: list[object] = [[str(f) for f in files]]
    parts = [
        "header = ?",
        "delim = ?",
        "quote = ?",
        "escape = ?",
        "nullstr = ?",
        "encoding = ?",
        "store_rejects = true",
        "compression = ?",
        "max_line_size = ?",
    ]
    params += [
        options.header,
        options.delimiter,
        options.quote,
        options.escape,
        # with null tokens per column Weir decides what is null, column by column
        [_NO_NULL] if options.column_null_values else options.null_values,
        options.encoding,
        source.compression,
        options.max_line_bytes,
    ]
    # Integer, decimal, date and timestamp columns are read as text and typed here, where
    # Weir decides what a bad value means (see weir.ingest.text_types).
    all_text = bool(options.column_null_values)
    read_types = {
        c: "VARCHAR" if all_text or _text_typed(t) else duckdb_type(t)
        for c, t in types.columns.items()
    }
    struct = ", ".join(f"{quote(c)}: '{t}'" for c, t in read_types.items())
    # every dialect option is given, so nothing is sniffed: the sniffer stops at the first
    # over-long line instead of letting store_rejects quarantine it
    parts += [f"columns = {{{struct}}}", f"filename = '{FILE_COLUMN}'", "auto_detect = false"]
    projection, checks, problems, codes, typed_columns = [], [], [], [], []
    for index, (column, type_name) in enumerate(types.columns.items()):
        text = _nulled(column, options.column_null_values, options.null_values)
        typed = _typed_column(text, column, type_name, types, f"__w{index}")
        if typed is None:
            projection.append(ident(column))
            continue
        typed_columns.append(typed)
        projection.append(f"CASE WHEN NOT {typed.bad} THEN {typed.value} END AS {ident(column)}")
        if typed.local is not None:
            local = ident(LOCAL_PREFIX + column)
            projection.append(f"CASE WHEN NOT {typed.bad} THEN {typed.local} END AS {local}")
        if typed.refuse is not None:
            codes.append((typed.refuse, f"N{index}"))
        checks.append(typed.bad)
        problems.append(f"CASE WHEN {typed.bad} THEN {typed.message} END")
    decide = decisions(codes)
    if decide is not None:
        projection.append(decide)
    reader = f"read_csv(?, {', '.join(parts)})"
    if not problems:
        return f"SELECT * EXCLUDE ({FILE_COLUMN}) FROM {reader}", params
    # The message and the row's text are built only for bad rows: most rows are good.
    any_bad = " OR ".join(checks)
    raw = (
        "concat_ws(',', "
        + ", ".join(f"coalesce({ident(c)}::VARCHAR, '')" for c in types.columns)
        + ")"
    )
    sql = (
        f"SELECT {', '.join(projection)}, "
        f"CASE WHEN {any_bad} THEN concat_ws('; ', {', '.join(problems)}) END AS {REJECT_COLUMN}, "
        f"CASE WHEN {any_bad} THEN {raw} END AS {RAW_COLUMN}, {FILE_COLUMN} "
        f"FROM {nest(reader, typed_columns)}"
    )
    return sql, params


def _text_typed(type_name: str) -> bool:
    return type_name in TEXT_TYPED or bool(_DECIMAL.match(type_name))


def _nulled(column: str, per_column: dict[str, list[str]], tokens: list[str]) -> str | None:
    """SQL of a column's text with its own null tokens applied (None: DuckDB applied the
    source's). 'NA' can be Namibia in one column and 'not available' in the next."""
    if not per_column:
        return None
    own = per_column.get(column, tokens)
    if not own:
        return ident(column)
    listed = ", ".join(quote(t) for t in own)
    return f"(CASE WHEN {ident(column)} IN ({listed}) THEN NULL ELSE {ident(column)} END)"


def _typed_column(
    nulled: str | None, column: str, type_name: str, types: CsvTypes, alias: str
) -> Typed | None:
    """The checked reading of one column's text, or None when DuckDB's own is exact."""
    text, note = nulled or ident(column), types.note
    decimal = _DECIMAL.match(type_name)
    if type_name in INTEGER_TYPES:
        return integer_column(text, column, type_name, alias, note)
    if decimal:
        scale = int(decimal.group(2))
        return decimal_column(text, column, int(decimal.group(1)), scale, alias, note)
    if type_name == "timestamp":
        return timestamp_column(text, column, types.timestamp_format, alias, note)
    if type_name == "date":
        return date_column(text, column, types.date_format, alias, note)
    if nulled is None:
        return None
    if type_name in ("float32", "float64"):
        return float_column(text, column, alias, note, duckdb_type(type_name))
    return plain_column(text, column, type_name, duckdb_type(type_name), alias, note)
