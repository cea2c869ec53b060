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
import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from weir.core.errors import ConfigError, StepError
from weir.core.hashing import file_sha256
from weir.engines.base import iter_batches
from weir.engines.duckdb import BATCH_ROWS, DuckDBEngine
from weir.engines.split import (
    FILE_COLUMN,
    KEY_COLUMN,
    LOCAL_PREFIX,
    QUARANTINE_SCHEMA,
    REJECT_COLUMN,
    Diverted,
    is_helper,
    mark_rows,
    split_batch,
    without_helpers,
)
from weir.ingest.base import Progress, SourceRead, counted
from weir.ingest.conform import Typing, conform, renamed
from weir.ingest.csv_infer import infer_types
from weir.ingest.csv_sql import CsvTypes, csv_sql
from weir.ingest.json_read import JsonRead, json_sql
from weir.ingest.names import check_names
from weir.ingest.typed_stream import decision_text, decisions, raw_rows
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
        sql, params = _read_sql(connection, files, name, source)
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
        stored = check_names(
            without_helpers(raw.schema).names, source.normalise_names, name, source.path
        )
        guarded = _guarded(raw, read, source, diverted, stored)
        first = _first(guarded, read)  # typing decides the schema
        read.batches = pa.RecordBatchReader.from_batches(
            first.schema, counted(itertools.chain([first], guarded), read, progress)
        )
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


def _read_sql(
    connection: duckdb.DuckDBPyConnection, files: list[Path], name: str, source: FileSource
) -> tuple[str, list[object]]:
    paths = [str(f) for f in files]
    if source.format == "csv":
        types = (
            CsvTypes(dict(source.columns), source.csv.date_format, source.csv.timestamp_format)
            if source.columns
            else infer_types(connection, files[0], name, source)
        )
        unknown = sorted(set(source.csv.column_null_values) - set(types.columns))
        if unknown:
            raise StepError(
                f"source:{name}",
                f"csv.column_null_values names {', '.join(unknown)}, which the file does not "
                f"have (it has {', '.join(types.columns)})",
                fix=f"fix sources.{name}.csv.column_null_values",
            )
        return csv_sql(files, source, types)
    if source.format == "parquet":
        return (
            f"SELECT * FROM read_parquet(?, union_by_name = true, filename = '{FILE_COLUMN}')",
            [paths],
        )
    layout = "newline_delimited" if source.format == "ndjson" else "auto"
    try:
        return json_sql(
            connection,
            JsonRead(paths, layout, source.compression, source.columns, source.non_finite),
        )
    except duckdb.Error as exc:
        raise StepError(
            f"source:{name}",
            f"cannot read {source.path}: {exc}",
            fix=f"check the file and sources.{name} ({source.format} options, columns)",
        ) from None


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


def _first(guarded: Iterator[pa.RecordBatch], read: SourceRead) -> pa.RecordBatch:
    """The first typed batch, read before the stream is handed on (its schema is the
    table's); a refusal found in it is raised as the Weir error it is."""
    try:
        return next(guarded)
    except StopIteration:
        raise read.failure or StepError(f"source:{read.source}", "no rows") from None
    except duckdb.Error:
        assert read.failure is not None
        raise read.failure from None


def _guarded(
    reader: pa.RecordBatchReader,
    read: SourceRead,
    source: FileSource,
    diverted: Diverted,
    stored: list[str],
) -> Iterator[pa.RecordBatch]:
    """Type, split off bad rows, and refuse what must be refused before commit: times
    without a zone, lost nanoseconds, NaN in JSON, an empty load."""
    # CSV and JSON values were typed as text by the read; Parquet's are cast here
    declared = dict(source.columns or {}) if source.format == "parquet" else {}
    typing = Typing(read.source, columns=declared, rule=source.time_rule)
    places = _Places()
    renderer = _csv_raw if source.format == "csv" else raw_rows
    rows = 0
    try:
        for batch in iter_batches(reader):
            batch = _decisions(renamed(batch, stored), read, source, places)
            where = f"{source.path} rows {rows + 1}-{rows + batch.num_rows}"
            try:
                done = conform(batch, typing, where)
            except StepError as exc:
                read.failure = exc
                raise
            read.coerced.update(done.coerced)
            batch = mark_rows(
                done.batch,
                done.problems,
                partial(renderer, batch),
                None if source.format == "csv" else places.of(done.batch),
            )
            if source.format != "csv":  # a CSV row is placed by its file and fields
                batch = _placed(batch, places.of(done.batch))
            places.advance(done.batch)
            batch = split_batch(batch, diverted)
            if source.format in ("json", "ndjson"):
                batch = _non_finite(batch, read, source, rows)
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
    if rows == 0 and diverted.rows:
        read.failure = StepError(
            f"source:{read.source}",
            f"{source.path} has no data rows left: all {diverted.rows} were set aside (e.g. "
            f"{diverted.tables[0].column('error')[0]}); nothing was committed",
            fix=f"fix the file, or sources.{read.source} (columns, timezone, formats)",
        )
        raise read.failure
    if rows == 0:
        read.failure = StepError(
            f"source:{read.source}",
            f"{source.path} has no data rows (empty or header only); nothing was committed",
            fix="check the file; an empty load is refused so a broken export cannot empty the table",
        )
        raise read.failure


