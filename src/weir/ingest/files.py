"""File sources (CSV, JSON, NDJSON, Parquet; plain, gzip or zstd) read by DuckDB into Arrow.

DuckDB's CSV reader is RFC 4180 (quoted newlines and delimiters), fast, and can set aside
rows it cannot parse (`store_rejects`). Weir binds declared columns to each file's header by
name, turns DuckDB's rejects into quarantine records placed at their physical line and byte,
and checks that every line of the files is accounted for; a load where DuckDB's read cannot
be trusted (a quote that swallowed lines) is read again through Weir's record scanner, which
sets aside only the lines that cannot be right (csv_files, csv_account, csv_scan).

Every format is then typed the same checked way (`weir.ingest.conform`): declared types, or
types inferred from the data, are promises about every row; a value that does not fit sets
its row aside with the reason instead of being rounded or reread, and times follow the
source's one time rule.

Two kinds of quarantine record, both placed exactly:
- parser rejects (bad quoting, wrong column count, a value DuckDB cannot cast, an over-long
  line): file, physical line, byte offset and the raw text;
- value rejects (an integer column holding '2.1', an ambiguous local time): for CSV the
  file, the line and byte where the row's record starts and its text (csv_rows places the
  row DuckDB read); for JSON and Parquet the file and 'record N' (its key), the row as JSON.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from weir.core.errors import ConfigError, SourceRefusedError
from weir.engines.base import iter_batches
from weir.engines.duckdb import BATCH_ROWS, DuckDBEngine
from weir.engines.split import (
    FILE_COLUMN,
    KEY_COLUMN,
    LOCAL_PREFIX,
    REJECT_COLUMN,
    Diverted,
    is_helper,
    mark_rows,
    split_batch,
    without_helpers,
)
from weir.ingest.base import Progress, SourceRead, counted, first_set_aside
from weir.ingest.conform import Typing, conform, renamed
from weir.ingest.csv_account import CsvAttempt
from weir.ingest.csv_files import RereadError, plan_files, read_header
from weir.ingest.csv_text import (
    CsvFormat,
    LineCount,
    codec_of,
    compressed_unsaid,
    hash_and_count,
    newline_of,
    open_bytes,
    undecodable_at,
)
from weir.ingest.json_files import (
    Staged,
    finite_or_null,
    has_floats,
    original_files,
    said,
    without_bom,
)
from weir.ingest.json_read import JsonRead, json_sql
from weir.ingest.names import check_names
from weir.ingest.parquet_check import check_parquet
from weir.ingest.state import FileSeen, FilesState
from weir.ingest.typed_stream import decision_text, decisions, raw_rows
from weir.project.sources import FileSource


@dataclass(frozen=True)
class FileState:
    """A file as it is now; a change in size or hash means new content."""

    path: str
    size: int
    sha256: str
    lines: LineCount | None = None  # plain CSV: counted while hashing, for the line account


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
    """Each file's size and hash; a plain CSV's lines are counted in the same read."""
    states = []
    for path in list_files(root, name, source):
        unsaid = None if source.format == "parquet" else compressed_unsaid(path, source.compression)
        if unsaid is not None:
            raise ConfigError(
                f"source '{name}': {path.relative_to(root).as_posix()} is {unsaid}-compressed, "
                f"but its name does not say so (Weir reads .gz and .zst files as compressed)",
                fix=f"set sources.{name}.compression: {unsaid}, or rename the file to end in "
                f"{'.gz' if unsaid == 'gzip' else '.zst'}",
            )
        count = (
            source.format == "csv"
            and source.csv.encoding != "utf-16"
            and codec_of(path, source.compression) is None
        )
        digest, lines = hash_and_count(path, count)
        states.append(
            FileState(path.relative_to(root).as_posix(), path.stat().st_size, digest, lines)
        )
    return states


@contextmanager
def read_files(
    engine: DuckDBEngine,
    root: Path,
    name: str,
    source: FileSource,
    *,
    prior: FilesState | None = None,
    progress: Progress | None = None,
    observed: Sequence[FileState] | None = None,
    careful: bool = False,
    scratch: Path | None = None,
) -> Iterator[SourceRead]:
    """Open a streaming read of a file source; the reader refuses an empty load.

    `prior` is the state of the table's last load (None: load everything). An incremental
    source reads only files it has not loaded; a loaded file whose content changed is
    refused, or reloads every file, as `on_change` says. A CSV read that cannot be trusted
    raises `RereadError` (nothing may be committed): the caller starts the load again
    with `careful`, which scans and stages the files under `scratch` first.
    """
    files, state, append = _files_to_load(root, name, source, prior, observed)
    if not files:
        yield SourceRead(
            name,
            pa.RecordBatchReader.from_batches(pa.schema([]), iter(())),
            position=state,
            nothing_new=True,
            incremental="nothing new",
        )
        return
    _refuse_empty(files, name, source)
    with ExitStack() as stack:
        attempt = None
        staged = Staged(files, source.compression)
        if source.format == "csv":
            counts = {root / f.path: f.lines for f in observed or [] if f.lines is not None}
            counter = stack.enter_context(ThreadPoolExecutor(1, "weir-csv-count"))
            planned = plan_files(files, name, source, counts, counter)
            workspace = stack.enter_context(_scratch(scratch)) if careful else Path()
            connection = engine.connect()
            stack.callback(connection.close)
            attempt = CsvAttempt(name, source, planned, careful=careful, scratch=workspace)
            sql, params = attempt.sql(connection)
        else:
            connection = engine.connect()
            stack.callback(connection.close)
            staged = without_bom(files, source, stack, engine)
            sql, params = _read_sql(connection, staged, name, source)
        try:
            raw = connection.sql(sql, params=params).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as exc:
            raise _read_error(exc, name, source, attempt, staged.originals) from None
        diverted = Diverted("CAST")
        read = SourceRead(
            name,
            raw,
            position=state,
            diverted=[diverted],
            extra_rejects=None if attempt is None else lambda: attempt.rejects(connection),
            detail={"append": append, "files": len(files)},
            lines=None if attempt is None else attempt.lines,
            incremental=(f"{len(files)} new file(s)" if append else "full")
            if source.incremental
            else None,
        )
        if attempt is None and staged.marked:
            read.coerced["byte order mark removed (files)"] += staged.marked
        stored = check_names(
            without_helpers(raw.schema).names, source.normalise_names, name, source.path
        )
        originals = {} if attempt is not None else staged.originals
        guarded = _guarded(raw, read, source, diverted, stored, attempt, connection, originals)
        first = _first(guarded, read)  # typing decides the schema
        read.batches = pa.RecordBatchReader.from_batches(
            first.schema, counted(itertools.chain([first], guarded), read, progress)
        )
        yield read


@contextmanager
def _scratch(scratch: Path | None) -> Iterator[Path]:
    """An empty folder for staged copies, removed afterwards (and before: a killed run's)."""
    if scratch is None:
        with tempfile.TemporaryDirectory(prefix="weir-csv-") as folder:
            yield Path(folder)
        return
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True, mode=0o700)  # staged copies hold the file's raw data
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _read_error(
    exc: Exception,
    name: str,
    source: FileSource,
    attempt: CsvAttempt | None,
    originals: Mapping[str, str] | None = None,
) -> SourceRefusedError:
    """DuckDB stopped reading. Its CSV state machine stops on a lone line-break character
    outside quotes, and its type sniffer on a quote that runs past the line limit; the
    scanner sets such lines aside, so a fast read is tried again, carefully."""
    if attempt is not None and not attempt.careful:
        if "state machine" in str(exc):
            return RereadError(name, "DuckDB's CSV parser reached an invalid state")
        if "Error when sniffing file" in str(exc):
            return RereadError(name, "DuckDB could not infer the columns' types")
    return SourceRefusedError(
        name,
        f"cannot read {source.path}: {said(exc, originals)}",
        fix=f"check the file and sources.{name} ({source.format} options, columns)",
    )


