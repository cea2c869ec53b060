"""One attempt at a CSV load: what DuckDB reads, where its rejects are, and whether every
physical line is accounted for.

Fast attempt: DuckDB reads the files as they are. While the rows stream, the line breaks
inside their values are counted (in the string buffers, with NumPy); at the end the
lines must add up: header + empty lines + rows + line breaks inside values + rejected lines
= lines read. DuckDB places a reject by its record's first byte in its own UTF-8 text of the
decompressed file; that is turned into the physical line and the byte in the file's own
encoding. A reject spanning several lines, or lines that do not add up, means DuckDB's read
cannot be trusted: `RereadError`.

Careful attempt: the files were scanned and staged first (csv_files.stage); DuckDB must read
exactly the records the scanner staged, or the load is refused.

Either way the columns are typed as declared, or as DuckDB's sniffer infers them from the
first file (csv_infer), and rows that typing sets aside are placed at their line afterwards
(csv_rows).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.core.errors import SourceRefusedError
from weir.engines.split import QUARANTINE_SCHEMA
from weir.ingest.base import LineCounts
from weir.ingest.csv_files import CsvFile, RereadError, Staged, groups, stage
from weir.ingest.csv_infer import bind_inferred
from weir.ingest.csv_rows import RowPlaces, placed
from weir.ingest.csv_scan import body_of
from weir.ingest.csv_sql import CsvTypes, csv_sql
from weir.ingest.csv_text import CHUNK, iter_lines, open_bytes
from weir.project.sources import FileSource

DUCKDB_TEXT_CAP = 10_000  # DuckDB keeps this many characters of a rejected record's text
# a line break (\r\n, \n or a lone \r) right before another: an empty line inside a value
_BLANK_IN_VALUE = re.compile(r"(?:\r\n|\n|\r(?!\n))(?=[\r\n])")
_REJECTS = """
    SELECT s.file_path AS file, e.line_byte_position::BIGINT AS position,
           string_agg(DISTINCT e.column_name, ', ' ORDER BY e.column_name) AS column_name,
           string_agg(DISTINCT e.error_type::VARCHAR, ', ' ORDER BY e.error_type::VARCHAR) AS error_type,
           string_agg(DISTINCT e.error_message, '; ' ORDER BY e.error_message) AS error,
           any_value(e.csv_line) AS raw
    FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id)
    GROUP BY s.file_path, e.line_byte_position
    ORDER BY file, position
