"""A CSV load as DuckDB reads it, with its header bound by name and every line accounted for.

Each file's header is read first (by the scanner, in the source's dialect) and declared
columns are bound to it by name, so a file may order its columns as it likes; files with
different orders are read as separate groups. DuckDB then reads the files as they are (the
fast way, as fast as DuckDB alone), and afterwards the lines must add up: header + empty
lines + rows + further lines of multi-line records + quarantined lines = lines read.

When they do not, or when DuckDB set aside a record spanning several lines (a quote that
swallowed the lines after it), nothing of that read may be committed: the stream raises
`RereadError`, the source step starts the load again, and this time every file is first
read by the record scanner (csv_scan), which sets aside only the lines that cannot be right
and writes the good records to a staged UTF-8 copy in the workspace; DuckDB reads those
copies, and an index maps each staged record back to its line and byte in the original.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import pyarrow as pa

from weir.core.errors import SourceRefusedError
from weir.engines.split import QUARANTINE_SCHEMA
from weir.ingest.csv_scan import (
    BadLine,
    Blank,
    Record,
    Scanner,
    UnsynchronisableError,
    body_of,
    split_fields,
)
from weir.ingest.csv_text import (
    BadEncodingError,
    CsvFormat,
    Line,
    LineCount,
    count_lines,
    iter_lines,
    newline_of,
)
from weir.ingest.names import check_names, normalise
from weir.project.sources import FileSource

FLUSH = 65_536  # quarantine rows and index entries held before they are written out


class RereadError(SourceRefusedError):
    """DuckDB's read of this load cannot be trusted; nothing of it may be committed, and the
    load is read again through the record scanner."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(source, f"re-reading line by line: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Header:
    names: list[str]  # as written, spaces around them and a UTF-8 BOM removed
    lines: int


@dataclass(frozen=True)
class CsvFile:
    """One file of a load: how to read it, its header, the order in which it holds the
    declared columns, and its lines (counted while it was hashed or, for a compressed or
    UTF-16 file, in a thread while DuckDB reads it)."""

    path: Path
    fmt: CsvFormat
    newline: Literal["\n", "\r"]
    header: Header | None
    order: tuple[str, ...] | None
    counting: Future[LineCount]

    @property
    def count(self) -> LineCount:
        return self.counting.result()


@dataclass(frozen=True)
class CsvGroup:
    """Files DuckDB reads with one read_csv call: same column order, original or staged."""

    files: list[Path]
    order: tuple[str, ...] | None
    staged: bool


def plan_files(
    paths: Sequence[Path],
    name: str,
    source: FileSource,
    counts: Mapping[Path, LineCount],
    counter: Executor,
) -> list[CsvFile]:
    """Read each file's header and bind the declared columns to it; refuses a header that
    is empty, duplicated or not what `columns` declares, naming the file. Files whose lines
    were not counted yet are counted on `counter`."""
    planned = []
    for path in paths:
        fmt = CsvFormat.of(path, source)
        known = counts.get(path)
        if known is not None:
            counting: Future[LineCount] = Future()
            counting.set_result(known)
            newline = known.newline
        else:
            counting = counter.submit(count_lines, path, fmt)
            newline = newline_of(path, fmt)
        header = read_header(path, fmt, newline, name) if fmt.header else None
        order: tuple[str, ...] | None = tuple(source.columns) if source.columns else None
        if header is not None:
            where = f"{path.name} header (line 1)"
            stored = check_names(header.names, source.normalise_names, name, where)
            if source.columns:
                order = bind(header.names, stored, name, source, path)
        planned.append(CsvFile(path, fmt, newline, header, order, counting))
    return planned


def read_header(path: Path, fmt: CsvFormat, newline: Literal["\n", "\r"], name: str) -> Header:
    """The first record of the file, as column names."""
    scanner = Scanner(fmt, newline, fields=None)
    lines = iter_lines(path, fmt, newline, fmt.max_line_bytes)
    try:
        event = scanner.first(lines)
    except BadEncodingError as problem:
        raise encoding_error(name, path, fmt, problem) from None
    finally:
        lines.close()
    if not isinstance(event, Record):
        what = "is empty" if isinstance(event, Blank | None) else f"is broken: {event.message}"
        raise SourceRefusedError(
            name,
            f"{path.name} line 1 {what}; it must hold the header; nothing was committed",
            fix=f"put the column names on the first line, or set sources.{name}.csv.header: false",
        )
    names = split_fields(event.text, fmt)
    names[0] = names[0].removeprefix("\ufeff").strip(" ")
    return Header(names, event.lines)


def bind(
    written: list[str], stored: list[str], name: str, source: FileSource, path: Path
) -> tuple[str, ...]:
    """The declared columns in the order the header holds them, matched by name after
    `normalise_names`; any name missing on either side refuses the load."""
    declared = list(source.columns or {})
    by_name = {normalise(c, source.normalise_names): c for c in declared}
    missing = sorted(c for key, c in by_name.items() if key not in stored)
    unknown = [w for w, s in zip(written, stored, strict=True) if s not in by_name]
    if missing or unknown:
        parts = [f"header: {', '.join(written)}", f"columns: {', '.join(declared)}"]
        parts += [f"missing: {', '.join(missing)}"] if missing else []
        parts += [f"not declared: {', '.join(unknown)}"] if unknown else []
        raise SourceRefusedError(
            name,
            f"{path.name} header does not match sources.{name}.columns ({'; '.join(parts)}); "
            "nothing was committed",
            fix=f"declare the columns as the header names them (compared after normalise_names: "
            f"{source.normalise_names}), or correct the header at the source",
        )
    return tuple(by_name[s] for s in stored)