def check_csv(engine: DuckDBEngine, path: Path, what: str) -> None:
    """Refuse a CSV file in which any line is not a clean record, naming the first one. For
    files that must be read whole (a batch-scoring input, where a quarantined line would
    be a missing prediction), by the same structure checks as a CSV source, careful read
    included. Every column is read as text: typing (a time zone, inferred types) belongs to
    a source, and a scoring input's values are checked against the model's inputs."""
    try:
        fmt = CsvFormat.of(path, FileSource(format="csv", path=path.name))
        header = read_header(path, fmt, newline_of(path, fmt), "input")
        columns = dict.fromkeys(header.names, "string")
        source = FileSource(format="csv", path=path.name, columns=columns or None)
        try:
            rejects = _drained(engine, path, source, careful=False)
        except RereadError:
            rejects = _drained(engine, path, source, careful=True)
    except SourceRefusedError as exc:
        raise ConfigError(f"{what}: {exc.message.split(': ', 1)[-1]}", fix=exc.fix) from None
    if rejects.num_rows:
        first = rejects.slice(0, 1).to_pylist()[0]
        raise ConfigError(
            f"{what}: {path.name} line {first['line']} (byte {first['byte_offset']}) is not a "
            f"clean record ({first['error']}); {rejects.num_rows:,} such line(s), nothing was read",
            fix="repair those lines, or load the file as a source (its bad lines go to "
            "quarantine) and use the table",
        )