"""


class CsvAttempt:
    """A CSV load, fast or careful; `scratch` holds the staged copies of a careful one."""

    def __init__(
        self,
        name: str,
        source: FileSource,
        files: list[CsvFile],
        *,
        careful: bool,
        scratch: Path,
    ) -> None:
        self.name, self.source, self.files, self.careful = name, source, files, careful
        self.staged: list[Staged] = []
        if careful:
            self.staged = [stage(f, scratch / f"{i}.csv", name) for i, f in enumerate(files)]
        self.records = self.breaks = self.blank_in_values = 0
        # lines read: filled in by `finish` (a compressed file may still be being counted)
        self.lines = LineCounts(header=sum(f.header.lines for f in files if f.header))
        self._rejects: pa.Table | None = None
        self._doubts: list[str] = []  # why DuckDB's rejects are not to be trusted
        self.types = CsvTypes({})
        self.rows = RowPlaces()
        self._staged_rejects: dict[str, list[int]] = {}  # staged copy -> records DuckDB set aside

    def sql(self, connection: duckdb.DuckDBPyConnection) -> tuple[str, list[object]]:
        """The query of this attempt; without declared columns, the sniffer's types are
        bound to each file's header by name first."""
        staged = {s.original.path: s.path for s in self.staged} if self.careful else None
        source = self.source
        # rows come out in each file's order: a row set aside is placed as the N-th of its
        # file (csv_rows), which DuckDB guarantees only with this setting (its default)
        connection.execute("SET preserve_insertion_order = true")
        if source.columns:
            options = source.csv
            self.types = CsvTypes(
                dict(source.columns), options.date_format, options.timestamp_format
            )
        else:
            self.types, self.files = bind_inferred(
                connection, self.files, self.name, source, staged, careful=self.careful
            )
        unknown = sorted(set(source.csv.column_null_values) - set(self.types.columns))
        if unknown:
            raise SourceRefusedError(
                self.name,
                f"csv.column_null_values names {', '.join(unknown)}, which the file does not "
                f"have (it has {', '.join(self.types.columns)})",
                fix=f"fix sources.{self.name}.csv.column_null_values",
            )
        return csv_sql(groups(self.files, staged), source, self.types)

    def count(self, good: pa.RecordBatch, diverted: Sequence[pa.Table], rows: int) -> int:
        """Count a batch as it streams: `rows` records came out of DuckDB, `good` of them go
        on, `diverted` hold the others' text. Returns the line breaks inside its values."""
        self.records += rows
        if self.careful:
            return 0  # the scanner counted every line already
        breaks = 0
        for column, type_ in zip(good.columns, good.schema.types, strict=True):
            if pa.types.is_string(type_) or pa.types.is_large_string(type_):
                breaks += self._breaks(column)
        for table in diverted:
            for chunk in table.column("raw").chunks:
                breaks += self._breaks(chunk)
        return breaks

    def observe(self, marked: pa.RecordBatch, breaks: int) -> None:
        """Note where a batch's rows are (rows set aside still in it, with their reason),
        so rows that typing set aside can be placed at their line."""
        self.rows.observe(marked, breaks)

    def _breaks(self, values: pa.Array) -> int:
        if len(values) == 0 or values.null_count == len(values):
            return 0
        _, offsets, data_buffer = values.buffers()[:3]
        width = np.int64 if pa.types.is_large_string(values.type) else np.int32
        bounds = np.frombuffer(offsets, dtype=width)[
            values.offset : values.offset + len(values) + 1
        ]
        data = np.frombuffer(data_buffer, np.uint8)[int(bounds[0]) : int(bounds[-1])]
        newline = data == 10
        breaks = int(np.count_nonzero(newline))
        ret = data == 13
        if ret.any():  # \r\n is one break, a lone \r another
            breaks += int(np.count_nonzero(ret)) - int(np.count_nonzero(ret[:-1] & newline[1:]))
        if not breaks:
            return 0
        self.breaks += breaks
        broken = values.filter(pc.match_substring_regex(values, "[\r\n]"))
        for value in broken.to_pylist():
            self.blank_in_values += sum(1 for _ in _BLANK_IN_VALUE.finditer(value))
        return breaks

    def rejects(self, connection: duckdb.DuckDBPyConnection) -> pa.Table:
        """The records set aside, placed in the original files (computed once)."""
        if self._rejects is None:
            tables = [t for s in self.staged for t in s.rejects]
            tables.append(self._placed(_duckdb_rejects(connection)))
            self._rejects = pa.concat_tables([QUARANTINE_SCHEMA.empty_table(), *tables]).sort_by(
                [("file", "ascending"), ("line", "ascending")]
            )
        return self._rejects

    def _placed(self, found: pa.Table) -> pa.Table:
        if found.num_rows == 0:
            return QUARANTINE_SCHEMA.empty_table()
        by_path = {str(s.path): s for s in self.staged} | {str(f.path): f for f in self.files}
        rows = found.to_pylist()
        per_file: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            per_file.setdefault(row["file"], []).append(row)
        for path, mine in per_file.items():
            target = by_path[path]
            positions = [r["position"] for r in mine]
            if isinstance(target, Staged):
                places = target.place(positions)
                original = str(target.original.path)
                self._staged_rejects[path] = target.rows(positions).tolist()
            else:
                places = place(target, positions, self.name)
                original = path
            for row, (line, offset, text) in zip(mine, places, strict=True):
                row |= {"file": original, "line": line, "byte_offset": offset}
                row["raw"] = self._checked(row, _record_text(row["raw"]), text, target)
        for row in rows:
            row["key"] = None
            del row["position"]
        return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)

    def _checked(
        self, row: dict[str, Any], raw: str | None, text: str | None, target: CsvFile | Staged
    ) -> str | None:
        """The record's text. On a fast read, the physical line where DuckDB places a reject
        must hold the text it rejected (DuckDB keeps only its first 10,000 characters; the
        line gives them all), or the read is doubted."""
        if isinstance(target, Staged) or raw is None:
            return raw
        if text is None or not text.startswith(raw):
            self._doubts.append(f"{_where(row)}: DuckDB's place for a record it set aside")
        elif text != raw and len(raw) < DUCKDB_TEXT_CAP and "LINE SIZE" not in row["error_type"]:
            self._doubts.append(f"{_where(row)}: DuckDB's text for a record it set aside")
        return text if text is not None and text.startswith(raw) else raw

    def finish(self, connection: duckdb.DuckDBPyConnection, columns: int) -> None:
        """Refuse (or re-read) a load whose lines do not add up; fill in `lines`."""
        self.lines.read = sum(f.count.lines for f in self.files)
        changed = [f for f in self.files if f.count.newline != f.newline]
        if changed and not self.careful:  # the start of the file said otherwise
            raise RereadError(self.name, f"{changed[0].path.name} mixes line terminators")
        rejects = self.rejects(connection)
        if self.careful:
            self._finish_careful(len(rejects) - sum(len(t) for s in self.staged for t in s.rejects))
            return
        for row in rejects.to_pylist():
            self._trust(row)
        blank = sum(f.count.blank for f in self.files) - self.blank_in_values
        blank = blank if columns > 1 or not self.files[0].fmt.empty_is_null else 0
        found = self.lines.header + blank + self.records + self.breaks + rejects.num_rows
        if found != self.lines.read:
            raise RereadError(
                self.name, f"{self.lines.read:,} lines read but {found:,} accounted for"
            )
        self.lines.blank, self.lines.continued = blank, self.breaks

    def _trust(self, row: dict[str, object]) -> None:
        """DuckDB's rejects are trusted only where nothing about quoting went wrong: around a
        bad quote it may swallow lines, or report a record that it also read as a row."""
        if "UNQUOTED VALUE" in str(row["error_type"]):
            raise RereadError(self.name, f"{_where(row)}: DuckDB found a quote out of place")
        raw = str(row["raw"] or "")
        if "\n" in raw or "\r" in raw:
            raise RereadError(
                self.name, f"{_where(row)}: a record DuckDB set aside runs over several lines"
            )
        if self._doubts:
            raise RereadError(self.name, self._doubts[0])

    def _finish_careful(self, duckdb_rejects: int) -> None:
        staged = sum(s.records for s in self.staged)
        scanned = sum(s.lines for s in self.staged)
        if self.records + duckdb_rejects != staged or scanned != self.lines.read:
            raise SourceRefusedError(
                self.name,
                f"{self.source.path} cannot be resynchronised: the scanner staged {staged:,} "
                f"records of {scanned:,} lines ({self.lines.read:,} counted), DuckDB read "
                f"{self.records + duckdb_rejects:,}; nothing was committed",
                fix=f"check sources.{self.name}.csv (quote, escape, delimiter) against the file",
            )
        self.lines.blank = sum(s.blank for s in self.staged)
        self.lines.continued = sum(s.continued for s in self.staged)

    def placed(self, connection: duckdb.DuckDBPyConnection, rows: list[pa.Table]) -> list[pa.Table]:
        """`rows` (set aside by typing, after `finish`) placed at their line, byte and text
        in the original files."""
        if not self.rows.pending:
            return rows
        rejected = dict(self._staged_rejects)
        if not self.careful:
            table = self.rejects(connection)
            for file, line in zip(
                table.column("file").to_pylist(), table.column("line").to_pylist(), strict=True
            ):
                rejected.setdefault(file, []).append(line)
        places = self.rows.resolve(
            self.name, self.files, self.staged, rejected, self.blank_in_values > 0
        )
        return placed(rows, places)


