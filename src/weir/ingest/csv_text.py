"""A CSV file as physical lines: decompressed, decoded, counted and placed exactly.

DuckDB parses CSV fast, but it numbers records rather than lines and places them in its own
UTF-8 transcoding of the decompressed text. Weir promises every physical line of a file is
accounted for, and that a quarantined line is named by its line number and its byte offset
in the file's own encoding (in the decompressed stream for .gz and .zst files). This module
is that ground truth: it counts lines cheaply (bytes.count, in the pass that hashes the
file where it can) and, only when something needs placing, walks the file line by line.

A physical line ends at '\\n' (a '\\r' before it belongs to the terminator); a file with no
'\\n' at all but with '\\r' ends its lines at '\\r', as DuckDB detects them. A last line without
a terminator is a line.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import AnyStr, BinaryIO, Literal, NamedTuple, cast

import numpy as np
import pyarrow as pa

from weir.project.sources import FileSource

CHUNK = 1 << 20
Codec = Literal["gzip", "zstd"] | None


@dataclass(frozen=True)
class CsvFormat:
    """What it takes to read one CSV file's text: the source's dialect and the file's codec."""

    delimiter: str
    quote: str
    escape: str
    encoding: str
    codec: Codec
    header: bool
    max_line_bytes: int
    empty_is_null: bool = True  # '' is a null token: DuckDB reads an empty line as a row of
    # one null when a record has one field (and skips it otherwise)

    @classmethod
    def of(cls, path: Path, source: FileSource) -> CsvFormat:
        options = source.csv
        return cls(
            options.delimiter,
            options.quote,
            options.escape,
            options.encoding,
            codec_of(path, source.compression),
            options.header,
            options.max_line_bytes,
            # columns with their own null tokens: DuckDB is given none (csv_sql.null_tokens)
            "" in options.null_values and not options.column_null_values,
        )


def codec_of(path: Path, compression: str) -> Codec:
    """The codec DuckDB uses for `path`: declared, or from the name when 'auto'."""
    if compression in ("gzip", "zstd"):
        return cast(Codec, compression)
    if compression == "none":
        return None
    # as DuckDB's 'auto' decides: by these two endings only ('x.csv.gzip' is read as it is)
    suffix = path.suffix.lower()
    return "gzip" if suffix == ".gz" else "zstd" if suffix == ".zst" else None


_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}


def compressed_unsaid(path: Path, compression: str) -> str | None:
    """The codec a file read as plain text starts like (gzip, zstd), else None: read as it
    is, it would be refused as undecodable text or malformed JSON, saying nothing of why."""
    if codec_of(path, compression) is not None:
        return None
    with path.open("rb") as handle:
        head = handle.read(4)
    return next((codec for magic, codec in _MAGIC.items() if head.startswith(magic)), None)


def open_bytes(path: Path, codec: Codec) -> BinaryIO:
    """The file's decompressed bytes as a stream (pyarrow's codecs: gzip and zstd)."""
    return cast(BinaryIO, pa.input_stream(str(path), compression=codec))


@dataclass(frozen=True)
class LineCount:
    """Physical lines of a file, the empty ones among them, and the terminator in use."""

    lines: int
    blank: int
    newline: Literal["\n", "\r"]


class _Counter:
    """Counts lines and empty lines over chunks of 8-bit text (UTF-8 or latin-1 bytes), with
    NumPy (several times faster than bytes.count, and this runs on every file observed)."""

    def __init__(self) -> None:
        self.n = self.r = self.blank_n = self.blank_r = 0
        self.first = b""
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if not self.first:
            self.first = chunk[:2]
        joined, held = self.tail + chunk, len(self.tail)  # the tail: patterns across chunks
        data = np.frombuffer(joined, np.uint8)
        newline = data == 10
        self.n += int(np.count_nonzero(newline[held:]))
        # an empty line is a line break right after another (a pair wholly in the tail was
        # counted with the chunk before)
        pairs = newline[1:] & newline[:-1]
        self.blank_n += int(np.count_nonzero(pairs[max(held - 1, 0) :]))
        if b"\r" in joined:
            ret = data == 13
            self.r += int(np.count_nonzero(ret[held:]))
            self.blank_n += int(np.count_nonzero(newline[2:] & ret[1:-1] & newline[:-2]))
            self.blank_r += int(np.count_nonzero((ret[1:] & ret[:-1])[max(held - 1, 0) :]))
        self.tail = joined[-2:]

    def result(self) -> LineCount:
        if not self.first:
            return LineCount(0, 0, "\n")
        if self.n or not self.r:
            starts_blank = self.first[:1] == b"\n" or self.first == b"\r\n"
            last = 0 if self.tail.endswith(b"\n") else 1
            return LineCount(self.n + last, self.blank_n + starts_blank, "\n")
        last = 0 if self.tail.endswith(b"\r") else 1
        return LineCount(self.r + last, self.blank_r + (self.first[:1] == b"\r"), "\r")


def hash_and_count(path: Path, count: bool) -> tuple[str, LineCount | None]:
    """SHA-256 of the file and, for plain 8-bit text, its lines, in one read."""
    digest = hashlib.sha256()
    counter = _Counter()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if count:
                counter.feed(chunk)
    return digest.hexdigest(), counter.result() if count else None