def _decisions(
    batch: pa.RecordBatch, read: SourceRead, source: FileSource, places: _Places
) -> pa.RecordBatch:
    """Findings of the typed read that decide the load rather than a row: nanoseconds that
    microseconds would drop and NaN in JSON refuse it; NaN declared as null is counted."""
    found = decisions(batch)
    if not found:
        return batch
    record = places.of(batch)
    for one in found:
        if one.code == "C":
            read.coerced[f"{one.column}: NaN or Infinity stored as null"] += 1
            continue
        file = (
            str(batch.column(FILE_COLUMN)[one.row].as_py())
            if FILE_COLUMN in batch.schema.names
            else source.path
        )
        text = decision_text(one.code)
        what = text.replace(", ", f" ({record([one.row])[0]}), ", 1)
        read.failure = _refusal(read, file, f"column {one.column} {what}")
        raise read.failure
    return batch


def _refusal(read: SourceRead, path: str, reason: str) -> StepError:
    if "NaN or Infinity" in reason:
        fix = (
            "write null for a missing number at the source, or declare "
            f"sources.{read.source}.non_finite: null (stored as null, counted) or keep"
        )
    else:
        fix = (
            f"round the column to microseconds at the source, or declare it as string in "
            f"sources.{read.source}.columns"
        )
    return StepError(
        f"source:{read.source}", f"{Path(path).name}: {reason}; nothing was committed", fix=fix
    )


def _non_finite(
    batch: pa.RecordBatch, read: SourceRead, source: FileSource, before: int
) -> pa.RecordBatch:
    """JSON has no NaN or Infinity. Float fields are checked as they are read; this is the
    last look at every float column of a record, nested ones aside."""
    if source.non_finite == "keep":
        return batch
    for index, (column, field_) in enumerate(zip(batch.columns, batch.schema, strict=True)):
        if not pa.types.is_floating(field_.type):
            continue
        bad = pc.and_(pc.invert(pc.fill_null(pc.is_finite(column), True)), pc.is_valid(column))
        if not pc.any(bad).as_py():
            continue
        if source.non_finite == "null":
            read.coerced[f"{field_.name}: NaN or Infinity stored as null"] += pc.sum(bad).as_py()
            batch = batch.set_column(
                index, field_, pc.if_else(bad, pa.nulls(len(column), column.type), column)
            )
            continue
        record = before + pc.index(bad, True).as_py() + 1
        read.failure = _refusal(
            read,
            source.path,
            f"column {field_.name} holds NaN or Infinity (record {record}), "
            "which JSON does not allow",
        )
        raise read.failure
    return batch


def _placed(batch: pa.RecordBatch, keys: Callable[[list[int]], list[str | None]]) -> pa.RecordBatch:
    """Rows the typed read set aside, given their place ('record N') like the others."""
    if REJECT_COLUMN not in batch.schema.names:
        return batch
    bad = pc.is_valid(batch.column(REJECT_COLUMN))
    if KEY_COLUMN in batch.schema.names:
        bad = pc.and_(bad, pc.is_null(batch.column(KEY_COLUMN)))
    rows = pc.indices_nonzero(bad).to_pylist()
    if not rows:
        return batch
    return mark_rows(batch, {r: [] for r in rows}, lambda _: [], keys)


def _csv_raw(batch: pa.RecordBatch, rows: list[int]) -> list[str]:
    """CSV rows set aside after parsing, as their fields joined by commas (a timestamp as
    the wall-clock time it was written as)."""
    picked = batch.take(pa.array(rows, pa.int64()))
    names = picked.schema.names
    fields = []
    for name in names:
        if is_helper(name):
            continue
        column = picked.column(name)
        local = LOCAL_PREFIX + name
        if local in names:
            column = pc.coalesce(column.cast(pa.string()), picked.column(local).cast(pa.string()))
        text = column.cast(pa.string())
        if pa.types.is_timestamp(picked.column(name).type):
            text = pc.replace_substring_regex(text, r"\.000000$", "")
        fields.append(text.to_pylist())
    return [",".join("" if f[i] is None else str(f[i]) for f in fields) for i in range(len(rows))]


class _Places:
    """Where a JSON record or Parquet row is: 'record N' of its file, counted per file."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def of(self, batch: pa.RecordBatch) -> Callable[[list[int]], list[str | None]]:
        def keys(rows: list[int]) -> list[str | None]:
            files = (
                batch.column(FILE_COLUMN).to_pylist()
                if FILE_COLUMN in batch.schema.names
                else [""] * batch.num_rows
            )
            counts = dict(self.seen)
            position: list[int] = []
            for file in files:
                counts[file] = counts.get(file, 0) + 1
                position.append(counts[file])
            return [f"record {position[row]}" for row in rows]

        return keys

    def advance(self, batch: pa.RecordBatch) -> None:
        if FILE_COLUMN not in batch.schema.names:
            self.seen[""] = self.seen.get("", 0) + batch.num_rows
            return
        for count in pc.value_counts(batch.column(FILE_COLUMN)).to_pylist():
            file = str(count["values"])
            self.seen[file] = self.seen.get(file, 0) + count["counts"]