def groups(files: Sequence[CsvFile], staged: Mapping[Path, Path] | None) -> list[CsvGroup]:
    """Consecutive files with the same column order form one read_csv call."""
    result = []
    for order, members in groupby(files, key=lambda f: f.order or _names(f)):
        paths = [staged[f.path] if staged else f.path for f in members]
        result.append(CsvGroup(paths, order if files[0].order else None, staged is not None))
    return result


def _names(file: CsvFile) -> tuple[str, ...]:
    return tuple(file.header.names) if file.header else ()


def encoding_error(
    name: str, path: Path, fmt: CsvFormat, problem: BadEncodingError
) -> SourceRefusedError:
    return SourceRefusedError(
        name,
        f"{path.name} line {problem.line} (byte {problem.offset}) is not {fmt.encoding} text; "
        "nothing was committed",
        fix=f"declare the file's encoding: sources.{name}.csv.encoding "
        "(utf-8, utf-16 or latin-1), or re-export it as UTF-8",
    )


@dataclass
class Staged:
    """A file as the scanner wrote it for DuckDB: good records only, in UTF-8, with an index
    of (staged byte offset, original line, original byte offset) per record."""

    original: CsvFile
    path: Path
    index_path: Path
    records: int = 0
    blank: int = 0
    continued: int = 0
    lines: int = 0
    rejects: list[pa.Table] = field(default_factory=list)

    def place(self, positions: Sequence[int]) -> list[tuple[int, int, str | None]]:
        """(original line, original byte offset) of the staged records at `positions`."""
        if not self.index_path.stat().st_size:
            return [(-1, -1, None) for _ in positions]
        index = np.memmap(self.index_path, dtype=np.int64, mode="r").reshape(-1, 3)
        return [(int(index[r, 1]), int(index[r, 2]), None) for r in self.rows(positions)]

    def rows(self, positions: Sequence[int]) -> np.ndarray:
        """Staged record numbers (0-based) of DuckDB's `positions` in the staged copy."""
        if not self.index_path.stat().st_size:
            return np.zeros(0, np.int64)
        index = np.memmap(self.index_path, dtype=np.int64, mode="r").reshape(-1, 3)
        starts = np.asarray(positions, dtype=np.int64) - 1  # DuckDB's positions are one past
        return np.asarray(np.searchsorted(index[:, 0], starts, "right") - 1, dtype=np.int64)


def stage(file: CsvFile, target: Path, name: str) -> Staged:
    """Scan `file` into `target` (good records) and quarantine rows (lines set aside)."""
    fields = len(file.header.names) if file.header else len(file.order) if file.order else None
    scanner = Scanner(file.fmt, file.count.newline, fields)  # the whole file's, to be sure
    staged = Staged(file, target, target.with_suffix(".index"))
    lines = iter_lines(file.path, file.fmt, file.count.newline, file.fmt.max_line_bytes)
    try:
        with target.open("wb") as out, staged.index_path.open("wb") as index:
            _Writer(staged, out, index, str(file.path)).write(scanner, lines, file.header)
    except BadEncodingError as problem:
        raise encoding_error(name, file.path, file.fmt, problem) from None
    except UnsynchronisableError as stuck:
        first, line = stuck.first, stuck.line
        raise SourceRefusedError(
            name,
            f"{file.path.name} line {first.number} (byte {first.offset}) starts quoting that "
            f"cannot be resynchronised: each line from there to line {line.number} opens a "
            "quoted field that runs past csv.max_line_bytes, and setting them aside one at a "
            "time would read the file again and again; nothing was committed",
            fix=f"check sources.{name}.csv (quote, escape, delimiter) against the file, "
            "or repair the file's quoting at the source",
        ) from None
    finally:
        lines.close()
    return staged


class _Writer:
    """Writes a scanner's records to the staged copy and its index, and collects the rest."""

    def __init__(self, staged: Staged, out: BinaryIO, index: BinaryIO, file: str) -> None:
        self.staged, self.out, self.index, self.file = staged, out, index, file
        self.offset = 0
        self.entries = array("q")
        self.bad: list[BadLine] = []

    def write(self, scanner: Scanner, lines: Iterator[Line], header: Header | None) -> None:
        if header is not None:
            first = scanner.first(lines)
            assert isinstance(first, Record)  # read_header accepted it
            self._put(first.text)
            self.staged.lines += first.lines
        for event in scanner.events(lines):
            if isinstance(event, Record):
                self.entries.extend((self.offset, event.first.number, event.first.offset))
                self._put(event.text)
                self.staged.records += 1
                self.staged.continued += event.lines - 1
                self.staged.lines += event.lines
            elif isinstance(event, Blank):
                self.staged.blank += 1
                self.staged.lines += 1
            else:
                self.bad.append(event)
                self.staged.lines += event.lines
                self.staged.continued += event.lines - 1
            if len(self.entries) >= 3 * FLUSH or len(self.bad) >= FLUSH:
                self._flush()
        self._flush()

    def _put(self, text: str) -> None:
        data = text.encode() + b"\n"
        self.out.write(data)
        self.offset += len(data)

    def _flush(self) -> None:
        self.entries.tofile(self.index)
        self.entries = array("q")
        if self.bad:
            self.staged.rejects.append(_quarantine(self.file, self.bad))
            self.bad = []


def _quarantine(file: str, bad: list[BadLine]) -> pa.Table:
    return pa.table(
        {
            "file": [file] * len(bad),
            "line": [b.line.number for b in bad],
            "byte_offset": [b.line.offset for b in bad],
            "column_name": [None] * len(bad),
            "error_type": [b.error_type for b in bad],
            "error": [b.message for b in bad],
            "raw": [b.text if b.text is not None else body_of(b.line.text) for b in bad],
            "key": [None] * len(bad),
        },
        schema=QUARANTINE_SCHEMA,
    )