def _drained(engine: DuckDBEngine, path: Path, source: FileSource, careful: bool) -> pa.Table:
    with read_files(engine, path.parent, "input", source, careful=careful) as read:
        try:
            for _ in read.batches:
                pass
        except Exception:
            if read.failure is None:
                raise
            raise read.failure from None
        return read.rejects()


def _files_to_load(
    root: Path,
    name: str,
    source: FileSource,
    prior: FilesState | None,
    observed: Sequence[FileState] | None,
) -> tuple[list[Path], FilesState, bool]:
    """The files this load reads, the state after it, and whether it appends. `observed` is
    what the run saw when it decided to run this step (hashing a multi-GB file twice costs
    seconds)."""
    now = observed if observed is not None else observe_files(root, name, source)
    state = FilesState(files={f.path: FileSeen(size=f.size, sha256=f.sha256) for f in now})
    loaded = dict(prior.files) if prior is not None else {}
    if not source.incremental or not loaded:
        return [root / f.path for f in now], state, False
    changed = [f.path for f in now if f.path in loaded and loaded[f.path].sha256 != f.sha256]
    if changed and source.on_change == "reject":
        raise SourceRefusedError(
            name,
            f"{', '.join(changed)} changed since it was loaded; nothing was committed",
            fix=f"restore the file, or set sources.{name}.on_change: reload to rebuild the table "
            "from every file, or run once with --full-refresh",
        )
    if changed:
        return [root / f.path for f in now], state, False
    state = FilesState(files={**loaded, **state.files})
    return [root / f.path for f in now if f.path not in loaded], state, True


def _read_sql(
    connection: duckdb.DuckDBPyConnection, staged: Staged, name: str, source: FileSource
) -> tuple[str, list[object]]:
    """JSON and Parquet (CSV is read by a `CsvAttempt`)."""
    files = staged.files
    paths = [str(f) for f in files]
    if source.format == "parquet":
        check_parquet(files, name, source.path, list(source.columns or {}), source.normalise_names)
        return (
            f"SELECT * FROM read_parquet(?, union_by_name = true, filename = '{FILE_COLUMN}')",
            [paths],
        )
    layout = "newline_delimited" if source.format == "ndjson" else "auto"
    try:
        return json_sql(
            connection,
            JsonRead(
                paths,
                layout,
                staged.compression,
                source.columns,
                source.non_finite,
                source=name,
                shown=source.path,
            ),
        )
    except duckdb.Error as exc:
        raise SourceRefusedError(
            name,
            f"cannot read {source.path}: {said(exc, staged.originals)}",
            fix=f"check the file and sources.{name} ({source.format} options, columns)",
        ) from None


