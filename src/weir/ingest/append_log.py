"""`kind: append_log`: a JSON-lines file an application only appends to (an event or audit log).

Each load reads the complete lines after the byte offset committed with the table's last
load, and appends them. The bound is fixed before the first row: the file's size when the
read opens it, cut back to its last newline, so a line still being written waits for the
next load. Observing costs one `stat`: an unchanged log skips its step.

The position committed with the rows (`AppendLogState`) holds the offset, the lines before
it, the file's device and inode, and a digest of the bytes just before the offset. A file
now shorter than the offset (truncated, rotated) or whose bytes before it differ (replaced,
rewritten) is refused with nothing committed: reading on would load the wrong lines. A
`path` changed in weir.yaml is a new file, read from its start and appended.

A line that is not one JSON object (malformed, NaN, not UTF-8, an array, longer than the
16 MiB DuckDB's JSON reader takes) is set aside with its file, line and byte offset. The
others are spooled to the workspace and typed by the same reading as the file source's
NDJSON (weir.ingest.json_read, then weir.ingest.typed_stream): a value that does not fit
its column is set aside, placed at its line too.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from array import array
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, ClassVar, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from weir.core.errors import SourceRefusedError
from weir.dag import InputState
from weir.engines.duckdb import BATCH_ROWS
from weir.engines.split import QUARANTINE_SCHEMA, Diverted, is_helper
from weir.ingest.base import LineCounts, SourceRead, counted
from weir.ingest.conform import Typing
from weir.ingest.connector import (
    MIGRATIONS,
    Capabilities,
    Observation,
    ReadOptions,
    SourceContext,
    released,
)
from weir.ingest.json_read import JsonRead, json_sql
from weir.ingest.names import check_names
from weir.ingest.state import Migration, SourceState
from weir.ingest.typed_stream import typed_stream
from weir.project.sources import SourceSettings

MAX_LINE_BYTES = 16 * 1024 * 1024  # DuckDB's JSON reader refuses a larger object
TAIL_BYTES = 4096  # the bytes before the offset whose digest tells the same file
_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"


class AppendLogSource(SourceSettings):
    kind: Literal["append_log"]
    path: str = Field(description="the log file, relative to the project directory")

    @field_validator("path")
    @classmethod
    def _one_file(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if any(c in value for c in "*?["):
            raise ValueError("names one file: a log is read from where the last load stopped")
        return value

    def local_paths(self) -> dict[str, str]:
        return {"path": self.path}


class AppendLogState(SourceState):
    """Where the last load stopped: `offset` (bytes) after `lines` complete lines of `path`,
    and what tells that the file is still the one read (`tail_sha256` of the `tail_bytes`
    before the offset; its device and inode, shown and observed)."""

    path: str | None = None
    offset: int = 0
    lines: int = 0
    tail_sha256: str | None = None
    tail_bytes: int = 0
    device: int | None = None
    inode: int | None = None


class AppendLogConnector:
    kind: ClassVar[str] = "append_log"
    repeats_content: ClassVar[bool] = False
    settings: ClassVar[type[SourceSettings]] = AppendLogSource
    state_type: ClassVar[type[SourceState]] = AppendLogState
    migrations: ClassVar[Mapping[int, Migration]] = MIGRATIONS

    def __init__(self, context: SourceContext, source: AppendLogSource) -> None:
        self.context = context
        self.source = source
        self.file = context.root / source.path

    @property
    def name(self) -> str:
        return self.context.name

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    def observe(self) -> Observation:
        """Size, inode and modification time: a log that was not written to is not read."""
        try:
            seen = self.file.stat()
        except OSError as exc:
            raise self._missing(exc) from None
        fingerprint = f"{seen.st_dev}:{seen.st_ino}:{seen.st_size}:{seen.st_mtime_ns}"
        label = f"{seen.st_size} bytes"
        return Observation(inputs={f"log {self.source.path}": InputState(fingerprint, label)})

    def read(
        self,
        prior: SourceState | None,
        *,
        observation: Observation | None = None,
        options: ReadOptions = ReadOptions(),  # noqa: B008 - frozen, shared safely
    ) -> AbstractContextManager[SourceRead]:
        """The complete lines after `prior`'s offset; the observation is not needed (the
        bound is the size when the file is opened)."""
        before = prior if isinstance(prior, AppendLogState) and prior.offset > 0 else None
        return released(self._read(before, options))

    def after_commit(self, position: SourceState) -> None:
        """Nothing to acknowledge: the application goes on appending."""

    # reading --------------------------------------------------------------------------------

    @contextmanager
    def _read(self, prior: AppendLogState | None, options: ReadOptions) -> Iterator[SourceRead]:
        same_file = prior is not None and prior.path == self.source.path
        start = prior if same_file else None
        engine = self.context.engine
        with (
            self._open() as handle,
            tempfile.TemporaryDirectory(prefix="weir-log-", dir=engine.scratch()) as folder,
        ):
            seen = os.fstat(handle.fileno())
            if start is not None:
                self._check_same(handle, seen.st_size, start)
            spool = _Spool(Path(folder) / "records.ndjson", str(self.file), start)
            spool.copy(handle, seen.st_size)
            position = AppendLogState(
                path=self.source.path,
                offset=spool.end,
                lines=spool.line,
                tail_bytes=min(spool.end, TAIL_BYTES),
                tail_sha256=_tail(handle, spool.end, min(spool.end, TAIL_BYTES)),
                device=seen.st_dev,
                inode=seen.st_ino,
            )
            append = prior is not None
            if not spool.places:
                yield self._nothing(spool, prior, append)
                return
            connection = engine.connect()
            try:
                yield self._typed(connection, spool, position, append, options)
            finally:
                connection.close()

    @contextmanager
    def _open(self) -> Iterator[BinaryIO]:
        try:
            handle = self.file.open("rb")
        except OSError as exc:
            raise self._missing(exc) from None
        with handle:
            yield handle

    def _missing(self, exc: OSError) -> SourceRefusedError:
        why = "does not exist" if isinstance(exc, FileNotFoundError) else exc.strerror
        return SourceRefusedError(
            self.name,
            f"{self.source.path} ({self.file}) {why}; nothing was committed",
            fix=f"check sources.{self.name}.path (relative to the project directory) and "
            "that the application writing the log has started",
        )

    def _check_same(self, handle: BinaryIO, size: int, prior: AppendLogState) -> None:
        """Refuse a file that is not the one loaded before, grown: shorter than the offset,
        or other bytes before it."""
        start_over = (
            "run 'weir run --full-refresh' to load the file from its start (the table then "
            f"holds its lines only), or point sources.{self.name}.path at the file the "
            "application appends to now (its lines are appended from its start)"
        )
        if size < prior.offset:
            raise SourceRefusedError(
                self.name,
                f"{self.source.path} has {size:,} bytes, fewer than the {prior.offset:,} "
                "loaded before: it was truncated or rotated; nothing was committed",
                fix=start_over,
            )
        if _tail(handle, prior.offset, prior.tail_bytes) != prior.tail_sha256:
            raise SourceRefusedError(
                self.name,
                f"{self.source.path} no longer holds the bytes loaded before (the "
                f"{prior.tail_bytes:,} before byte {prior.offset:,} differ): it was replaced "
                "or rewritten, not appended to; nothing was committed",
                fix=start_over,
            )

    def _nothing(self, spool: _Spool, prior: AppendLogState | None, append: bool) -> SourceRead:
        """No complete record after the offset. A first load is refused (an empty load
        would empty the table); a later one commits nothing, and its set-aside lines wait
        for the next load with a record, which reads them again."""
        if not append:
            if spool.rejected.rows:
                first = spool.rejected.tables[0].slice(0, 1).to_pylist()[0]
                what = (
                    f"no record: all {spool.rejected.rows:,} line(s) were set aside (the first: "
                    f"line {first['line']}, {first['error_type'].lower()})"
                )
            else:
                what = "no record yet (a line counts once it ends with a newline)"
            raise SourceRefusedError(
                self.name,
                f"{self.source.path} has {what}; nothing was committed",
                fix="check the application writes one JSON object per line; an empty "
                "load is refused so it cannot empty the table",
            )
        return SourceRead(
            self.name,
            pa.RecordBatchReader.from_batches(pa.schema([]), iter(())),
            position=prior or AppendLogState(),
            nothing_new=True,
            incremental="nothing new",
        )

    def _typed(
        self,
        connection: duckdb.DuckDBPyConnection,
        spool: _Spool,
        position: AppendLogState,
        append: bool,
        options: ReadOptions,
    ) -> SourceRead:
        """The spooled records, typed as the file source types NDJSON."""
        read = JsonRead(
            [str(spool.file)],
            "newline_delimited",
            "none",
            self.source.columns,
            "reject",  # NaN and Infinity were set aside as lines that are not JSON
            filename=False,
            source=self.name,
            shown=self.source.path,
        )
        try:
            sql, params = json_sql(connection, read)
            stream = connection.sql(sql, params=params).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as exc:
            raise self._unreadable(exc) from None
        result = SourceRead(
            self.name,
            stream,
            position=position,
            diverted=[spool.rejected],
            detail={"append": append},
            lines=spool.counts,
            incremental=f"{spool.counts.read:,} new line(s)" if append else "full",
        )
        if spool.marked:
            result.coerced["byte order mark removed"] += 1
        fields = [n for n in stream.schema.names if not is_helper(n)]
        stored = check_names(fields, self.source.normalise_names, self.name, self.source.path)
        typing = Typing(self.name, rule=self.source.time_rule)  # declared: typed by the read
        values = Diverted("CAST")
        result.diverted.append(values)
        try:
            typed = typed_stream(
                stream,
                stored,
                typing,
                noun="records",
                place=lambda batch, index, row: str(row),
                diverted=values,
                coerced=result.coerced,
            )
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            raise self._unreadable(exc) from None
        placed = self._placed(typed, values, spool, result)
        result.batches = pa.RecordBatchReader.from_batches(
            typed.schema, counted(placed, result, options.progress)
        )
        return result

    def _placed(
        self, typed: pa.RecordBatchReader, values: Diverted, spool: _Spool, read: SourceRead
    ) -> Iterator[pa.RecordBatch]:
        """The typed batches; each value set aside is given its line's place as it is
        (typed_stream keys it by its record's index), and a failure of DuckDB's stream is
        the source's refusal."""
        done = 0
        try:
            for batch in typed:
                values.tables[done:] = [spool.placed(t) for t in values.tables[done:]]
                done = len(values.tables)
                yield batch
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            read.failure = self._unreadable(exc)
            raise read.failure from None

    def _unreadable(self, exc: Exception) -> SourceRefusedError:
        return SourceRefusedError(
            self.name,
            f"the lines of {self.source.path} cannot be typed: {exc}",
            fix=f"declare sources.{self.name}.columns",
        )


class _Spool:
    """The complete lines after the offset: each JSON object copied to `file` for DuckDB
    with its place kept, every other line set aside (`rejected`) with its place."""

    def __init__(self, file: Path, shown: str, prior: AppendLogState | None) -> None:
        self.file = file
        self.shown = shown  # the log's path as the quarantine names it
        self.end = prior.offset if prior is not None else 0  # after the last complete line
        self.line = prior.lines if prior is not None else 0  # complete lines before `end`
        self.places: array[int] = array("q")  # each record's line number ...
        self.offsets: array[int] = array("q")  # ... and byte offset
        self.rejected = Diverted("INVALID JSON")
        self.marked = False  # the file began with a byte order mark
        self.counts = LineCounts()  # the lines of this load, accounted for

    def copy(self, handle: BinaryIO, size: int) -> None:
        """Read from `end` up to `size` (the size when the file was opened)."""
        bad: list[tuple[int, int, str, str, str]] = []
        with self.file.open("wb") as out:
            for start, line, length in _lines(handle, self.end, size):
                self.line += 1
                self.counts.read += 1
                self.end = start + length + 1
                if line is not None and start == 0 and line.startswith(_BOM):
                    line, self.marked = line[len(_BOM) :], True
                if line is not None and not line.strip():
                    self.counts.blank += 1  # an empty line is no record
                    continue
                problem = _problem(line, length)
                if problem is not None:
                    text = "" if line is None else line.decode("utf-8", errors="replace")
                    bad.append((self.line, start, problem[0], problem[1], text))
                    continue
                assert line is not None
                out.write(line.rstrip(b"\r") + b"\n")
                self.places.append(self.line)
                self.offsets.append(start)
        if bad:
            self.rejected.tables.append(
                pa.table(
                    {
                        "file": [self.shown] * len(bad),
                        "line": [b[0] for b in bad],
                        "byte_offset": [b[1] for b in bad],
                        "column_name": [None] * len(bad),
                        "error_type": [b[2] for b in bad],
                        "error": [b[3] for b in bad],
                        "raw": [b[4] for b in bad],
                        "key": [None] * len(bad),
                    },
                    schema=QUARANTINE_SCHEMA,
                )
            )

    def placed(self, rejects: pa.Table) -> pa.Table:
        """Rejects keyed by their record's index in the spool, placed at their line."""
        index = pc.cast(rejects.column("key"), pa.int64())
        lines = pc.take(pa.array(self.places, pa.int64()), index)
        offsets = pc.take(pa.array(self.offsets, pa.int64()), index)
        count = rejects.num_rows
        return (
            rejects.set_column(0, "file", pa.array([self.shown] * count, pa.string()))
            .set_column(1, "line", lines)
            .set_column(2, "byte_offset", offsets)
            .set_column(7, "key", pa.nulls(count, pa.string()))
        )


def _lines(handle: BinaryIO, start: int, end: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(byte offset, line without its newline, length) of each complete line in
    [start, end); the line is None when longer than MAX_LINE_BYTES (not kept in memory)."""
    handle.seek(start)
    at, pending, length = start, bytearray(), 0
    while at < end:
        chunk = handle.read(min(_CHUNK, end - at))
        if not chunk:
            return  # the file shrank while being read: the next load says so
        at += len(chunk)
        cut = 0
        while (newline := chunk.find(b"\n", cut)) >= 0:
            size = length + newline - cut
            line = None if size > MAX_LINE_BYTES else bytes(pending + chunk[cut:newline])
            yield at - len(chunk) + newline - size, line, size
            pending, length, cut = bytearray(), 0, newline + 1
        length += len(chunk) - cut
        if length <= MAX_LINE_BYTES:
            pending += chunk[cut:]
        else:
            pending = bytearray()


def _problem(line: bytes | None, length: int) -> tuple[str, str] | None:
    """(error type, reason) of a line that is not one JSON object; None for one that is."""
    if line is None:
        return (
            "LINE SIZE OVER MAXIMUM",
            f"a line of {length:,} bytes; the longest read is {MAX_LINE_BYTES:,}",
        )
    try:
        value = json.loads(line.decode("utf-8"), parse_constant=_not_json)
    except UnicodeDecodeError as exc:
        return "INVALID ENCODING", f"not UTF-8 text (byte {exc.start} of the line)"
    except RecursionError:
        return "INVALID JSON", "not JSON Weir can read: nested too deeply"
    except json.JSONDecodeError as exc:
        return "INVALID JSON", f"not JSON: {exc.msg.lower()} at character {exc.pos + 1}"
    except ValueError as exc:
        return "INVALID JSON", f"not JSON: {exc}"
    if not isinstance(value, dict):
        kind = "array" if isinstance(value, list) else type(value).__name__
        return "NOT AN OBJECT", f"a JSON {kind}, not an object"
    return None


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not a JSON number")


def _tail(handle: BinaryIO, offset: int, size: int) -> str:
    """The digest of the `size` bytes before `offset`."""
    handle.seek(offset - size)
    return hashlib.sha256(handle.read(size)).hexdigest()
