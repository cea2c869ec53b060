"""The SQL that reads CSV files with declared (or inferred) types, and decides what a bad
value means.

Columns DuckDB would bend (integers, decimals, dates, timestamps) are read as text and typed
by `weir.ingest.text_types`: a value that does not fit marks its row with a reason (the
reject column) instead of failing the load or changing the value. Without declared columns
the types are DuckDB's sniffed ones (`weir.ingest.csv_infer`), read through the same checked
path, so a value deep in the file that does not fit the inferred type is quarantined with
its reason rather than rounded.

The files come in groups (`csv_files.CsvGroup`): files whose header orders the columns the
same way, read as they are or as the record scanner staged them. Each group is one
read_csv call that names the columns in its own order; every call gives the same columns,
so their union is typed once, by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from weir.engines.split import FILE_COLUMN, LOCAL_PREFIX, RAW_COLUMN, REJECT_COLUMN
from weir.ingest.csv_files import CsvGroup
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

__all__ = ["INTEGER_TYPES", "CsvTypes", "csv_sql", "ident", "null_tokens", "quote"]

TEXT_TYPED = (*INTEGER_TYPES, "timestamp", "date", "float32", "float64")
_NO_NULL = "\x00weir: no null token\x00"  # a token no CSV field equals


@dataclass(frozen=True)
class CsvTypes:
    """The types a CSV read applies, by column name: declared, or inferred by the sniffer
    (then `note` says so in every reason, with the fix)."""

    columns: dict[str, str]
    date_format: str | None = None
    timestamp_format: str | None = None
    note: str = ""


def null_tokens(source: FileSource) -> list[str]:
    """The null tokens DuckDB applies: the source's, or none when columns have their own
    (Weir then decides what is null, column by column)."""
    options = source.csv
    return [_NO_NULL] if options.column_null_values else list(options.null_values)


def csv_sql(
    groups: Sequence[CsvGroup], source: FileSource, types: CsvTypes
) -> tuple[str, list[object]]:
    """One query over every group of files; the columns come out in `types` order, typed,
    with the reject, raw and file helper columns."""
    options = source.csv
    # Integer, decimal, date and timestamp columns are read as text and typed here, where
    # Weir decides what a bad value means (see weir.ingest.text_types).
    all_text = bool(options.column_null_values)
    read_types = {
        c: "VARCHAR" if all_text or _text_typed(t) else duckdb_type(t)
        for c, t in types.columns.items()
    }
    params: list[object] = []
    calls = [_read_csv(group, source, read_types, params) for group in groups]
    if len(calls) == 1:
        reader = calls[0]
    else:  # each file's own column order; the same names (null where a file lacks one)
        reader = (
            "("
            + " UNION ALL ".join(
                f"SELECT {_same_columns(g, read_types)} FROM {c}"
                for g, c in zip(groups, calls, strict=True)
            )
            + ")"
        )
    projection, checks, problems, codes, typed_columns = [], [], [], [], []
    for index, (column, type_name) in enumerate(types.columns.items()):
        text = _nulled(column, options.column_null_values, options.null_values)
        typed = _typed_column(text, column, type_name, types, f"__w{index}", source.non_finite)
        if typed is None:
            projection.append(ident(column))
            continue
        typed_columns.append(typed)
        projection.append(f"CASE WHEN NOT {typed.bad} THEN {typed.value} END AS {ident(column)}")
        if typed.local is not None:
            local = ident(LOCAL_PREFIX + column)
            projection.append(f"CASE WHEN NOT {typed.bad} THEN {typed.local} END AS {local}")
        if typed.refuse is not None:
            codes.append((typed.refuse, f"{typed.code}{index}"))
        checks.append(typed.bad)
        problems.append(f"CASE WHEN {typed.bad} THEN {typed.message} END")
    decide = decisions(codes)
    if decide is not None:
        projection.append(decide)
    if not problems:
        return f"SELECT {', '.join(projection)}, {FILE_COLUMN} FROM {reader}", params
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


def _same_columns(group: CsvGroup, read_types: dict[str, str]) -> str:
    held = set(group.order or read_types)
    columns = [
        ident(c) if c in held else f"CAST(NULL AS {t}) AS {ident(c)}" for c, t in read_types.items()
    ]
    return ", ".join([*columns, FILE_COLUMN])


def _read_csv(
    group: CsvGroup, source: FileSource, read_types: dict[str, str], params: list[object]
) -> str:
    """One read_csv call. Every dialect option and every column's type is given, so nothing
    is sniffed (the sniffer would stop at the first over-long line instead of letting
    store_rejects quarantine it). A staged copy (UTF-8, plain, records as the scanner
    checked them) is read with the same dialect."""
    options = source.csv
    parts = [
        "header = ?",
        "delim = ?",
        "quote = ?",
        "escape = ?",
        "nullstr = ?",
        "encoding = ?",
        "compression = ?",
        "max_line_size = ?",
        "store_rejects = true",
        "strict_mode = true",
        "null_padding = false",
        "skip = 0",
        "comment = ''",
    ]
    params += [
        [str(f) for f in group.files],
        options.header,
        options.delimiter,
        options.quote,
        options.escape,
        null_tokens(source),
        "utf-8" if group.staged else options.encoding,
        "none" if group.staged else source.compression,
        # the scanner already held each record to max_line_bytes, in the file's own bytes
        2 * options.max_line_bytes + 64 if group.staged else options.max_line_bytes,
    ]
    if group.staged:
        parts.append("new_line = '\\n'")
    order = group.order or tuple(read_types)
    struct = ", ".join(f"{quote(c)}: '{read_types[c]}'" for c in order)
    parts += [f"columns = {{{struct}}}", f"filename = '{FILE_COLUMN}'", "auto_detect = false"]
    return f"read_csv(?, {', '.join(parts)})"


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
    nulled: str | None,
    column: str,
    type_name: str,
    types: CsvTypes,
    alias: str,
    non_finite: str = "reject",
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
    if type_name in ("float32", "float64"):  # DuckDB reads 'NaN', 'inf' and '1e400' as floats
        return float_column(text, column, alias, note, duckdb_type(type_name), non_finite)
    if nulled is None:
        return None
    return plain_column(text, column, type_name, duckdb_type(type_name), alias, note)
