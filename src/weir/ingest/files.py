"""File sources (CSV, Parquet) read by DuckDB into Arrow batches.

DuckDB's CSV reader is RFC 4180 (quoted newlines and delimiters), fast, and can set aside
rows it cannot parse with their line and byte position (`store_rejects`). Weir turns those
into quarantine records, so a malformed row is never silently dropped nor fails the load.

Two kinds of quarantine record:
- parser rejects (bad quoting, wrong column count, a value DuckDB cannot cast): file, line,
  byte offset and the raw line text, from DuckDB;
- value rejects (an integer column holding '2.1' or a number out of range, which DuckDB
  would round or refuse silently): file and the row's fields joined by commas in `raw`;
  the line is unknown because the parser accepted the row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from weir.core.errors import ConfigError, StepError
from weir.core.hashing import file_sha256
from weir.engines.base import iter_batches
from weir.engines.duckdb import BATCH_ROWS, DuckDBEngine
from weir.engines.split import (
    FILE_COLUMN,
    QUARANTINE_SCHEMA,
    RAW_COLUMN,
    REJECT_COLUMN,
    Diverted,
    split_batch,
    without_helpers,
)
from weir.project.model import FileSource, duckdb_type

INTEGER_TYPES = ("int32", "int64")
NO_ZONE = "NO_ZONE "


@dataclass(frozen=True)
class FileState:
    """A file as it is now; a change in size or hash means new content."""

    path: str
    size: int
    sha256: str


def list_files(root: Path, name: str, source: FileSource) -> list[Path]:
    """The files a source names, sorted; an error when there are none."""
    matches = sorted(p for p in root.glob(source.path) if p.is_file())
    if not matches:
        raise ConfigError(
            f"source '{name}': no file matches {source.path!r} (in {root})",
            fix=f"check sources.{name}.path; paths are relative to the project directory",
        )
    return matches


def observe_files(root: Path, name: str, source: FileSource) -> list[FileState]:
    return [
        FileState(path.relative_to(root).as_posix(), path.stat().st_size, file_sha256(path))
        for path in list_files(root, name, source)
    ]


@dataclass
class FileRead:
    """A load in progress: stream `batches`, then ask for `rejects()` and the `rows` count."""

    batches: pa.RecordBatchReader
    connection: duckdb.DuckDBPyConnection
    source: str
    rows: int = 0
    failure: StepError | None = field(default=None)
    value_rejects: Diverted = field(default_factory=lambda: Diverted("CAST"))

    def rejects(self) -> pa.Table:
        """Rows that could not be parsed or typed, with place and reason. Call after streaming."""
        return pa.concat_tables([self._parser_rejects(), self.value_rejects.table()])

    def _parser_rejects(self) -> pa.Table:
        try:
            return (
                self.connection.sql(
                    """
                SELECT s.file_path AS file, e.line::BIGINT AS line,
                       min(e.byte_position)::BIGINT AS byte_offset,
                       string_agg(DISTINCT e.column_name, ', ' ORDER BY e.column_name) AS column_name,
                       string_agg(DISTINCT e.error_type::VARCHAR, ', ' ORDER BY e.error_type::VARCHAR) AS error_type,
                       string_agg(DISTINCT e.error_message, '; ' ORDER BY e.error_message) AS error,
                       any_value(e.csv_line) AS raw
                FROM reject_errors e
                JOIN reject_scans s USING (scan_id, file_id)
                GROUP BY s.file_path, e.line
                ORDER BY file, line
                """
                )
                .to_arrow_table()
                .cast(QUARANTINE_SCHEMA)
            )
        except duckdb.CatalogException:  # a Parquet read has no reject tables
            return QUARANTINE_SCHEMA.empty_table()


def _csv_sql(files: list[Path], source: FileSource) -> tuple[str, list[object]]:
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
    ]
    params += [
        options.header,
        options.delimiter,
        options.quote,
        options.escape,
        options.null_values,
        options.encoding,
    ]
    if options.timestamp_format:
        parts.append("timestampformat = ?")
        params.append(options.timestamp_format)
    if not source.columns:
        return f"SELECT * FROM read_csv(?, {', '.join(parts)})", params
    # Integer and timestamp columns are read as text and typed here, where Weir decides what a
    # bad value means: DuckDB would round '2.1' into BIGINT 2, and read a timestamp without a
    # zone as UTC (and drop the offset of one with a zone, if cast to a plain TIMESTAMP).
    read_types = {
        c: "VARCHAR" if t in (*INTEGER_TYPES, "timestamp") else duckdb_type(t)
        for c, t in source.columns.items()
    }
    struct = ", ".join(f"{_quote(c)}: '{t}'" for c, t in read_types.items())
    parts += [f"columns = {{{struct}}}", f"filename = '{FILE_COLUMN}'"]
    projection, checks, problems = [], [], []
    for column, type_name in source.columns.items():
        if type_name in INTEGER_TYPES:
            typed = _integer_column(column, type_name)
        elif type_name == "timestamp":
            typed = _timestamp_column(column, options.timezone, options.timestamp_format)
        else:
            projection.append(_ident(column))
            continue
        projection.append(f"CASE WHEN NOT {typed.bad} THEN {typed.value} END AS {_ident(column)}")
        checks.append(typed.bad)
        problems.append(f"CASE WHEN {typed.bad} THEN {typed.message} END")
    reader = f"read_csv(?, {', '.join(parts)})"
    if not problems:
        return f"SELECT * EXCLUDE ({FILE_COLUMN}) FROM {reader}", params
    # The message and the row's text are built only for bad rows: most rows are good.
    any_bad = " OR ".join(checks)
    raw = (
        "concat_ws(',', "
        + ", ".join(f"coalesce({_ident(c)}::VARCHAR, '')" for c in source.columns)
        + ")"
    )
    sql = (
        f"SELECT {', '.join(projection)}, "
        f"CASE WHEN {any_bad} THEN concat_ws('; ', {', '.join(problems)}) END AS {REJECT_COLUMN}, "
        f"CASE WHEN {any_bad} THEN {raw} END AS {RAW_COLUMN}, {FILE_COLUMN} FROM {reader}"
    )
    return sql, params


@dataclass(frozen=True)
class _Typed:
    value: str  # SQL: the typed value
    bad: str  # SQL: TRUE when the text does not fit
    message: str  # SQL: why, for the quarantine row


def _integer_column(column: str, type_name: str) -> _Typed:
    name = _ident(column)
    cast = f"try_cast(trim({name}) AS {duckdb_type(type_name)})"
    # Signs and digits only, and a cast that succeeds: no rounding, no 1e3, 0x10 or 1_000.
    bad = f"({name} IS NOT NULL AND (NOT regexp_full_match(trim({name}), '[+-]?[0-9]+') OR {cast} IS NULL))"
    prefix = _quote(f"column {column}: '")
    suffix = _quote(f"' is not a whole number in {type_name} range")
    return _Typed(cast, bad, f"{prefix} || {name} || {suffix}")


def _timestamp_column(column: str, timezone: str | None, timestamp_format: str | None) -> _Typed:
    """UTC timestamps from text: an offset in the value wins; a value without one is read in
    the declared zone, or, with none declared, refused (NO_ZONE marks it for the reader)."""
    name = _ident(column)
    text = f"trim({name})"
    if timestamp_format and ("%z" in timestamp_format or "%Z" in timestamp_format):
        zoned, aware, naive = (
            "true",
            f"try_strptime({text}, {_quote(timestamp_format)})::TIMESTAMPTZ",
            "NULL",
        )
    elif timestamp_format:
        zoned, aware, naive = "false", "NULL", f"try_strptime({text}, {_quote(timestamp_format)})"
    else:
        zoned = f"regexp_matches({text}, '(Z|z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')"
        aware, naive = f"try_cast({text} AS TIMESTAMPTZ)", f"try_cast({text} AS TIMESTAMP)"
    in_zone = f"timezone({_quote(timezone)}, {naive})" if timezone else "NULL"
    value = f"(CASE WHEN {zoned} THEN {aware} ELSE {in_zone} END)"
    readable = f"(CASE WHEN {zoned} THEN {aware} ELSE {naive} END)"
    bad = f"({name} IS NOT NULL AND {value} IS NULL)"
    prefix = f"column {column}: '"
    message = (
        f"CASE WHEN {readable} IS NULL THEN {_quote(prefix)} || {name} || {_quote(chr(39) + ' is not a timestamp')} "
        f"ELSE {_quote(NO_ZONE + prefix)} || {name} || {_quote(chr(39) + ' has no time zone')} END"
    )
    return _Typed(value, bad, message)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def read_files(
    engine: DuckDBEngine, root: Path, name: str, source: FileSource
) -> Iterator[FileRead]:
    """Open a streaming read of a file source; the reader refuses an empty load."""
    files = list_files(root, name, source)
    _refuse_empty(files, name, source)
    connection = engine.connect()
    try:
        if source.format == "csv":
            sql, params = _csv_sql(files, source)
        else:
            sql, params = (
                "SELECT * FROM read_parquet(?, union_by_name = true)",
                [[str(f) for f in files]],
            )
        try:
            relation = connection.sql(sql, params=params)
            raw = relation.to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as exc:
            raise StepError(
                f"source:{name}",
                f"cannot read {source.path}: {exc}",
                fix=f"check the file and sources.{name} ({source.format} options, columns)",
            ) from None
        read = FileRead(batches=raw, connection=connection, source=name)
        schema = without_helpers(raw.schema)
        read.batches = pa.RecordBatchReader.from_batches(schema, _guarded(raw, read, source))
        yield read
    finally:
        connection.close()


def _refuse_naive_timestamps(
    read: FileRead, source: FileSource, new_rejects: list[pa.Table]
) -> None:
    """A timestamp without a zone and no declared zone: REJECT the load, nothing committed."""
    for table in new_rejects:
        for reason in table.column("error").to_pylist():
            if reason and NO_ZONE in reason:
                first = next(p for p in reason.split("; ") if p.startswith(NO_ZONE)).removeprefix(
                    NO_ZONE
                )
                read.failure = StepError(
                    f"source:{read.source}",
                    f"{source.path}: {first}; nothing was committed",
                    fix=f"declare the zone these times were written in: sources.{read.source}.csv.timezone "
                    "(e.g. Europe/Paris or UTC), or export them with an offset",
                )
                raise read.failure


def _refuse_empty(files: list[Path], name: str, source: FileSource) -> None:
    """An empty or header-only file is refused before parsing, with a plain message."""
    for path in files:
        with path.open("rb") as handle:
            head = handle.read(1 << 20)
        content = head.lstrip(b"\xef\xbb\xbf").strip()
        header_only = (
            source.format == "csv"
            and source.csv.header
            and b"\n" not in content
            and len(head) < (1 << 20)
        )
        if not content or header_only:
            what = "is empty" if not content else "has a header but no data rows"
            raise StepError(
                f"source:{name}",
                f"{path.name} {what}; nothing was committed",
                fix="check the export that wrote it; an empty load is refused so it cannot empty the table",
            )


def _guarded(
    reader: pa.RecordBatchReader, read: FileRead, source: FileSource
) -> Iterator[pa.RecordBatch]:
    """Pass batches through, counting rows; refuse an empty load before it is committed."""
    try:
        for batch in iter_batches(reader):
            seen = len(read.value_rejects.tables)
            batch = split_batch(batch, read.value_rejects)
            _refuse_naive_timestamps(read, source, read.value_rejects.tables[seen:])
            read.rows += batch.num_rows
            yield batch
    except duckdb.Error as exc:
        read.failure = StepError(
            f"source:{read.source}",
            f"cannot read {source.path}: {exc}",
            fix="fix the file, or declare sources.<name>.columns so bad rows are quarantined",
        )
        raise
    if read.rows == 0:
        read.failure = StepError(
            f"source:{read.source}",
            f"{source.path} has no data rows (empty or header only); nothing was committed",
            fix="check the file; an empty load is refused so a broken export cannot empty the table",
        )
        raise read.failure