def count_lines(path: Path, fmt: CsvFormat) -> LineCount:
    """Lines of the decompressed text; UTF-16 is transcoded to UTF-8 to be counted."""
    counter = _Counter()
    for chunk in _utf8_chunks(path, fmt):
        counter.feed(chunk)
    return counter.result()


def newline_of(path: Path, fmt: CsvFormat) -> Literal["\n", "\r"]:
    """The line terminator, from the start of the file (to read its header before its lines
    are counted; the count decides from the whole file, and a disagreement is caught)."""
    head = next(_utf8_chunks(path, fmt), b"")
    return "\r" if b"\r" in head and b"\n" not in head else "\n"


def _utf8_chunks(path: Path, fmt: CsvFormat) -> Iterator[bytes]:
    with open_bytes(path, fmt.codec) as stream:
        if fmt.encoding != "utf-16":
            while chunk := stream.read(CHUNK):
                yield chunk
            return
        decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")
        while chunk := stream.read(CHUNK):
            yield decoder.decode(chunk).encode()
        yield decoder.decode(b"", final=True).encode()


class Line(NamedTuple):
    """One physical line: where it starts (original bytes) and its text with terminator.
    (A named tuple: a scan makes one per line, and tuples are the cheapest to make.)"""

    number: int  # 1-based
    offset: int  # byte offset in the decompressed file, in its own encoding
    text: str  # decoded; ends with its terminator unless it is the last line (or `cut`)
    size: int  # bytes in the file, terminator included
    cut: bool = False  # longer than the limit: `text` holds only its start


class BadEncodingError(Exception):
    """Bytes that are not text in the declared encoding, placed by line and byte."""

    def __init__(self, line: int, offset: int) -> None:
        super().__init__(f"line {line} (byte {offset})")
        self.line = line
        self.offset = offset


def iter_lines(
    path: Path, fmt: CsvFormat, newline: Literal["\n", "\r"], limit: int
) -> Generator[Line, None, None]:
    """Every physical line of `path`, in order. A line longer than `limit` is given `cut`,
    with only its start kept, so memory stays bounded whatever the file holds."""
    if fmt.encoding == "utf-16":
        yield from _utf16_lines(path, fmt, newline, limit)
        return
    number, offset = 0, 0
    with open_bytes(path, fmt.codec) as stream:
        for raw, size, cut in _split(_chunks(stream), newline.encode(), limit, len):
            number += 1
            try:
                text = raw.decode(fmt.encoding, errors="replace" if cut else "strict")
            except UnicodeDecodeError as exc:
                raise BadEncodingError(number, offset + exc.start) from None
            yield Line(number, offset, text, size, cut)
            offset += size


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def _split(
    chunks: Iterable[AnyStr], newline: AnyStr, limit: int, measure: Callable[[AnyStr], int]
) -> Iterator[tuple[AnyStr, int, bool]]:
    """(text, size, cut) for each line of a stream of chunks split after `newline`; `size`
    is measured in the file's bytes, and a line's text is kept only up to `limit` (+2 for
    its terminator)."""
    held: list[AnyStr] = []  # the start of a line that runs on into the next chunk
    size, cut = 0, False
    keep = limit + 2
    for chunk in chunks:
        parts = chunk.split(newline)
        tail = parts.pop()
        for part in parts:
            piece = part + newline
            if held:
                held.append(piece)
                piece = piece[:0].join(held)
                size, held = size + measure(held[-1]), []
            else:
                size = measure(piece)
            if cut or len(piece) > keep:
                yield piece[:limit], size, True
            else:
                yield piece, size, False
            size, cut = 0, False
        if tail:
            size += measure(tail)
            if not cut:
                held.append(tail)
                if sum(len(h) for h in held) > keep:
                    held, cut = [tail[:0].join(held)[:limit]], True
    if size:
        yield (newline[:0].join(held)[:limit] if cut else newline[:0].join(held)), size, cut


def _utf16_lines(
    path: Path, fmt: CsvFormat, newline: Literal["\n", "\r"], limit: int
) -> Iterator[Line]:
    """UTF-16 lines: decoded first (a newline is two bytes), sizes counted in UTF-16 units.
    A byte order mark stays at the start of line 1, as DuckDB keeps it (as U+FEFF)."""
    with open_bytes(path, fmt.codec) as stream:
        head = stream.read(2)
        unit = "utf-16-be" if head == codecs.BOM_UTF16_BE else "utf-16-le"
        decoder = codecs.getincrementaldecoder(unit)()
        texts = (decoder.decode(chunk) for chunk in _prepend(head, _chunks(stream)))
        offset = 0
        pieces = _split(texts, newline, limit, lambda s: len(s.encode(unit)))
        for number, (text, size, cut) in enumerate(pieces, start=1):
            yield Line(number, offset, text, size, cut)
            offset += size


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


def undecodable_at(path: Path, fmt: CsvFormat, line_offset: int) -> int:
    """The offset of the first byte that is not text in `fmt.encoding`, in the line that
    starts at `line_offset` (the line's offset when none is found there)."""
    with open_bytes(path, fmt.codec) as stream:
        stream.read(line_offset)
        line = stream.read(fmt.max_line_bytes + 2).split(b"\n", 1)[0]
    try:
        line.decode(fmt.encoding)
    except UnicodeDecodeError as exc:
        return line_offset + exc.start
    return line_offset
