"""Types for a CSV source that declares none: DuckDB's sniffer decides, Weir checks.

The sniffer looks at the first rows only (20,480 by default). Its types are then read
through the same checked path as declared ones (`weir.ingest.csv_sql`), so a value further
down that does not fit (a '2.1' in an integer column) is quarantined with its reason instead
of being rounded, and the reason says the type was inferred and how to choose it.

Dates whose day and month cannot be told apart ('01/02/2025' in every sampled row) are
refused unless the source declares the format: the sniffer would pick one order silently.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from weir.core.errors import SourceRefusedError
from weir.ingest.csv_files import CsvFile, RereadError
from weir.ingest.csv_sql import CsvTypes
from weir.ingest.names import normalise
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


class SniffError(SourceRefusedError):
    """DuckDB's sniffer could not read the file (a quote that runs past the line limit, a
    line-break character out of place): the caller reads the records the scanner staged."""


def infer_types(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    name: str,
    source: FileSource,
    *,
    staged: Path | None = None,
) -> CsvTypes:
    """The sniffed types of `path` (the first file of the load; or `staged`, the scanner's
    UTF-8 copy of it) as Weir types, by the column names the sniffer read."""
    options = source.csv
    read = staged or path
    formats = [("dateformat", options.date_format), ("timestampformat", options.timestamp_format)]
    declared = [(key, value) for key, value in formats if value]
    try:
        row = connection.execute(
            "SELECT Columns, DateFormat, TimestampFormat FROM sniff_csv(?, header = ?, "
            "delim = ?, quote = ?, escape = ?, nullstr = ?, encoding = ?, compression = ?, "
            "max_line_size = ?, store_rejects = true"
            + ("" if staged is None else ", new_line = '\\n'")
            + "".join(f", {key} = ?" for key, _ in declared)
            + ")",
            [
                str(read),
                options.header,
                options.delimiter,
                options.quote,
                options.escape,
                _null_tokens(source),
                *_text_of(source, staged is not None),
                2 * options.max_line_bytes + 64 if staged else options.max_line_bytes,
                *(value for _, value in declared),
            ],
        ).fetchall()[0]
    except duckdb.Error as exc:
        raise SniffError(
            name,
            f"cannot read {source.path}: {exc}",
            fix=f"check the file and sources.{name}.csv, or declare sources.{name}.columns",
        ) from None
    sniffed: list[dict[str, Any]] = row[0]
    columns = {c["name"]: _WEIR_TYPES.get(c["type"], "string") for c in sniffed}
    note = f" (type inferred from the first rows; declare sources.{name}.columns to choose it)"
    date_format = options.date_format
    timestamp_format = options.timestamp_format
    sample = _Sample(connection, path, read, name, source)
    if date_format is None and row[1] not in _ISO_FORMATS and "date" in columns.values():
        date_format = sample.proven(columns, "date", row[1])
    if timestamp_format is None and row[2] not in _ISO_FORMATS and "timestamp" in columns.values():
        timestamp_format = sample.proven(columns, "timestamp", row[2])
    return CsvTypes(columns, date_format, timestamp_format, note)


def bind_inferred(
    connection: duckdb.DuckDBPyConnection,
    files: Sequence[CsvFile],
    name: str,
    source: FileSource,
    staged: Mapping[Path, Path] | None,
    *,
    careful: bool,
) -> tuple[CsvTypes, list[CsvFile]]:
    """The types of a load without declared columns, and its files with their columns'
    order. One set of types for the whole load, as a declaration would be: the first file's,
    by the names its header gives them (a later file whose header has names the first lacks
    adds those, typed from its own rows); every file's columns are bound to it by name, so
    files may order them differently. A value of a later file that does not fit is
    quarantined, with the note that its type was inferred."""
    first = files[0]
    types = _sniffed(connection, first, name, source, staged, careful)
    columns = dict(types.columns)
    by_name = {normalise(c, source.normalise_names): c for c in columns}
    for file in files[1:]:
        extra = [
            n for n in _names(file, columns) if normalise(n, source.normalise_names) not in by_name
        ]
        if extra:
            more = _sniffed(connection, file, name, source, staged, careful).columns
            for column in extra:
                columns[column] = more[column]
                by_name[normalise(column, source.normalise_names)] = column
    bound = [
        replace(
            f,
            order=tuple(by_name[normalise(n, source.normalise_names)] for n in _names(f, columns)),
        )
        for f in files
    ]
    return replace(types, columns=columns), bound


def _names(file: CsvFile, columns: Mapping[str, str]) -> list[str]:
    """A file's column names: its header's, or (no header) the first file's, by position."""
    return list(file.header.names) if file.header else list(columns)


