"""Where a CSV row set aside after parsing was in its file: its line, byte and text.

DuckDB gives a row it parsed no position, so a row that Weir's typing sets aside (a '2.1'
in an integer column, an ambiguous local time) is known only as the N-th row DuckDB read
from its file. That is enough to place it exactly:

- careful read: DuckDB read the scanner's staged copy, whose index holds each record's line
  and byte in the original; the N-th row is the N-th staged record DuckDB did not set aside.
- fast read, once its lines add up: the rows DuckDB read from the file before the N-th used
  as many physical lines as there are rows plus line breaks inside their values (counted as
  they stream); the lines no row used are known too (the header, DuckDB's own rejects,
  empty lines), so the N-th row starts on the first line after all of them. One pass over
  the file finds that line's byte offset, another its text. Where that cannot be told (empty
  lines inside values as well as between records), or the text found is not a record with
  the file's fields, the load is read carefully instead (`RereadError`).

While the rows stream, `RowPlaces.observe` costs one comparison per batch; the work is done
only for batches that hold rows set aside, and for the files they are in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.engines.split import (
    FILE_COLUMN,
    QUARANTINE_SCHEMA,
    RAW_COLUMN,
    REJECT_COLUMN,
    is_helper,
)
from weir.ingest.csv_files import CsvFile, RereadError, Staged
from weir.ingest.csv_scan import body_of, split_fields
from weir.ingest.csv_text import CHUNK, iter_lines, open_bytes

_RECORD = re.compile(r"record ([0-9]+)")


@dataclass(frozen=True)
class _Pending:
    """A row set aside, as the stream knew it: the `ordinal`-th row read from `file`, after
    rows that used `used` physical lines; `breaks` line breaks inside its own values."""

    file: str
    ordinal: int
    used: int
    breaks: int


@dataclass(frozen=True)
class Place:
    file: str  # the original file
    line: int
    byte_offset: int
    text: str  # the record as written (its lines, without the last terminator)


class RowPlaces:
    """Rows read per file, the lines they used, and the rows set aside among them."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.used: dict[str, int] = {}
        self.pending: list[_Pending] = []

    def observe(self, batch: pa.RecordBatch, breaks: int) -> None:
        """Count a batch as DuckDB gave it (rows set aside still in it, marked by a reason);
        `breaks` is the line breaks inside its values, counted by the line account."""
        if batch.num_rows == 0:
            return
        files = batch.column(FILE_COLUMN)
        names = batch.schema.names
        marked = REJECT_COLUMN in names and batch.column(REJECT_COLUMN).null_count < len(batch)
        first, last = files[0].as_py(), files[-1].as_py()
        if not marked and first == last:  # most batches
            self.rows[first] = self.rows.get(first, 0) + batch.num_rows
            self.used[first] = self.used.get(first, 0) + batch.num_rows + breaks
            return
        per_row = row_breaks(batch)
        codes = pc.dictionary_encode(files)
        index = np.asarray(codes.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        bad = (
            np.asarray(pc.is_valid(batch.column(REJECT_COLUMN)).to_numpy(zero_copy_only=False))
            if marked
            else np.zeros(batch.num_rows, bool)
        )
        for code, value in enumerate(codes.dictionary.to_pylist()):
            name, mine = str(value), index == code
            rows = np.cumsum(mine)
            lines = np.cumsum(np.where(mine, per_row + 1, 0))
            before_rows, before_used = self.rows.get(name, 0), self.used.get(name, 0)
            for row in np.flatnonzero(mine & bad):
                self.pending.append(
                    _Pending(
                        name,
                        before_rows + int(rows[row]),
                        before_used + int(lines[row]) - int(per_row[row]) - 1,
                        int(per_row[row]),
                    )
                )
            self.rows[name] = before_rows + int(rows[-1])
            self.used[name] = before_used + int(lines[-1])

    def resolve(
        self,
        source: str,
        originals: Sequence[CsvFile],
        staged: Sequence[Staged],
        rejected: dict[str, list[int]],
        ambiguous_blanks: bool,
    ) -> dict[tuple[str, int], Place]:
        """The place of every row set aside, by (file as read, ordinal). `rejected` holds,
        for each file DuckDB read, its own rejects: physical lines of an original file,
        staged record numbers (0-based) of a staged copy."""
        found: dict[tuple[str, int], Place] = {}
        by_file: dict[str, list[_Pending]] = {}
        for pending in self.pending:
            by_file.setdefault(pending.file, []).append(pending)
        copies = {str(s.path): s for s in staged}
        plain = {str(f.path): f for f in originals}
        for name, mine in by_file.items():
            if name in copies:
                places = _in_staged(copies[name], mine, rejected.get(name, []))
            else:
                places = _in_original(
                    source, plain[name], mine, rejected.get(name, []), ambiguous_blanks
                )
            found.update({(name, p.ordinal): place for p, place in zip(mine, places, strict=True)})
        return found


def row_breaks(batch: pa.RecordBatch) -> np.ndarray:
    """Line breaks inside each row's values, as the line account counts them: in the
    row's text as read when it has one (a row set aside), else in its string values."""
    names = batch.schema.names
    raw = batch.column(RAW_COLUMN) if RAW_COLUMN in names else None
    has_raw = None if raw is None else np.asarray(pc.is_valid(raw).to_numpy(zero_copy_only=False))
    total = np.zeros(batch.num_rows, np.int64)
    for name, column in zip(names, batch.columns, strict=True):
        kind = column.type
        if is_helper(name) or not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            continue
        counted = _breaks(column)
        total += counted if has_raw is None else np.where(has_raw, 0, counted)
    if raw is not None:
        total += _breaks(raw)
    return total


def _breaks(values: pa.Array) -> np.ndarray:
    """\\n, \\r\\n and a lone \\r are one line break each."""
    count = pc.subtract(
        pc.add(pc.count_substring(values, "\n"), pc.count_substring(values, "\r")),
        pc.count_substring(values, "\r\n"),
    )
    return np.asarray(pc.fill_null(count, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _nth_unused(skipped: Iterable[int], wanted: Sequence[int]) -> np.ndarray:
    """For each m in `wanted`, the m-th positive number not in `skipped`."""
    skip = np.unique(np.asarray(list(skipped), dtype=np.int64))
    shifted = skip - np.arange(len(skip))
    goal = np.asarray(wanted, dtype=np.int64)
    return goal + np.searchsorted(shifted, goal, side="right")


def _in_staged(copy: Staged, rows: list[_Pending], rejected: list[int]) -> list[Place]:
    """Staged record numbers (DuckDB's own rejects skipped) through the copy's index."""
    records = _nth_unused([r + 1 for r in rejected], [p.ordinal for p in rows]) - 1
    index = np.memmap(copy.index_path, dtype=np.int64, mode="r").reshape(-1, 3)
    size = copy.path.stat().st_size
    spans = []
    for record in records:
        end = int(index[record + 1, 0]) if record + 1 < len(index) else size
        spans.append((int(index[record, 0]), end))
    texts = _slices(copy.path, None, spans, "utf-8")
    original = str(copy.original.path)
    return [
        Place(original, int(index[r, 1]), int(index[r, 2]), body_of(t))
        for r, t in zip(records, texts, strict=True)
    ]


def _in_original(
    source: str, file: CsvFile, rows: list[_Pending], rejected: list[int], ambiguous_blanks: bool
) -> list[Place]:
    """Lines of an original file: the header, DuckDB's rejects and empty lines are the
    lines no row used; see the module doc."""
    fields = len(file.header.names) if file.header else len(file.order or ())
    skipped = list(range(1, (file.header.lines if file.header else 0) + 1)) + rejected
    rows_of_one_null = fields == 1 and file.fmt.empty_is_null  # an empty line is a row
    if file.count.blank and not rows_of_one_null:
        if ambiguous_blanks:
            raise RereadError(
                source,
                f"{file.path.name}: rows set aside need their lines, and empty lines inside "
                "values hide which empty lines are between records",
            )
        skipped += _empty_lines(file)
    firsts = _nth_unused(skipped, [p.used + 1 for p in rows])
    lasts = [int(f) + p.breaks for f, p in zip(firsts, rows, strict=True)]
    if file.fmt.encoding == "utf-16":
        spans = _utf16_spans(file, list(zip(firsts.tolist(), lasts, strict=True)))
    else:
        starts = _line_starts(file, sorted({*firsts.tolist(), *(n + 1 for n in lasts)}))
        spans = [(starts[int(f)], starts[n + 1]) for f, n in zip(firsts, lasts, strict=True)]
    texts = [body_of(t) for t in _slices(file.path, file, spans, file.fmt.encoding)]
    for first, text in zip(firsts, texts, strict=True):
        if fields and len(split_fields(text, file.fmt) or [""]) != fields:
            raise RereadError(
                source, f"{file.path.name} line {first}: a row set aside was not found there"
            )
    return [
        Place(str(file.path), int(f), span[0], t)
        for f, span, t in zip(firsts, spans, texts, strict=True)
    ]


def _empty_lines(file: CsvFile) -> list[int]:
    """Numbers of the file's empty lines, as the line count counts them: a line break right
    after another (`\r\n` after `\n` too), or at the start of the file."""
    if file.fmt.encoding == "utf-16":  # rare: read line by line
        alone = ("\r",) if file.count.newline == "\r" else ("\n", "\r\n")
        lines = iter_lines(file.path, file.fmt, file.count.newline, file.fmt.max_line_bytes)
        try:
            return [line.number for line in lines if line.text in alone]
        finally:
            lines.close()
    newline = ord(file.count.newline)
    found: list[int] = []
    seen, last, base, before = 0, -1, 0, b""  # newlines so far, the last one, chunk offset
    with open_bytes(file.path, file.fmt.codec) as stream:
        while chunk := stream.read(CHUNK):
            data = np.frombuffer(before + chunk, np.uint8)  # `before`: the last byte seen
            ends = np.flatnonzero(data == newline) - len(before) + base
            ends = ends[ends >= base]
            previous = np.concatenate(([last], ends[:-1]))
            gap = ends - previous
            empty = gap == 1
            if newline == 10:  # '\r\n' right after a line break is an empty line too
                at = previous + 1 - base + len(before)
                crlf = (gap == 2) & (at >= 0)
                crlf[crlf] = data[at[crlf]] == 13
                empty |= crlf
            found += (seen + 1 + np.flatnonzero(empty)).tolist()
            if len(ends):
                seen, last = seen + len(ends), int(ends[-1])
            base, before = base + len(chunk), chunk[-1:]
    return found


def _line_starts(file: CsvFile, numbers: list[int]) -> dict[int, int]:
    """Byte offset of the start of each line in `numbers` (sorted, 1-based) of an 8-bit
    encoded file; a number past the last line gives the end of the file."""
    newline = ord(file.count.newline)
    found: dict[int, int] = {}
    wanted = np.asarray(numbers, dtype=np.int64)
    at, seen, base = 0, 0, 0  # next wanted, newlines before this chunk, its offset
    while at < len(wanted) and wanted[at] == 1:
        found[1], at = 0, at + 1
    with open_bytes(file.path, file.fmt.codec) as stream:
        while at < len(wanted) and (chunk := stream.read(CHUNK)):
            ends = np.flatnonzero(np.frombuffer(chunk, np.uint8) == newline)
            # line n starts after newline n - 1
            stop = np.searchsorted(wanted, seen + len(ends) + 1, side="right")
            for number in wanted[at:stop]:
                found[int(number)] = base + int(ends[number - 2 - seen]) + 1
            at = max(at, int(stop))
            seen, base = seen + len(ends), base + len(chunk)
    for number in wanted[at:]:
        found[int(number)] = base
    return found


def _utf16_spans(file: CsvFile, wanted: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(start, end) bytes of each span of lines (first, last) of a UTF-16 file."""
    edges = {n for first, last in wanted for n in (first, last + 1)}
    found: dict[int, int] = {}
    end = 0
    lines = iter_lines(file.path, file.fmt, file.count.newline, file.fmt.max_line_bytes)
    try:
        for line in lines:
            if line.number in edges:
                found[line.number] = line.offset
            end = line.offset + line.size
            if len(found) == len(edges):
                break
    finally:
        lines.close()
    return [(found.get(first, end), found.get(last + 1, end)) for first, last in wanted]


def _slices(
    path: Path, file: CsvFile | None, spans: list[tuple[int, int]], encoding: str
) -> list[str]:
    """The text of each byte span of a file (decompressed), read in one pass."""
    order = sorted(range(len(spans)), key=lambda i: spans[i][0])
    texts = [""] * len(spans)
    codec = None if file is None else file.fmt.codec
    with open_bytes(path, codec) as stream:
        at = 0
        for i in order:
            start, end = spans[i]
            while at < start:  # skipped in chunks: memory stays bounded
                at += len(stream.read(min(CHUNK, start - at))) or start - at
            data = stream.read(end - start)
            at = end
            text = data.decode(encoding, errors="replace")
            texts[i] = text.removeprefix("\ufeff") if start == 0 else text
    return texts


def placed(tables: list[pa.Table], places: dict[tuple[str, int], Place]) -> list[pa.Table]:
    """`tables` (rows set aside after parsing) with each row's file, line, byte and text."""
    result = []
    for table in tables:
        if table.num_rows == 0 or not places:
            result.append(table)
            continue
        rows = table.to_pylist()
        for row in rows:
            match = _RECORD.fullmatch(row["key"] or "")
            place = places.get((row["file"], int(match.group(1)))) if match else None
            if place is not None:
                row |= {
                    "file": place.file,
                    "line": place.line,
                    "byte_offset": place.byte_offset,
                    "raw": place.text,
                    "key": None,
                }
        result.append(pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA))
    return result
