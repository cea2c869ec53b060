"""The SQL that reads a CSV file with declared types, and decides what a bad value means.

Integer and timestamp columns are read as text and typed here: DuckDB would round '2.1'
into BIGINT 2, and read a timestamp without a zone as UTC. A value that does not fit marks
its row with a reason (the reject column) instead of failing the load or bending the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from weir.engines.split import FILE_COLUMN, RAW_COLUMN, REJECT_COLUMN
from weir.ingest.csv_files import CsvGroup
from weir.project.model import duckdb_type
from weir.project.sources import FileSource

INTEGER_TYPES = ("int32", "int64")
NO_ZONE = "NO_ZONE "


def csv_sql(groups: Sequence[CsvGroup], source: FileSource) -> tuple[str, list[object]]:
    """One query over every group of files; declared columns come out in declared order."""
    params: list[object] = []
    if not source.columns:
        calls = [_read_csv(group, source, None, params) for group in groups]
        if len(calls) == 1:
            return f"SELECT * FROM {calls[0]}", params
        return "SELECT * FROM (" + " UNION ALL BY NAME ".join(
            f"SELECT * FROM {call}" for call in calls
        ) + ")", params
    # Integer and timestamp columns are read as text and typed here, where Weir decides what a
    # bad value means: DuckDB would round '2.1' into BIGINT 2, and read a timestamp without a
    # zone as UTC (and drop the offset of one with a zone, if cast to a plain TIMESTAMP).
    read_types = {
        c: "VARCHAR" if t in (*INTEGER_TYPES, "timestamp") else duckdb_type(t)
        for c, t in source.columns.items()
    }
    options = source.csv
    calls = [_read_csv(group, source, read_types, params) for group in groups]
    if len(calls) == 1:
        reader = calls[0]
    else:  # each file's own column order, the same names out of every call
        columns = ", ".join([*(ident(c) for c in source.columns), FILE_COLUMN])
        reader = "(" + " UNION ALL ".join(f"SELECT {columns} FROM {c}" for c in calls) + ")"
    projection, checks, problems = [], [], []
    for column, type_name in source.columns.items():
        if type_name in INTEGER_TYPES:
            typed = _integer_column(column, type_name)
        elif type_name == "timestamp":
            typed = _timestamp_column(column, options.timezone, options.timestamp_format)
        else:
            projection.append(ident(column))
            continue
        projection.append(f"CASE WHEN NOT {typed.bad} THEN {typed.value} END AS {ident(column)}")
        checks.append(typed.bad)
        problems.append(f"CASE WHEN {typed.bad} THEN {typed.message} END")
    if not problems:
        return f"SELECT {', '.join(projection)} FROM {reader}", params
    # The message and the row's text are built only for bad rows: most rows are good.
    any_bad = " OR ".join(checks)
    raw = (
        "concat_ws(',', "
        + ", ".join(f"coalesce({ident(c)}::VARCHAR, '')" for c in source.columns)
        + ")"
    )
    sql = (
        f"SELECT {', '.join(projection)}, "
        f"CASE WHEN {any_bad} THEN concat_ws('; ', {', '.join(problems)}) END AS {REJECT_COLUMN}, "
        f"CASE WHEN {any_bad} THEN {raw} END AS {RAW_COLUMN}, {FILE_COLUMN} FROM {reader}"
    )
    return sql, params


def _read_csv(
    group: CsvGroup,
    source: FileSource,
    read_types: dict[str, str] | None,
    params: list[object],
) -> str:
    """One read_csv call. Every dialect option is pinned, so nothing is sniffed but types
    (and, with declared columns, not even those: the sniffer would stop at the first
    over-long line instead of letting store_rejects quarantine it). A staged copy (UTF-8,
    plain, one record per line as the scanner checked it) is read with the same dialect."""
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
        options.null_values,
        "utf-8" if group.staged else options.encoding,
        "none" if group.staged else source.compression,
        # the scanner already held each record to max_line_bytes, in the file's own bytes
        2 * options.max_line_bytes + 64 if group.staged else options.max_line_bytes,
    ]
    if group.staged:
        parts.append("new_line = '\\n'")
    if options.timestamp_format:
        parts.append("timestampformat = ?")
        params.append(options.timestamp_format)
    if read_types is not None:
        order = group.order or tuple(read_types)
        struct = ", ".join(f"{quote(c)}: '{read_types[c]}'" for c in order)
        parts += [f"columns = {{{struct}}}", f"filename = '{FILE_COLUMN}'", "auto_detect = false"]
    return f"read_csv(?, {', '.join(parts)})"


@dataclass(frozen=True)
class _Typed:
    value: str  # SQL: the typed value
    bad: str  # SQL: TRUE when the text does not fit
    message: str  # SQL: why, for the quarantine row


def _integer_column(column: str, type_name: str) -> _Typed:
    name = ident(column)
    cast = f"try_cast(trim({name}) AS {duckdb_type(type_name)})"
    # Signs and digits only, and a cast that succeeds: no rounding, no 1e3, 0x10 or 1_000.
    bad = f"({name} IS NOT NULL AND (NOT regexp_full_match(trim({name}), '[+-]?[0-9]+') OR {cast} IS NULL))"
    prefix = quote(f"column {column}: '")
    suffix = quote(f"' is not a whole number in {type_name} range")
    return _Typed(cast, bad, f"{prefix} || {name} || {suffix}")


def _timestamp_column(column: str, timezone: str | None, timestamp_format: str | None) -> _Typed:
    """UTC timestamps from text: an offset in the value wins; a value without one is read in
    the declared zone, or, with none declared, refused (NO_ZONE marks it for the reader)."""
    name = ident(column)
    text = f"trim({name})"
    if timestamp_format and ("%z" in timestamp_format or "%Z" in timestamp_format):
        zoned, aware, naive = (
            "true",
            f"try_strptime({text}, {quote(timestamp_format)})::TIMESTAMPTZ",
            "NULL",
        )
    elif timestamp_format:
        zoned, aware, naive = "false", "NULL", f"try_strptime({text}, {quote(timestamp_format)})"
    else:
        zoned = f"regexp_matches({text}, '(Z|z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')"
        aware, naive = f"try_cast({text} AS TIMESTAMPTZ)", f"try_cast({text} AS TIMESTAMP)"
    in_zone = f"timezone({quote(timezone)}, {naive})" if timezone else "NULL"
    value = f"(CASE WHEN {zoned} THEN {aware} ELSE {in_zone} END)"
    readable = f"(CASE WHEN {zoned} THEN {aware} ELSE {naive} END)"
    bad = f"({name} IS NOT NULL AND {value} IS NULL)"
    prefix = f"column {column}: '"
    message = (
        f"CASE WHEN {readable} IS NULL THEN {quote(prefix)} || {name} || {quote(chr(39) + ' is not a timestamp')} "
        f"ELSE {quote(NO_ZONE + prefix)} || {name} || {quote(chr(39) + ' has no time zone')} END"
    )
    return _Typed(value, bad, message)


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
