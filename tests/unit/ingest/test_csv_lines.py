"""Physical lines, the record scanner and the line account of a CSV load.

The scanner must agree with DuckDB: every record it stages must be exactly one record of the
right width to DuckDB (else a staged copy could swallow lines again), and every record of a
file that Python's csv module writes must be accepted. Both are property tests against the
real DuckDB."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from weir.engines import DuckDBEngine
from weir.ingest import LineCounts, RereadError, read_files
from weir.ingest.csv_scan import BadLine, Blank, Record, Scanner
from weir.ingest.csv_text import CsvFormat, Line, _Counter, count_lines, hash_and_count, iter_lines
from weir.project.sources import FileSource

ENGINE = DuckDBEngine(threads=2)
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def fmt(
    escape: str = '"', limit: int = 1 << 20, codec: str | None = None, empty_is_null: bool = True
) -> CsvFormat:
    return CsvFormat(",", '"', escape, "utf-8", codec, True, limit, empty_is_null)  # type: ignore[arg-type]


def physical(text: str) -> list[str]:
    """Lines as Weir defines them: ending at \\n (a \\r before it belongs to it)."""
    return text.split("\n")[:-1] + ([text.rsplit("\n", 1)[-1]] if not text.endswith("\n") else [])


# counting and splitting ------------------------------------------------------------------------


@given(st.lists(st.sampled_from(["a", "b,c", "", " ", '"'])), st.booleans(), st.booleans())
def test_lines_and_empty_lines_are_counted_like_the_text_splits(
    lines: list[str], crlf: bool, last_newline: bool
) -> None:
    end = "\r\n" if crlf else "\n"
    text = end.join(lines) + (end if last_newline else "")
    data = text.encode()
    counter = _Counter()
    for i in range(0, len(data), 3):  # tiny chunks: every boundary case
        counter.feed(data[i : i + 3])
    counted = counter.result()
    if "\n" in text:
        bodies = [body.removesuffix("\r") for body in physical(text)]
        assert counted.lines == len(bodies)
        assert counted.blank == sum(1 for body in bodies if body == "")
    else:
        assert counted.lines == (1 if text else 0)


def test_a_file_ending_without_a_newline_and_a_cr_only_file(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"h\n1\n\n2")
    digest, counted = hash_and_count(tmp_path / "a.csv", True)
    assert digest == hashlib.sha256(b"h\n1\n\n2").hexdigest()
    assert counted is not None and (counted.lines, counted.blank, counted.newline) == (4, 1, "\n")
    (tmp_path / "b.csv").write_bytes(b"h\r1\r\r2\r")
    counted = count_lines(tmp_path / "b.csv", fmt())
    assert (counted.lines, counted.blank, counted.newline) == (4, 1, "\r")


@given(st.text(alphabet="ab\r\n,é", max_size=60), st.integers(min_value=1, max_value=12))
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_split_lines_cover_the_file_exactly(tmp_path: Path, text: str, limit: int) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(gzip.compress(text.encode()))
    lines = list(iter_lines(path, fmt(codec="gzip"), "\n", limit))
    assert [line.number for line in lines] == list(range(1, len(lines) + 1))
    offset = 0
    for line in lines:
        assert line.offset == offset
        offset += line.size
        if not line.cut:
            assert text.encode()[line.offset : line.offset + line.size] == line.text.encode()
    assert offset == len(text.encode())
    assert "".join(line.text for line in lines if not line.cut) == "".join(
        text.encode()[line.offset : line.offset + line.size].decode(errors="replace")
        for line in lines
        if not line.cut
    )


# the scanner ---------------------------------------------------------------------------------


def scan(
    text: str, fields: int, escape: str = '"', limit: int = 1 << 20, empty_is_null: bool = True
) -> list[Record | BadLine | Blank]:
    form = fmt(escape, limit, empty_is_null=empty_is_null)
    return list(Scanner(form, "\n", fields).events(_lines(text)))


def _lines(text: str) -> Iterator[Line]:
    offset = 0
    for number, line in enumerate(re.findall(r"[^\n]*\n|[^\n]+$", text), start=1):
        yield Line(number, offset, line, len(line.encode()))
        offset += len(line.encode())


def test_a_stray_quote_costs_its_own_line_only() -> None:
    events = scan('1,a\n2,"open\n3,c\n4,"d\ne"\n', 2)
    kinds = [
        (type(e).__name__, e[0].number if not isinstance(e, Record) else e.first.number)
        for e in events
    ]  # type: ignore[index]
    assert kinds == [("Record", 1), ("BadLine", 2), ("Record", 3), ("Record", 4)]
    assert isinstance(events[3], Record) and events[3].lines == 2
    bad = events[1]
    assert isinstance(bad, BadLine) and bad.error_type == "UNTERMINATED QUOTE"
    assert bad.message == (
        "a quote opened on this line is not closed properly before line 4, "
        "where text follows the closing quote"
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('1,"a"b\n', "UNQUOTED VALUE"),
        ('1,"a\nb",c\n', "UNTERMINATED QUOTE"),
        ("1,a,b\n", "TOO MANY COLUMNS"),
        ("1\n", "MISSING COLUMNS"),
        ("1,a\rb\n", "LINE BREAK IN FIELD"),
        ("1," + "x" * 50 + "\n", "LINE SIZE OVER MAXIMUM"),
    ],
)
def test_what_the_scanner_sets_aside(text: str, kind: str) -> None:
    [first, *_] = scan(text, 2, limit=40)
    assert isinstance(first, BadLine) and first.error_type == kind and first.line.number == 1


def test_empty_lines_are_blank_unless_a_record_has_one_field() -> None:
    assert [type(e) for e in scan("1,a\n\n2,b\n", 2)] == [Record, Blank, Record]
    assert [type(e) for e in scan("1\n\n2\n", 1)] == [Record, Record, Record]
    assert [type(e) for e in scan("1\n\n2\n", 1, empty_is_null=False)] == [Record, Blank, Record]


def test_escapes_other_than_the_quote() -> None:
    events = scan('1,"a\\"b"\n2,"c\\\nd"\n3,x\\,y\n', 2, escape="\\")
    assert [type(e) for e in events] == [Record, Record, BadLine]


# the scanner agrees with DuckDB ----------------------------------------------------------------

CHARS = st.sampled_from(["a", "b", ",", '"', " ", "\n", "\\", "\r\n"])


def duckdb_rows(path: Path, fields: int, escape: str) -> tuple[list[tuple[object, ...]], int]:
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(fields))
    connection = duckdb.connect()
    try:
        rows = connection.execute(
            f"SELECT * FROM read_csv(?, header = false, delim = ',', quote = '\"', escape = ?, "
            f"columns = {{{columns}}}, auto_detect = false, store_rejects = true, "
            "strict_mode = true, null_padding = false, new_line = '\\n', nullstr = '\x01')",
            [str(path), escape],
        ).fetchall()
        try:
            [(rejects,)] = connection.execute(
                "SELECT count(DISTINCT line_byte_position) FROM reject_errors"
            ).fetchall()
        except duckdb.CatalogException:
            rejects = 0
        return rows, int(rejects)
    finally:
        connection.close()


@given(st.lists(CHARS, max_size=40).map("".join), st.integers(1, 3), st.sampled_from(['"', "\\"]))
@PROPERTY
def test_every_record_the_scanner_stages_is_one_record_to_duckdb(
    tmp_path: Path, text: str, fields: int, escape: str
) -> None:
    records = [e for e in scan(text, fields, escape, empty_is_null=False) if isinstance(e, Record)]
    assume(records)
    staged = tmp_path / "staged.csv"
    staged.write_bytes("".join(r.text + "\n" for r in records).encode())
    rows, rejects = duckdb_rows(staged, fields, escape)
    assert (len(rows), rejects) == (len(records), 0), [r.text for r in records]


VALUES = st.text(alphabet='ab ,"\n', max_size=6)


@given(st.lists(st.lists(VALUES, min_size=3, max_size=3), min_size=1, max_size=8), st.booleans())
@PROPERTY
def test_what_pythons_csv_writer_writes_is_accepted_whole(
    tmp_path: Path, rows: list[list[str]], crlf: bool
) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    events = scan(buffer.getvalue(), 3, empty_is_null=False)
    assume(not any(isinstance(e, Blank) for e in events))
    assert all(isinstance(e, Record) for e in events)
    staged = tmp_path / "s.csv"
    staged.write_bytes("".join(e.text + "\n" for e in events if isinstance(e, Record)).encode())
    found, rejects = duckdb_rows(staged, 3, '"')
    assert rejects == 0
    assert [tuple(v.replace("\r\n", "\n") for v in r) for r in rows] == [
        tuple(str(v).replace("\r\n", "\n") for v in r) for r in found
    ]


# a whole load: Python's csv writer, with bad lines injected --------------------------------------


def load(root: Path, source: FileSource) -> tuple[pa.Table, pa.Table, LineCounts]:
    """A load as the source step runs it: again, carefully, if the first read says so."""
    try:
        return _attempt(root, source, careful=False)
    except RereadError:
        return _attempt(root, source, careful=True)


def _attempt(
    root: Path, source: FileSource, careful: bool
) -> tuple[pa.Table, pa.Table, LineCounts]:
    with read_files(ENGINE, root, "s", source, careful=careful) as read:
        try:
            data = read.batches.read_all()
        except Exception:
            raise read.failure or AssertionError("the read failed") from None
        assert read.lines is not None
        return data, read.rejects(), read.lines


BAD_MARK = "9999"  # injected lines start with it; no good row does
FIELD = st.text(alphabet='abc ,"\n', max_size=5).map(lambda v: "x" + v)  # starts with a letter
BAD = st.sampled_from(['{i},"unterminated {i}', "{i},too,many,fields"])


@given(
    st.lists(st.tuples(FIELD, FIELD), min_size=1, max_size=25),
    st.lists(st.tuples(st.integers(0, 25), BAD), max_size=4),
    st.booleans(),
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_good_rows_are_all_committed_and_bad_lines_set_aside(
    tmp_path: Path, rows: list[tuple[str, str]], bad: list[tuple[int, str]], crlf: bool
) -> None:
    end = "\r\n" if crlf else "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=end)
    writer.writerow(["id", "a", "b"])
    records = [buffer.getvalue()]
    for i, (a, b) in enumerate(rows):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([i, a, b])
        records.append(buffer.getvalue())
    injected = sorted({min(at, len(rows)) + 1: line for at, line in bad}.items())
    for at, line in reversed(injected):
        records.insert(at, line.format(i=BAD_MARK + str(at)) + end)
    text = "".join(records)
    bad_lines = []
    number = 1
    for record in records:
        if record.startswith(BAD_MARK):
            bad_lines.append(number)
        number += record.count("\n")
    (tmp_path / "in.csv").write_bytes(text.encode())
    source = FileSource(
        format="csv", path="in.csv", columns={"id": "int64", "a": "string", "b": "string"}
    )
    # a clean file is trusted on DuckDB's read alone; a damaged one is read again
    data, rejects, lines = _attempt(tmp_path, source, False) if not bad else load(tmp_path, source)
    assert data.column("id").to_pylist() == list(range(len(rows)))
    assert [(r["a"], r["b"]) for r in data.select(["a", "b"]).to_pylist()] == [
        (a.replace("\r\n", "\n"), b.replace("\r\n", "\n")) for a, b in rows
    ]
    assert rejects.column("line").to_pylist() == bad_lines
    accounted = lines.header + lines.blank + lines.continued + data.num_rows + rejects.num_rows
    assert accounted == lines.read == text.count("\n")


@pytest.mark.parametrize("end", ["\n", "\r\n"])
@pytest.mark.parametrize("columns", [None, {"id": "int64", "a": "string", "b": "string"}])
def test_a_clean_file_adds_up_on_the_first_read(
    tmp_path: Path, end: str, columns: dict[str, str] | None
) -> None:
    """Multi-line values (with empty lines inside), empty lines between records and a last
    line without a terminator: DuckDB's read is trusted, no second read is needed."""
    rows = ["id,a,b", '1,"x\n\ny",z', "", '2,"p\r\nq",r', "", "", "3,s,t"]
    text = end.join(rows)
    (tmp_path / "in.csv").write_bytes(text.encode())
    source = FileSource(format="csv", path="in.csv", columns=columns)
    data, rejects, lines = _attempt(tmp_path, source, careful=False)
    assert data.column("id").to_pylist() == [1, 2, 3] and rejects.num_rows == 0
    assert (lines.read, lines.header, lines.blank) == (text.count("\n") + 1, 1, 3)
    assert lines.continued == text.count("\n") + 1 - 1 - 3 - 3


def test_a_long_rejected_line_keeps_its_whole_text_on_the_first_read(tmp_path: Path) -> None:
    """DuckDB keeps 10,000 characters of a rejected record; the line itself has them all."""
    long = "y" * 20_000
    (tmp_path / "in.csv").write_text(f"id,note\n1,ok\nx,{long}\n2,{long},extra\n3,ok\n")
    source = FileSource(format="csv", path="in.csv", columns={"id": "float64", "note": "string"})
    data, rejects, _ = _attempt(tmp_path, source, careful=False)
    assert data.column("id").to_pylist() == [1.0, 3.0]
    kept = sorted((r["line"], len(r["raw"])) for r in rejects.to_pylist())
    assert kept == [(3, 20_002), (4, 20_008)]
