"""JSON and NDJSON files as DuckDB reads them, and what Weir does around it: copies without
a byte order mark (which DuckDB refuses), the files' own names and lines in DuckDB's
messages, and NaN or Infinity found inside objects and lists."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from weir.engines.duckdb import DuckDBEngine
from weir.engines.split import FILE_COLUMN
from weir.ingest.csv_text import codec_of, open_bytes
from weir.project.sources import FileSource


def said(exc: Exception, originals: Mapping[str, str] | None = None) -> str:
    """DuckDB's message without its advice to set reader options ('ignore_errors', 'try
    auto-detecting'), which are not Weir's to set and would hide bad records, and without
    the excerpt of Weir's own query ('LINE 1: DESCRIBE SELECT ...' and its caret line)."""
    kept = []
    for line in str(exc).splitlines():
        text = line.strip()
        if text.startswith("LINE "):
            break  # the query excerpt; the caret line follows it
        if text.startswith("Try setting") or "information is approximate" in text:
            continue
        kept.append(text.removesuffix(" Try auto-detecting the JSON format"))
    message = _json_line(" ".join(t for t in kept if t))
    for copy, original in (originals or {}).items():  # a staged copy is named as its file
        message = message.replace(copy, original)
    return message


_MALFORMED = re.compile(
    r'Malformed JSON in file "(?P<path>[^"]+)", at byte \d+ in line (?P<line>\d+)'
)


def _json_line(said: str) -> str:
    """DuckDB names the line after a malformed NDJSON line ('line 3' for line 2): the line
    is checked in the file and named as it is."""
    found = _MALFORMED.search(said)
    if found is None:
        return said
    path, named = Path(found.group("path")), int(found.group("line"))
    try:
        lines = _lines_at(path, (named - 1, named))
    except OSError:
        return said
    for number in (named - 1, named):
        if number in lines and not _parses(lines[number]):
            start, end = found.span("line")
            return said[:start] + str(number) + said[end:]
    return said


def _lines_at(path: Path, numbers: tuple[int, ...]) -> dict[int, bytes]:
    """The lines of `path` (decompressed) with these numbers, counting from 1."""
    found: dict[int, bytes] = {}
    number, rest = 0, b""
    with open_bytes(path, codec_of(path, "auto")) as handle:
        while number < max(numbers):
            chunk = handle.read(1 << 20)
            if not chunk:
                break
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            for part in parts:
                number += 1
                if number in numbers:
                    found[number] = part
    if rest and number + 1 in numbers:
        found[number + 1] = rest
    return found


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return not line.strip()  # an empty line is skipped, not malformed
    return True


@dataclass
class Staged:
    """The JSON files DuckDB reads: the source's, or copies without a byte order mark."""

    files: list[Path]
    compression: str
    originals: dict[str, str] = field(default_factory=dict)  # copy -> file
    marked: int = 0  # files that began with a byte order mark


_BOM = b"\xef\xbb\xbf"


def without_bom(
    files: list[Path], source: FileSource, stack: ExitStack, engine: DuckDBEngine
) -> Staged:
    """DuckDB refuses JSON that starts with a UTF-8 byte order mark, which Windows tools
    write; it is removed (counted), in a copy of each such file in the workspace's tmp/.
    The other files are read where they are, DuckDB finding each one's codec from its name
    (compression 'auto'); one whose declared codec that would miss is copied too."""
    if source.format == "parquet":
        return Staged(files, source.compression)
    marks = []
    for path in files:
        with open_bytes(path, codec_of(path, source.compression)) as handle:
            marks.append(handle.read(3) == _BOM)
    if not any(marks):
        return Staged(files, source.compression)
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=engine.scratch())))
    staged = Staged([], "auto", marked=sum(marks))
    for index, (path, marked) in enumerate(zip(files, marks, strict=True)):
        codec = codec_of(path, source.compression)
        if not marked and codec == codec_of(path, "auto"):
            staged.files.append(path)
            continue
        copy = folder / f"{index}.json"
        with open_bytes(path, codec) as handle, copy.open("wb") as out:
            head = handle.read(3)
            out.write(b"" if head == _BOM else head)
            shutil.copyfileobj(handle, out, 1 << 20)
        staged.files.append(copy)
        staged.originals[str(copy)] = str(path)
    return staged


def original_files(batch: pa.RecordBatch, originals: dict[str, str]) -> pa.RecordBatch:
    """`batch` with each staged copy's name replaced by its file's."""
    if not originals or FILE_COLUMN not in batch.schema.names:
        return batch
    index = batch.schema.get_field_index(FILE_COLUMN)
    files = batch.column(index)
    found = pc.index_in(files, value_set=pa.array(list(originals)))
    named = pc.coalesce(pc.take(pa.array(list(originals.values())), found), files)
    return batch.set_column(index, batch.schema.field(index), named)


def has_floats(kind: pa.DataType) -> bool:
    if pa.types.is_floating(kind):
        return True
    if pa.types.is_struct(kind):
        return any(has_floats(f.type) for f in kind)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return has_floats(kind.value_type)
    return False


def finite_or_null(column: pa.Array) -> tuple[pa.Array, pa.Array, int]:
    """`column` with every NaN and infinity (nested ones too) made null, which rows held
    one, and how many there were."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_floating(kind):
        bad = pc.and_(pc.invert(pc.fill_null(pc.is_finite(column), True)), pc.is_valid(column))
        count = pc.sum(bad).as_py() or 0
        return pc.if_else(bad, pa.nulls(len(column), kind), column), bad, count
    none = pa.array([False] * len(column))
    if isinstance(column, pa.StructArray):
        children, bad, count = [], none, 0
        for child in column.flatten():
            fixed, child_bad, child_count = finite_or_null(child)
            children.append(fixed)
            bad, count = pc.or_(bad, child_bad), count + child_count
        if not count:
            return column, none, 0
        rebuilt = pa.StructArray.from_arrays(children, fields=list(kind), mask=column.is_null())
        return rebuilt, bad, count
    if isinstance(column, pa.ListArray | pa.LargeListArray) and has_floats(kind):
        values, value_bad, count = finite_or_null(column.flatten())
        if not count:
            return column, none, 0
        rows = pc.list_parent_indices(column).filter(value_bad)
        bad = pc.is_in(pa.array(range(len(column)), pa.int64()), rows.cast(pa.int64()))
        offsets = pc.subtract(column.offsets, column.offsets[0])
        rebuilt = type(column).from_arrays(offsets, values, mask=column.is_null())
        return rebuilt.cast(kind), bad, count
    return column, none, 0