def _where(row: dict[str, Any]) -> str:
    return f"{Path(str(row['file'])).name} line {row['line']}"


def _duckdb_rejects(connection: duckdb.DuckDBPyConnection) -> pa.Table:
    try:
        return connection.sql(_REJECTS).to_arrow_table()
    except duckdb.CatalogException:  # nothing was read
        return pa.table({})


def _record_text(raw: str | None) -> str | None:
    """DuckDB's text of a rejected record, without the line break it sometimes starts with
    (after a \\r\\n) or ends with."""
    if raw is None:
        return None
    return raw.lstrip("\r\n").rstrip("\r\n")


def place(file: CsvFile, positions: Sequence[int], name: str) -> list[tuple[int, int, str | None]]:
    """(physical line, byte offset in the file's encoding, the line's text) of each of
    DuckDB's positions; the text is None where the position is not at a line's start.

    DuckDB's `line_byte_position` is one past the first byte after the previous record's
    terminator, in its UTF-8 text of the decompressed file: so the record starts at the
    first byte from `position - 1` on that is not a line break (after a \r\n, or after empty
    lines, that byte is a line break)."""
    targets = sorted({max(p - 1, 0) for p in positions})
    if file.fmt.encoding == "utf-8":
        found = _place_utf8(file, targets)
    else:
        found = _place_decoded(file, targets, name)
    return [found[max(p - 1, 0)] for p in positions]


