"""Rows that Weir's typing sets aside in a CSV are placed like DuckDB's own rejects: the
physical line and byte where their record starts, and its text as written. DuckDB gives a
parsed row no position, so the place is derived (csv_rows); these tests hold it to the truth
of files built line by line, on the fast read and on the careful one."""

from __future__ import annotations

import gzip
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weir.core.errors import SourceRefusedError
from weir.engines import DuckDBEngine
from weir.ingest import RereadError, csv_rows, read_files
from weir.ingest.csv_files import CsvFile
from weir.ingest.csv_text import CsvFormat, LineCount, count_lines, iter_lines
from weir.project.sources import FileSource

ENGINE = DuckDBEngine(threads=2)
COLUMNS = {"id": "int64", "flag": "bool", "note": "string", "n": "int64"}


class Built:
    """A CSV file written record by record, remembering where each record starts."""

    def __init__(self, newline: str = "\n", header: str = "id,flag,note,n") -> None:
        self.newline = newline
        self.parts = [header + newline]
        self.line, self.size = 2, len(self.parts[0].encode())  # where the next record starts
        self.places: dict[int, tuple[int, int, str]] = {}  # id -> (line, byte, text)

    def add(self, record: str, row_id: int | None = None) -> None:
        if row_id is not None:
            self.places[row_id] = (self.line, self.size, record)
        written = record + self.newline
        self.parts.append(written)
        self.line += written.count("\n") or written.count("\r")
        self.size += len(written.encode())

    @property
    def text(self) -> str:
        return "".join(self.parts)


def load(
    root: Path, text: bytes | str, careful: bool = False, **source: Any
) -> list[dict[str, Any]]:
    name = source.pop("path", "in.csv")
    data = text.encode() if isinstance(text, str) else text
    (root / name).write_bytes(data)
    settings = {"columns": COLUMNS, **source}
    config = FileSource(format="csv", path=name, **settings)
    with read_files(ENGINE, root, "s", config, careful=careful, scratch=root / "scratch") as read:
        try:
            read.batches.read_all()
        except Exception:
            if read.failure is None:
                raise
            raise read.failure from None
        rejects = read.rejects().to_pylist()
    return [r for r in rejects if r["error_type"] == "CAST" and r["column_name"] == "n"]


def loaded(root: Path, text: bytes | str, **source: Any) -> list[dict[str, Any]]:
    """As the source step loads: fast, and carefully when the fast read is not trusted."""
    try:
        return load(root, text, **source)
    except RereadError:
        return load(root, text, careful=True, **dict(source))


def places(rejects: list[dict[str, Any]]) -> dict[int, tuple[int, int, str]]:
    return {int(r["raw"].split(",")[0]): (r["line"], r["byte_offset"], r["raw"]) for r in rejects}