def _sniffed(
    connection: duckdb.DuckDBPyConnection,
    file: CsvFile,
    name: str,
    source: FileSource,
    staged: Mapping[Path, Path] | None,
    careful: bool,
) -> CsvTypes:
    """The sniffed types of one file by its header's names. The file itself is sniffed on
    either attempt, so a careful re-read types the load as the fast read did; only when
    DuckDB cannot sniff it (a quote that runs past the line limit in its first rows) are
    the records the scanner staged sniffed instead, on the careful attempt."""
    try:
        types = infer_types(connection, file.path, name, source)
        return _by_header(types, file, name)
    except SniffError as failed:
        if not careful or staged is None:
            raise RereadError(name, "DuckDB could not infer the columns' types") from failed
    return _by_header(
        infer_types(connection, file.path, name, source, staged=staged[file.path]), file, name
    )


def _by_header(types: CsvTypes, file: CsvFile, name: str) -> CsvTypes:
    """The sniffed types under the names the file's header gives (the sniffer would rename
    a name it finds awkward); a different number of columns means the sniffer misread."""
    if file.header is None:
        return types
    written = file.header.names
    if len(written) != len(types.columns):
        raise SniffError(
            name,
            f"{file.path.name}: DuckDB's sniffer found {len(types.columns)} columns, the header "
            f"has {len(written)}",
            fix=f"check sources.{name}.csv (delimiter, quote), or declare sources.{name}.columns",
        )
    return replace(types, columns=dict(zip(written, types.columns.values(), strict=True)))


def _text_of(source: FileSource, staged: bool) -> list[object]:
    """encoding and compression: the file's, or a staged copy's (UTF-8, plain)."""
    return ["utf-8", "none"] if staged else [source.csv.encoding, source.compression]


@dataclass(frozen=True)
class _Sample:
    """The file the sniffer read, to test a sniffed format on the same rows."""

    connection: duckdb.DuckDBPyConnection
    path: Path  # the file, as the user knows it
    read: Path  # the file, or its staged copy
    name: str
    source: FileSource

    def proven(self, columns: dict[str, str], kind: str, sniffed: str) -> str:
        """The sniffed date format, if the sampled values rule out every other order of day,
        month and year; otherwise the load is refused, since another order reads every
        sampled value too ('01/02/25' is 1 February 2025, 2 January 2025 or 25 February
        2001)."""
        targets = [c for c, t in columns.items() if t == kind]
        options = self.source.csv
        for other in _alternatives(sniffed):
            tests = " OR ".join(
                f"({ident(c)} IS NOT NULL AND try_strptime(trim({ident(c)}), {quote(other)}) "
                "IS NULL)"
                for c in targets
            )
            found = self.connection.execute(
                f"SELECT count(*) FILTER (WHERE {tests}) FROM (SELECT * FROM read_csv(?, "
                "header = ?, delim = ?, quote = ?, escape = ?, nullstr = ?, encoding = ?, "
                "compression = ?, all_varchar = true, strict_mode = false, ignore_errors = true) "
                "LIMIT 20480)",
                [
                    str(self.read),
                    options.header,
                    options.delimiter,
                    options.quote,
                    options.escape,
                    _null_tokens(self.source),
                    *_text_of(self.source, self.read != self.path),
                ],
            ).fetchall()[0]
            if found[0]:
                continue  # some value reads only one of the two ways
            key = "date_format" if kind == "date" else "timestamp_format"
            raise SourceRefusedError(
                self.name,
                f"{self.path.name}: column(s) {', '.join(targets)} hold {kind}s whose "
                f"{'day, month and year' if '%y' in sniffed else 'day and month'} cannot be "
                f"told apart (read as {sniffed} or {other}); nothing was committed",
                fix=f"declare the format: sources.{self.name}.csv.{key} (e.g. {sniffed})",
            )
        return sniffed


def _alternatives(fmt: str) -> list[str]:
    """The formats that read the same digits in another order: day and month exchanged,
    and, with a two-digit year, the year in any other place. None when the order is not in
    doubt (a named month, no day, a four-digit year first)."""
    if "%d" not in fmt or "%m" not in fmt or fmt.startswith("%Y"):
        return []
    fields = re.findall(r"%[dmy]", fmt)
    if "%y" not in fields or len(fields) != 3:
        return [fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")]
    pieces = re.split(r"%[dmy]", fmt)
    others = []
    for order in itertools.permutations(("%d", "%m", "%y")):
        if list(order) == fields:
            continue
        others.append("".join(p + o for p, o in zip(pieces, [*order, ""], strict=True)))
    return others


def _null_tokens(source: FileSource) -> list[str]:
    """Every value some column reads as null: what the sniffer may ignore when it guesses a
    column's type (each column's own tokens are applied when it is read)."""
    options = source.csv
    tokens = {*options.null_values}
    for own in options.column_null_values.values():
        tokens.update(own)
    return sorted(tokens)