def _refuse_bad_encoding(read: SourceRead, source: FileSource) -> None:
    """Bytes that are not text in the declared encoding mean the whole file was read with
    the wrong one: refuse it at the first such byte rather than quarantine every line."""
    if read.extra_rejects is None:
        return
    rejects = read.extra_rejects()
    encoding = pc.fill_null(
        pc.match_substring(rejects.column("error_type"), "INVALID ENCODING"), False
    )
    bad = rejects.filter(encoding)
    if bad.num_rows:
        first = bad.slice(0, 1).to_pylist()[0]
        path = Path(first["file"])
        at = undecodable_at(path, CsvFormat.of(path, source), first["byte_offset"])
        read.failure = SourceRefusedError(
            read.source,
            f"{path.name} line {first['line']} (byte {at}) is not "
            f"{source.csv.encoding} text; nothing was committed",
            fix=f"declare the file's encoding: sources.{read.source}.csv.encoding "
            "(utf-8, utf-16 or latin-1), or re-export it as UTF-8",
        )
        raise read.failure


def _refuse_empty(files: list[Path], name: str, source: FileSource) -> None:
    """An empty or header-only file is refused before parsing, with a plain message. The
    decompressed text is looked at: a small .gz file holds no newline byte of its own."""
    for path in files:
        with open_bytes(path, codec_of(path, source.compression)) as handle:
            head = handle.read(1 << 20)
        if source.format == "csv" and source.csv.encoding == "utf-16":
            head = head.decode("utf-16", errors="replace").encode()
        content = head.lstrip(b"\xef\xbb\xbf").strip()
        header_only = (
            source.format == "csv"
            and source.csv.header
            and b"\n" not in content
            and b"\r" not in content
            and len(head) < (1 << 20)
        )
        if not content or header_only:
            what = "is empty" if not content else "has a header but no data rows"
            raise SourceRefusedError(
                name,
                f"{path.name} {what}; nothing was committed",
                fix="check the export that wrote it; an empty load is refused so it cannot empty the table",
            )


def _first(guarded: Iterator[pa.RecordBatch], read: SourceRead) -> pa.RecordBatch:
    """The first typed batch, read before the stream is handed on (its schema is the
    table's); a refusal found in it is raised as the Weir error it is."""
    try:
        return next(guarded)
    except StopIteration:
        raise read.failure or SourceRefusedError(read.source, "no rows") from None
    except duckdb.Error:
        assert read.failure is not None
        raise read.failure from None