class _Cursor:
    """A position in a byte stream, counting the line breaks it passes."""

    def __init__(self, stream: BinaryIO, newline: bytes) -> None:
        self.stream, self.newline = stream, newline
        self.chunk, self.base, self.at, self.breaks = b"", 0, 0, 0
        self.line_start = 0  # where the line holding the cursor starts

    def _more(self) -> bool:
        self.base += len(self.chunk)
        self.chunk, self.at = self.stream.read(CHUNK), 0
        return bool(self.chunk)

    def forward(self, goal: int) -> None:
        while self.base + len(self.chunk) <= goal:
            self._count(len(self.chunk))
            if not self._more():
                return
        self._count(max(goal - self.base, self.at))

    def _count(self, stop: int) -> None:
        found = self.chunk.count(self.newline, self.at, stop)
        if found:
            self.breaks += found
            self.line_start = self.base + self.chunk.rindex(self.newline, self.at, stop) + 1
        self.at = stop

    def past_breaks(self) -> tuple[int, int, bool]:
        """Step over line-break bytes: (line, offset) of the first other byte, and whether
        it starts its line."""
        while True:
            if self.at >= len(self.chunk) and not self._more():
                break
            byte = self.chunk[self.at : self.at + 1]
            if byte not in (b"\n", b"\r"):
                break
            self._count(self.at + 1)
        offset = self.base + self.at
        return self.breaks + 1, offset, offset == self.line_start

    def rest_of_line(self, limit: int) -> str:
        """The text from the cursor to the end of its line, at most `limit` bytes of it
        (without moving the cursor)."""
        stop = self.chunk.find(self.newline, self.at, self.at + limit + 2)
        if stop >= 0:
            line = self.chunk[self.at : stop]
        else:  # rare: the line runs on past this chunk (or past the limit)
            line = self.chunk[self.at : self.at + limit + 2]
            if len(line) < limit + 2:
                more = self.stream.read(limit + 2 - len(line))
                self.chunk += more
                line = (line + more).split(self.newline, 1)[0]
        text = line[: limit + 2].decode("utf-8", errors="replace").removesuffix("\r")
        return text.removeprefix("\ufeff") if self.base + self.at == 0 else text


def _place_utf8(file: CsvFile, targets: list[int]) -> dict[int, tuple[int, int, str | None]]:
    found: dict[int, tuple[int, int, str | None]] = {}
    with open_bytes(file.path, file.fmt.codec) as stream:
        cursor = _Cursor(stream, file.newline.encode())
        for target in targets:
            cursor.forward(target)
            line, offset, starts = cursor.past_breaks()
            text = cursor.rest_of_line(file.fmt.max_line_bytes) if starts else None
            found[target] = (line, offset, text)
    return found


def _place_decoded(
    file: CsvFile, targets: list[int], name: str
) -> dict[int, tuple[int, int, str | None]]:
    """Latin-1 and UTF-16: walk the lines, measuring each as DuckDB's UTF-8 text (a UTF-16
    byte order mark is U+FEFF at the start of line 1, as in DuckDB's text)."""
    found: dict[int, tuple[int, int, str | None]] = {}
    waiting = [(t, t) for t in reversed(targets)]  # (target, where it is looked for), smallest last
    start = 0
    for line in iter_lines(file.path, file.fmt, file.newline, file.fmt.max_line_bytes):
        if not waiting:
            break
        if line.cut:
            raise RereadError(name, f"{file.path.name} line {line.number} is over-long")
        body = body_of(line.text)
        end = start + len(line.text.encode())
        text_end = start + len(body.encode())
        while waiting and waiting[-1][1] < end:
            target, at = waiting.pop()
            if at < text_end:
                text = body.removeprefix("\ufeff") if at == start else None
                found[target] = (line.number, line.offset, text)
            else:  # in this line's terminator, or an empty line: the record starts later
                waiting.append((target, end))
                break
        start = end
    for target, _ in waiting:
        found[target] = (-1, target, None)
    return found