NOTES = st.sampled_from(
    ["a", "", '"b, c"', '"x""y"', '"two\nlines"', '"crlf\r\nin it"', '"\n\nblank"']
)
KINDS = st.sampled_from(["row", "row", "row", "typing", "cast", "short", "blank"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(KINDS, NOTES), min_size=1, max_size=25),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_rows_set_aside_by_typing_are_placed_at_their_record(
    tmp_path_factory: pytest.TempPathFactory,
    records: list[tuple[str, str]],
    newline: str,
    bad_quote_last: bool,
) -> None:
    """Clean rows, type breaks (n = 2.1), DuckDB's own rejects (a bool it cannot cast, too
    few fields), empty lines and values over several lines, in any order; an unterminated
    quote at the end sends the load to the careful read."""
    built = Built(newline)
    built.add("0,true,kept,0")  # a load with no row left is refused, not placed
    for row_id, (kind, note) in enumerate(records, start=1):
        if kind == "blank":
            built.add("")
        elif kind == "short":
            built.add(f"{row_id},true")
        else:
            flag = "maybe" if kind == "cast" else "true"
            n = "2.1" if kind == "typing" else str(row_id)
            built.add(f"{row_id},{flag},{note},{n}", row_id if kind == "typing" else None)
    if bad_quote_last:
        built.add('999,true,"never closed,1')
    root = tmp_path_factory.mktemp("rows")
    assert places(loaded(root, built.text)) == built.places


def test_rows_across_batches_and_threads_are_placed(tmp_path: Path) -> None:
    """More rows than one Arrow batch, read by several DuckDB threads: the N-th row of a
    file is still the N-th record, and the lines before it are counted batch by batch."""
    built = Built()
    for i in range(1, 300_001):
        if i % 50_000 == 7:
            built.add(f"{i},true,x,2.1", i)
        elif i % 40_000 == 3:
            built.add(f'{i},true,"two\nlines",{i}')
        elif i % 70_000 == 11:
            built.add(f"{i},maybe,x,{i}")
        else:
            built.add(f"{i},true,x,{i}")
    assert places(loaded(tmp_path, built.text)) == built.places


def test_files_of_a_glob_in_different_orders_are_placed_each_in_its_own(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    first, second = Built(), Built(header="n,note,flag,id")
    first.add("1,true,a,1")
    first.add('2,true,"b\nc",2.1', 2)
    second.add("3,x,true,3")
    second.add("2.1,y,maybe,4")  # DuckDB's own reject
    second.add("2.1,z,true,5", 5)
    (tmp_path / "in" / "a.csv").write_text(first.text)
    (tmp_path / "in" / "b.csv").write_text(second.text)
    source = FileSource(format="csv", path="in/*.csv", columns=COLUMNS)
    with read_files(ENGINE, tmp_path, "s", source) as read:
        read.batches.read_all()
        rejects = [r for r in read.rejects().to_pylist() if r["column_name"] == "n"]
    found = {(Path(r["file"]).name, r["line"], r["byte_offset"], r["raw"]) for r in rejects}
    assert found == {
        ("a.csv", *first.places[2]),
        ("b.csv", 4, second.places[5][1], "2.1,z,true,5"),
    }


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_byte_offsets_are_in_the_files_own_encoding(tmp_path: Path, encoding: str) -> None:
    built = Built()
    built.add("1,true,café,1")
    built.add("2,true,é,2.1", 2)
    data = built.text.encode(encoding)
    [reject] = load(tmp_path, data, csv={"encoding": encoding})
    prefix = built.text[: built.text.index("2,true,é")]
    start = len(prefix.encode(encoding))  # with UTF-16's byte order mark, as in the file
    assert (reject["line"], reject["byte_offset"], reject["raw"]) == (3, start, "2,true,é,2.1")


def test_compressed_files_are_placed_in_their_decompressed_text(tmp_path: Path) -> None:
    built = Built()
    built.add("1,true,a,1")
    built.add("2,true,b,2.1", 2)
    rejects = load(tmp_path, gzip.compress(built.text.encode()), path="in.csv.gz")
    assert places(rejects) == built.places


def test_carriage_return_files_are_placed(tmp_path: Path) -> None:
    built = Built("\r")
    built.add("1,true,a,1")
    built.add("2,true,b,2.1")
    text = built.text
    [reject] = load(tmp_path, text)
    assert (reject["line"], reject["byte_offset"]) == (3, text.index("2,true,b"))


def test_empty_lines_inside_values_and_between_records_are_read_carefully(
    tmp_path: Path,
) -> None:
    """An empty line inside a value and one between records look alike to a line count:
    the fast read cannot tell where a row set aside starts, so the careful one places it."""
    built = Built()
    built.add('1,true,"a\n\nb",1')
    built.add("")
    built.add("2,true,c,2.1", 2)
    with pytest.raises(RereadError, match="empty lines inside values"):
        load(tmp_path, built.text)
    assert places(load(tmp_path, built.text, careful=True)) == built.places


def test_a_row_set_aside_in_a_one_column_file_with_empty_lines(tmp_path: Path) -> None:
    """One column with '' as null: an empty line is a row (null), not an empty line."""
    text = "n\n1\n\n2.1\n3\n"
    source = FileSource(format="csv", path="one.csv", columns={"n": "int64"})
    (tmp_path / "one.csv").write_text(text)
    with read_files(ENGINE, tmp_path, "s", source) as read:
        assert read.batches.read_all().column("n").to_pylist() == [1, None, 3]
        [reject] = read.rejects().to_pylist()
    assert (reject["line"], reject["byte_offset"], reject["raw"]) == (4, 5, "2.1")


def test_every_row_of_a_load_set_aside_still_refuses_it_naming_the_reason(
    tmp_path: Path,
) -> None:
    (tmp_path / "in.csv").write_text("id,flag,note,n\n1,true,a,2.1\n")
    source = FileSource(format="csv", path="in.csv", columns=COLUMNS)
    with (
        pytest.raises(SourceRefusedError, match="all 1 were set aside") as refused,
        read_files(ENGINE, tmp_path, "s", source) as read,
    ):
        read.batches.read_all()
    # the place, column and kind; never the value (it may be PII, and the error is stored)
    assert "in.csv line 2, column n: a value that could not be read as" in str(refused.value)
    assert "2.1" not in str(refused.value)


def csv_file(path: Path) -> CsvFile:
    fmt = CsvFormat.of(path, FileSource(format="csv", path=path.name))
    counting: Future[LineCount] = Future()
    counting.set_result(count_lines(path, fmt))
    return CsvFile(path, fmt, counting.result().newline, None, None, counting)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from(["", "a", "bc", "\r", "d\re"]), max_size=12),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.booleans(),
    st.integers(1, 4),
)
def test_empty_lines_and_line_starts_are_found_across_chunks(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[str],
    newline: str,
    last_newline: bool,
    chunk: int,
) -> None:
    """The NumPy passes agree with the file's lines read one by one, whatever the chunk
    boundaries (tiny chunks here)."""
    if newline == "\r":
        lines = [line.replace("\r", "") for line in lines]
    text = newline.join(lines) + (newline if last_newline and lines else "")
    path = tmp_path_factory.mktemp("lines") / "in.csv"
    path.write_bytes(text.encode())
    file = csv_file(path)
    truth = list(iter_lines(path, file.fmt, file.count.newline, 1 << 20))
    ends = ("\r",) if file.count.newline == "\r" else ("\n", "\r\n")  # as lines are counted
    empty = [line.number for line in truth if line.text in ends]
    starts = {line.number: line.offset for line in truth}
    wanted = list(range(1, len(truth) + 3))
    with patch.object(csv_rows, "CHUNK", chunk):
        assert csv_rows._empty_lines(file) == empty
        found = csv_rows._line_starts(file, wanted)
    assert found == {n: starts.get(n, len(text.encode())) for n in wanted}


def test_a_utf16_file_with_empty_lines_is_placed(tmp_path: Path) -> None:
    built = Built("\r\n")
    built.add("1,true,a,1")
    built.add("")
    built.add("2,true,b,2.1")
    [reject] = load(tmp_path, built.text.encode("utf-16"), csv={"encoding": "utf-16"})
    start = len(built.text[: built.text.index("2,true,b")].encode("utf-16"))
    assert (reject["line"], reject["byte_offset"], reject["raw"]) == (4, start, "2,true,b,2.1")
