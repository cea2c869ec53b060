"""File sources (CSV, JSON, NDJSON, Parquet; plain, gzip or zstd) read by DuckDB into Arrow.

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

import csv
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from weir.core.errors import ConfigError, StepError
from weir.core.hashing import file_sha256
from weir.engines.base import iter_batches
from weir.engines.duckdb import BATCH_ROWS, DuckDBEngine
from weir.engines.split import QUARANTINE_SCHEMA, Diverted, split_batch, without_helpers
from weir.ingest.base import Progress, SourceRead, counted
from weir.ingest.conform import UTC, utc_timestamps
from weir.ingest.csv_sql import NO_ZONE, csv_sql, quote
from weir.ingest.names import check_names
from weir.project.model import duckdb_type
from weir.project.sources import FileSource


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


def _parser_rejects(connection: duckdb.DuckDBPyConnection) -> pa.Table:
    """Lines DuckDB's CSV reader set aside (bad quoting, wrong column count, failed casts)."""
    try:
        return (
            connection.sql(
                """
            SELECT s.file_path AS file, e.line::BIGINT AS line,
                   min(e.byte_position)::BIGINT AS byte_offset,
                   string_agg(DISTINCT e.column_name, ', ' ORDER BY e.column_name) AS column_name,
                   string_agg(DISTINCT e.error_type::VARCHAR, ', ' ORDER BY e.error_type::VARCHAR) AS error_type,
                   string_agg(DISTINCT e.error_message, '; ' ORDER BY e.error_message) AS error,
                   any_value(e.csv_line) AS raw, NULL::VARCHAR AS key
            FROM reject_errors e
            JOIN reject_scans s USING (scan_id, file_id)
            GROUP BY s.file_path, e.line
            ORDER BY file, line
            """
            )
            .to_arrow_table()
            .cast(QUARANTINE_SCHEMA)
        )
    except duckdb.CatalogException:  # a JSON or Parquet read has no reject tables
        return QUARANTINE_SCHEMA.empty_table()


@contextmanager
def read_files(
    engine: DuckDBEngine,
    root: Path,
    name: str,
    source: FileSource,
    *,
    prior: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    observed: list[FileState] | None = None,
) -> Iterator[SourceRead]:
    """Open a streaming read of a file source; the reader refuses an empty load.

    `prior` is the state of the table's last load (None: load everything). An incremental
    source reads only files it has not loaded; a loaded file whose content changed is
    refused, or reloads every file, as `on_change` says.
    """
    files, state, append = _files_to_load(root, name, source, prior, observed)
    if not files:
        yield SourceRead(
            name,
            pa.RecordBatchReader.from_batches(pa.schema([]), iter(())),
            state=state,
            nothing_new=True,
        )
        return
    _refuse_empty(files, name, source)
    if source.format == "csv" and not source.columns:
        for path in files:
            _check_header(engine, path, name, source)
    connection = engine.connect()
    try:
        sql, params = _read_sql(files, source)
        try:
            raw = connection.sql(sql, params=params).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as exc:
            raise StepError(
                f"source:{name}",
                f"cannot read {source.path}: {exc}",
                fix=f"check the file and sources.{name} ({source.format} options, columns)",
            ) from None
        diverted = Diverted("CAST")
        read = SourceRead(
            name,
            raw,
            state=state,
            diverted=[diverted],
            extra_rejects=lambda: _parser_rejects(connection),
            detail={"append": append, "files": len(files)},
        )
        schema = without_helpers(raw.schema)
        if source.format != "csv":  # timestamps leave _utc as microseconds in UTC
            schema = pa.schema(
                [f.with_type(UTC) if pa.types.is_timestamp(f.type) else f for f in schema]
            )
        stored = check_names(schema.names, source.normalise_names, name, source.path)
        guarded = _guarded(raw, read, source, diverted)
        if stored != schema.names:
            schema = pa.schema([f.with_name(n) for f, n in zip(schema, stored, strict=True)])
            guarded = (b.rename_columns(stored) for b in guarded)
        read.batches = pa.RecordBatchReader.from_batches(schema, counted(guarded, read, progress))
        yield read
    finally:
        connection.close()


def _files_to_load(
    root: Path,
    name: str,
    source: FileSource,
    prior: Mapping[str, Any] | None,
    observed: list[FileState] | None,
) -> tuple[list[Path], dict[str, Any], bool]:
    """The files this load reads, the state after it, and whether it appends. `observed` is
    what the run saw when it decided to run this step (hashing a multi-GB file twice costs
    seconds)."""
    now = observed if observed is not None else observe_files(root, name, source)
    state = {"files": {f.path: {"size": f.size, "sha256": f.sha256} for f in now}}
    loaded: dict[str, dict[str, Any]] = dict((prior or {}).get("files", {}))
    if not source.incremental or not loaded:
        return [root / f.path for f in now], state, False
    changed = [f.path for f in now if f.path in loaded and loaded[f.path]["sha256"] != f.sha256]
    if changed and source.on_change == "reject":
        raise StepError(
            f"source:{name}",
            f"{', '.join(changed)} changed since it was loaded; nothing was committed",
            fix=f"restore the file, or set sources.{name}.on_change: reload to rebuild the table "
            "from every file, or run once with --full-refresh",
        )
    if changed:
        return [root / f.path for f in now], state, False
    state["files"] = {**loaded, **state["files"]}
    return [root / f.path for f in now if f.path not in loaded], state, True


