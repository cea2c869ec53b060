"""Types for a CSV source that declares none: DuckDB's sniffer decides, Weir checks.

The sniffer looks at the first rows only (20,480 by default). Its types are then read
through the same checked path as declared ones (`weir.ingest.csv_sql`), so a value further
down that does not fit (a '2.1' in an integer column) is quarantined with its reason instead
of being rounded, and the reason says the type was inferred and how to choose it.

Dates whose day and month cannot be told apart ('01/02/2025' in every sampled row) are
refused unless the source declares the format: the sniffer would pick one order silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from weir.core.errors import StepError
from weir.ingest.csv_sql import CsvTypes
from weir.ingest.text_types import ident, quote
from weir.project.sources import FileSource

_WEIR_TYPES = {
    "BOOLEAN": "bool",
    "TINYINT": "int64",
    "SMALLINT": "int64",
    "INTEGER": "int64",
    "BIGINT": "int64",
    "HUGEINT": "decimal(38,0)",  # beyond int64, within 38 digits: exact
    "FLOAT": "float64",
    "DOUBLE": "float64",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "TIMESTAMP_NS": "timestamp",
}
_ISO_FORMATS = (None, "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def infer_types(
    connection: duckdb.DuckDBPyConnection, path: Path, name: str, source: FileSource
) -> CsvTypes:
    """The sniffed types of `path` (the first file of the load) as Weir types."""
    options = source.csv
    formats = [("dateformat", options.date_format), ("timestampformat", options.timestamp_format)]
    declared = [(key, value) for key, value in formats if value]
    try:
        row = connection.execute(
            "SELECT Columns, DateFormat, TimestampFormat FROM sniff_csv(?, header = ?, "
            "delim = ?, quote = ?, escape = ?, nullstr = ?, encoding = ?, compression = ?, "
            "max_line_size = ?, store_rejects = true"
            + "".join(f", {key} = ?" for key, _ in declared)
            + ")",
            [
                str(path),
                options.header,
                options.delimiter,
                options.quote,
                options.escape,
                _null_tokens(source),
                options.encoding,
                source.compression,
                options.max_line_bytes,
                *(value for _, value in declared),
            ],
        ).fetchall()[0]
    except duckdb.Error as exc:
        raise StepError(
            f"source:{name}",
            f"cannot read {source.path}: {exc}",
            fix=f"check the file and sources.{name}.csv, or declare sources.{name}.columns",
        ) from None
    sniffed: list[dict[str, Any]] = row[0]
    columns = {c["name"]: _WEIR_TYPES.get(c["type"], "string") for c in sniffed}
    note = f" (type inferred from the first rows; declare sources.{name}.columns to choose it)"
    date_format = options.date_format
    timestamp_format = options.timestamp_format
    if date_format is None and row[1] not in _ISO_FORMATS and "date" in columns.values():
        date_format = _proven(connection, path, name, source, columns, "date", row[1])
    if timestamp_format is None and row[2] not in _ISO_FORMATS and "timestamp" in columns.values():
        timestamp_format = _proven(connection, path, name, source, columns, "timestamp", row[2])
    return CsvTypes(columns, date_format, timestamp_format, note)


def _proven(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    name: str,
    source: FileSource,
    columns: dict[str, str],
    kind: str,
    sniffed: str,
) -> str:
    """The sniffed date format, if the sampled values rule out the other day/month order;
    otherwise the load is refused, since either order reads every sampled value."""
    swapped = _swapped(sniffed)
    if swapped is None:
        return sniffed
    targets = [c for c, t in columns.items() if t == kind]
    tests = " OR ".join(
        f"({ident(c)} IS NOT NULL AND try_strptime(trim({ident(c)}), {quote(swapped)}) IS NULL)"
        for c in targets
    )
    options = source.csv
    found = connection.execute(
        f"SELECT count(*) FILTER (WHERE {tests}) FROM (SELECT * FROM read_csv(?, header = ?, "
        "delim = ?, quote = ?, escape = ?, nullstr = ?, encoding = ?, compression = ?, "
        "all_varchar = true, strict_mode = false, ignore_errors = true) LIMIT 20480)",
        [
            str(path),
            options.header,
            options.delimiter,
            options.quote,
            options.escape,
            _null_tokens(source),
            options.encoding,
            source.compression,
        ],
    ).fetchall()[0]
    if found[0]:
        return sniffed  # some value reads only one way: the order is proven
    key = "date_format" if kind == "date" else "timestamp_format"
    raise StepError(
        f"source:{name}",
        f"{path.name}: column(s) {', '.join(targets)} hold {kind}s whose day and month cannot "
        f"be told apart (read as {sniffed} or {swapped}); nothing was committed",
        fix=f"declare the format: sources.{name}.csv.{key} (e.g. {sniffed})",
    )


def _swapped(fmt: str) -> str | None:
    """The format with day and month exchanged, or None when the order is not in doubt
    (a named month, or no day)."""
    if "%d" not in fmt or "%m" not in fmt or fmt.startswith("%Y"):
        return None
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _null_tokens(source: FileSource) -> list[str]:
    """Every value some column reads as null: what the sniffer may ignore when it guesses a
    column's type (each column's own tokens are applied when it is read)."""
    options = source.csv
    tokens = {*options.null_values}
    for own in options.column_null_values.values():
        tokens.update(own)
    return sorted(tokens)