def _guarded(
    reader: pa.RecordBatchReader,
    read: SourceRead,
    source: FileSource,
    diverted: Diverted,
    stored: list[str],
    attempt: CsvAttempt | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
    originals: dict[str, str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Type, split off bad rows, and refuse what must be refused before commit: times
    without a zone, lost nanoseconds, NaN in JSON, an empty load. For CSV, count the lines
    each batch covers and refuse (or re-read) a load whose lines do not add up; then place
    the rows typing set aside at their lines."""
    # CSV and JSON values were typed as text by the read; Parquet's are cast here
    declared = dict(source.columns or {}) if source.format == "parquet" else {}
    typing = Typing(read.source, columns=declared, rule=source.time_rule)
    places = _Places()
    renderer = _csv_raw if source.format == "csv" else raw_rows
    rows = 0
    try:
        for batch in iter_batches(reader):
            records = batch.num_rows
            batch = original_files(renamed(batch, stored), originals or {})
            batch = _decisions(batch, read, source, places)
            where = f"{source.path} rows {rows + 1}-{rows + batch.num_rows}"
            try:
                done = conform(batch, typing, where, first=rows)
            except SourceRefusedError as exc:
                read.failure = exc
                raise
            read.coerced.update(done.coerced)
            key = places.of(done.batch)
            marked = mark_rows(done.batch, done.problems, partial(renderer, batch), key)
            marked = _placed(marked, key)  # and rows the typed read set aside
            places.advance(done.batch)
            seen = len(diverted.tables)
            batch = split_batch(marked, diverted)
            if attempt is not None:
                attempt.observe(marked, attempt.count(batch, diverted.tables[seen:], records))
            if source.format in ("json", "ndjson"):
                batch = _non_finite(batch, read, source, rows)
            rows += batch.num_rows
            yield batch
    except (duckdb.Error, pa.ArrowException, OSError) as exc:
        # DuckDB's errors while streaming reach here through Arrow's reader, as OSError
        read.failure = _read_error(exc, read.source, source, attempt, originals)
        if not isinstance(read.failure, RereadError):
            read.failure = SourceRefusedError(
                read.source,
                f"cannot read {source.path}: {said(exc, originals)}",
                fix="fix the file, or declare sources.<name>.columns so bad rows are quarantined",
            )
        raise read.failure from None
    _refuse_bad_encoding(read, source)
    if attempt is not None and connection is not None:
        try:
            attempt.finish(connection, len(without_helpers(reader.schema)))
            diverted.tables[:] = attempt.placed(connection, diverted.tables)
        except SourceRefusedError as exc:
            read.failure = exc
            raise
    _refuse_no_rows(read, source, diverted, rows)


def _refuse_no_rows(read: SourceRead, source: FileSource, diverted: Diverted, rows: int) -> None:
    """A load that leaves no row is refused, so a broken export cannot empty the table."""
    if rows == 0 and diverted.rows:
        read.failure = SourceRefusedError(
            read.source,
            f"{source.path} has no data rows left: all {diverted.rows} were set aside (the "
            f"first: {first_set_aside(diverted.tables)}); nothing was committed",
            fix=f"fix the file, or sources.{read.source} (columns, timezone, formats)",
        )
        raise read.failure
    if rows == 0:
        read.failure = SourceRefusedError(
            read.source,
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


def _refusal(read: SourceRead, path: str, reason: str) -> SourceRefusedError:
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
    return SourceRefusedError(
        read.source, f"{Path(path).name}: {reason}; nothing was committed", fix=fix
    )


def _non_finite(
    batch: pa.RecordBatch, read: SourceRead, source: FileSource, before: int
) -> pa.RecordBatch:
    """JSON has no NaN or Infinity. Top-level float fields are checked as they are read;
    this is the last look at every float of a record, inside objects and lists too."""
    if source.non_finite == "keep":
        return batch
    for index, (column, field_) in enumerate(zip(batch.columns, batch.schema, strict=True)):
        if not has_floats(field_.type):
            continue
        finite, bad, count = finite_or_null(column)
        if not count:
            continue
        if source.non_finite == "null":
            read.coerced[f"{field_.name}: NaN or Infinity stored as null"] += count
            batch = batch.set_column(index, field_, finite)
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
    """Where a row is: 'record N' of its file, counted per file (a CSV row's key until
    csv_rows places it at its line)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def of(self, batch: pa.RecordBatch) -> Callable[[list[int]], list[str | None]]:
        def keys(rows: list[int]) -> list[str | None]:
            single = _one_file(batch)
            if single is not None:  # most batches: no need to look at each row's file
                before = self.seen.get(single, 0)
                return [f"record {before + row + 1}" for row in rows]
            counts = dict(self.seen)
            position: list[int] = []
            for file in batch.column(FILE_COLUMN).to_pylist():
                counts[file] = counts.get(file, 0) + 1
                position.append(counts[file])
            return [f"record {position[row]}" for row in rows]

        return keys

    def advance(self, batch: pa.RecordBatch) -> None:
        single = _one_file(batch)
        if single is not None:
            self.seen[single] = self.seen.get(single, 0) + batch.num_rows
            return
        for count in pc.value_counts(batch.column(FILE_COLUMN)).to_pylist():
            file = str(count["values"])
            self.seen[file] = self.seen.get(file, 0) + count["counts"]


def _one_file(batch: pa.RecordBatch) -> str | None:
    """The file all of a batch's rows come from ('' without a file column), or None."""
    if FILE_COLUMN not in batch.schema.names:
        return ""
    files = batch.column(FILE_COLUMN)
    if len(files) == 0 or files.null_count:
        return None
    first = files[0].as_py()
    if first != files[-1].as_py() or not pc.all(pc.equal(files, first)).as_py():
        return None
    return str(first)