def _read_sql(files: list[Path], source: FileSource) -> tuple[str, list[object]]:
    paths = [str(f) for f in files]
    if source.format == "csv":
        return csv_sql(files, source)
    if source.format == "parquet":
        return "SELECT * FROM read_parquet(?, union_by_name = true)", [paths]
    layout = "newline_delimited" if source.format == "ndjson" else "auto"
    options = [f"format = '{layout}'", "compression = ?", "union_by_name = true"]
    params: list[object] = [paths, source.compression]
    if source.columns:
        struct = ", ".join(f"{quote(c)}: '{duckdb_type(t)}'" for c, t in source.columns.items())
        options.append(f"columns = {{{struct}}}")
    return f"SELECT * FROM read_json(?, {', '.join(options)})", params


def _check_header(engine: DuckDBEngine, path: Path, name: str, source: FileSource) -> None:
    """DuckDB renames a repeated header ('a', 'a_1') and names an empty one 'column3': a
    silent change, so the header line is read as text (DuckDB decompresses and decodes it)
    and split here, by the source's own delimiter and quote."""
    options = source.csv
    if not options.header:
        return
    connection = engine.connect()
    try:
        row = connection.execute(
            "SELECT * FROM read_csv(?, header = false, columns = {'line': 'VARCHAR'}, "
            "delim = ?, quote = '', escape = '', encoding = ?, compression = ?, "
            "auto_detect = false, strict_mode = false) LIMIT 1",
            [str(path), "\x1f", options.encoding, source.compression],
        ).fetchone()
    except duckdb.Error:
        return  # the read itself reports what is wrong with the file
    finally:
        connection.close()
    if row is None or row[0] is None:
        return
    dialect: dict[str, Any] = {"delimiter": options.delimiter, "quotechar": options.quote}
    if options.escape == options.quote:
        dialect["doublequote"] = True
    else:
        dialect |= {"doublequote": False, "escapechar": options.escape}
    names = next(csv.reader([row[0]], **dialect), [])
    check_names(names, source.normalise_names, name, f"{path.name} header")


def _utc(batch: pa.RecordBatch, read: SourceRead, source: FileSource) -> pa.RecordBatch:
    """Parquet and JSON timestamps as microseconds in UTC: nanoseconds only when nothing is
    lost, zone-less values only in a declared zone."""
    if not any(pa.types.is_timestamp(t) for t in batch.schema.types):
        return batch
    columns = []
    for field_, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_timestamp(field_.type):
            try:
                column = utc_timestamps(
                    column, field_.name, source.timezone, read.source, source.path
                )
            except StepError as exc:
                read.failure = exc
                raise
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _refuse_bad_encoding(read: SourceRead, source: FileSource) -> None:
    """Bytes that are not text in the declared encoding mean the whole file was read with
    the wrong one: refuse it at the first such byte rather than quarantine every line."""
    if read.extra_rejects is None:
        return
    rejects = read.extra_rejects().to_pylist()
    bad = [r for r in rejects if "INVALID ENCODING" in (r["error_type"] or "").upper()]
    if bad:
        first = bad[0]
        read.failure = StepError(
            f"source:{read.source}",
            f"{Path(first['file']).name} line {first['line']} (byte {first['byte_offset']}) is not "
            f"{source.csv.encoding} text; nothing was committed",
            fix=f"declare the file's encoding: sources.{read.source}.csv.encoding "
            "(utf-8, utf-16 or latin-1), or re-export it as UTF-8",
        )
        raise read.failure


def _refuse_non_finite(
    batch: pa.RecordBatch, read: SourceRead, source: FileSource, before: int
) -> None:
    """JSON has no NaN or Infinity; a file that holds them was not written by a JSON encoder
    that follows the standard, so the load is refused rather than guessed at."""
    for column, field_ in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_floating(field_.type):
            finite = pc.is_finite(column)
            bad = pc.and_(pc.invert(pc.fill_null(finite, True)), pc.is_valid(column))
            if pc.any(bad).as_py():
                index = before + pc.index(bad, True).as_py()
                read.failure = StepError(
                    f"source:{read.source}",
                    f"{source.path}: column {field_.name} holds NaN or Infinity (record "
                    f"{index + 1}), which JSON does not allow; nothing was committed",
                    fix="write null for a missing number at the source",
                )
                raise read.failure


def _refuse_naive_timestamps(
    read: SourceRead, source: FileSource, new_rejects: list[pa.Table]
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
    reader: pa.RecordBatchReader, read: SourceRead, source: FileSource, diverted: Diverted
) -> Iterator[pa.RecordBatch]:
    """Split off bad rows; refuse naive times, NaN in JSON and an empty load before commit."""
    rows = 0
    try:
        for batch in iter_batches(reader):
            seen = len(diverted.tables)
            batch = split_batch(batch, diverted)
            _refuse_naive_timestamps(read, source, diverted.tables[seen:])
            if source.format in ("json", "ndjson"):
                _refuse_non_finite(batch, read, source, rows)
            if source.format != "csv":
                batch = _utc(batch, read, source)
            rows += batch.num_rows
            yield batch
    except duckdb.Error as exc:
        read.failure = StepError(
            f"source:{read.source}",
            f"cannot read {source.path}: {exc}",
            fix="fix the file, or declare sources.<name>.columns so bad rows are quarantined",
        )
        raise
    _refuse_bad_encoding(read, source)
    if rows == 0:
        read.failure = StepError(
            f"source:{read.source}",
            f"{source.path} has no data rows (empty or header only); nothing was committed",
            fix="check the file; an empty load is refused so a broken export cannot empty the table",
        )
        raise read.failure
