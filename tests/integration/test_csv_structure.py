"""CSV structure through the source step: every physical line is accounted for, quoting
trouble quarantines only its own line, and declared columns are bound to the header by name.

These run a project in-process as `weir run` does and read what was committed."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from tests.integration.sources import run, table, write_project

DECLARED = {"id": "int64", "amount": "int64", "note": "string"}


def project(root: Path, text: str | bytes, name: str = "in.csv", **settings: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    (root / name).write_bytes(data)
    source = {"format": "csv", "path": name, "columns": DECLARED, **settings}
    return write_project(root, {"events": source})


def loaded(root: Path) -> dict[str, Any]:
    report = run(root)["source:events"]
    assert report["status"] == "succeeded", report["error"]
    return dict(report["summary"])


def quarantined(root: Path) -> list[dict[str, Any]]:
    return list(table(root, "events__quarantine").to_pylist())


def offset_of(text: str, line: int) -> int:
    """Byte offset of physical line `line` (1-based) of `text` as UTF-8."""
    return len("".join(text.splitlines(keepends=True)[: line - 1]).encode())


def reconciles(summary: dict[str, Any]) -> bool:
    lines = summary["lines"]
    parts = (
        summary["new_rows"],
        summary["quarantined_rows"],
        lines["header"],
        lines["blank"],
        lines["continued"],
    )
    return bool(lines["read"] == sum(parts))


def test_an_unterminated_quote_quarantines_only_its_own_line(tmp_path: Path) -> None:
    """The issue's case: 100,001 lines, an unterminated quote on line 7."""
    rows = [f"{i},{i * 10},n{i}" for i in range(1, 100_001)]
    rows[5] = '6,60,"never closed'  # physical line 7 (the header is line 1)
    text = "id,amount,note\n" + "\n".join(rows) + "\n"
    root = project(tmp_path / "p", text)
    summary = loaded(root)
    data = table(root, "events")
    assert data.num_rows == 99_999 and summary["new_rows"] == 99_999
    assert data.column("id").to_pylist() == [i for i in range(1, 100_001) if i != 6]
    [bad] = quarantined(root)
    assert bad["line"] == 7 and bad["byte_offset"] == offset_of(text, 7)
    assert bad["raw"] == '6,60,"never closed'
    assert summary["lines"]["read"] == 100_001 and reconciles(summary)


def test_bad_quotes_spread_through_a_file_lose_no_good_row(tmp_path: Path) -> None:
    """Ten unterminated quotes among legitimate multi-line records (RFC 4180)."""
    lines = ["id,amount,note"]
    expected: dict[int, str] = {}
    bad_lines: list[int] = []
    for i in range(1, 3_001):
        if i % 300 == 150:
            bad_lines.append(sum(line.count("\n") + 1 for line in lines) + 1)
            lines.append(f'{i},{i},"unterminated {i}')
        elif i % 200 == 7:
            lines.append(f'{i},{i},"two\nlines, {i}"')
            expected[i] = f"two\nlines, {i}"
        else:
            lines.append(f"{i},{i},n{i}")
            expected[i] = f"n{i}"
    text = "\n".join(lines) + "\n"
    root = project(tmp_path / "p", text)
    summary = loaded(root)
    data = table(root, "events")
    ids, notes = data.column("id").to_pylist(), data.column("note").to_pylist()
    assert dict(zip(ids, notes, strict=True)) == expected
    rejects = quarantined(root)
    assert [r["line"] for r in rejects] == bad_lines
    physical = text.split("\n")
    assert [r["raw"] for r in rejects] == [physical[n - 1] for n in bad_lines]
    assert all(r["byte_offset"] == offset_of(text, r["line"]) for r in rejects)
    assert summary["lines"]["continued"] == len([i for i in range(1, 3_001) if i % 200 == 7])
    assert reconciles(summary)


def test_quarantine_places_are_physical_lines_after_multiline_records(tmp_path: Path) -> None:
    """DuckDB numbers records, not lines, and places a too-few row at its end."""
    text = (
        "id,amount,note\n"
        '1,1,"a\nb\nc"\n'  # lines 2-4
        "2,2\n"  # line 5: too few fields
        '3,3,"d\ne"\n'  # lines 6-7
        "4,4,x,y\n"  # line 8: too many fields
        "5,5,ok\n"
    )
    root = project(tmp_path / "p", text)
    summary = loaded(root)
    assert table(root, "events").column("id").to_pylist() == [1, 3, 5]
    places = [(r["line"], r["byte_offset"], r["raw"]) for r in quarantined(root)]
    assert places == [(5, offset_of(text, 5), "2,2"), (8, offset_of(text, 8), "4,4,x,y")]
    assert summary["lines"] == {"read": 9, "header": 1, "blank": 0, "continued": 3}
    assert reconciles(summary)


def test_crlf_files_give_exact_places_and_clean_raw_text(tmp_path: Path) -> None:
    text = 'id,amount,note\r\n1,1,"a\r\nb"\r\n2,2\r\n3,3,"open\r\n4,4,ok\r\n'
    root = project(tmp_path / "p", text)
    summary = loaded(root)
    assert table(root, "events").column("id").to_pylist() == [1, 4]
    places = [(r["line"], r["byte_offset"], r["raw"]) for r in quarantined(root)]
    assert places == [(4, 28, "2,2"), (5, 33, '3,3,"open')]
    assert reconciles(summary)


def test_a_file_that_cannot_be_resynchronised_is_refused_naming_the_line(tmp_path: Path) -> None:
    """`a",b,"c` stays inside quotes from either side of every line: each try to resynchronise
    would read on to the line limit. Rather than go quadratic, the load is refused."""
    text = "id,amount,note\n1,1,ok\n" + 'a",b,"c\n' * 2_000
    root = project(tmp_path / "p", text, csv={"max_line_bytes": 4096})
    report = run(root)["source:events"]
    assert report["status"] == "failed"
    error = report["error"]
    assert "in.csv line 3 (byte 22) starts quoting that cannot be resynchronised" in error
    assert "nothing was committed" in error


def test_compressed_files_are_resynchronised_in_the_decompressed_text(tmp_path: Path) -> None:
    text = 'id,amount,note\n1,1,a\n2,2,"bad\n3,3,c\n'
    root = project(tmp_path / "p", gzip.compress(text.encode()), name="in.csv.gz")
    summary = loaded(root)
    assert table(root, "events").column("id").to_pylist() == [1, 3]
    [bad] = quarantined(root)
    assert (bad["line"], bad["byte_offset"]) == (3, offset_of(text, 3))
    assert reconciles(summary)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_byte_offsets_count_bytes_of_the_declared_encoding(tmp_path: Path, encoding: str) -> None:
    text = "id,amount,note\n1,1,été\n2,2\n3,3,ok\n"
    root = project(tmp_path / "p", text.encode(encoding), csv={"encoding": encoding})
    loaded(root)
    [bad] = quarantined(root)
    prefix = "".join(text.splitlines(keepends=True)[:2])
    bom = 2 if encoding == "utf-16" else 0
    expected = bom + len(prefix.encode("utf-16-le" if encoding == "utf-16" else encoding))
    assert (bad["line"], bad["byte_offset"], bad["raw"]) == (3, expected, "2,2")


# declared columns are bound by name ---------------------------------------------------------


def test_declared_columns_are_bound_to_the_header_by_name(tmp_path: Path) -> None:
    root = project(tmp_path / "p", "amount,note,id\n10,x,1\n20,y,2\n")
    loaded(root)
    data = table(root, "events")
    assert data.column_names == ["id", "amount", "note"]
    assert data.column("id").to_pylist() == [1, 2]
    assert data.column("amount").to_pylist() == [10, 20]


def test_names_are_matched_after_normalise_names(tmp_path: Path) -> None:
    root = project(tmp_path / "p", "\ufeffNote,Amount,ID\nx,10,1\n", normalise_names="lower")
    loaded(root)
    data = table(root, "events")
    assert data.to_pylist() == [{"id": 1, "amount": 10, "note": "x"}]


@pytest.mark.parametrize(
    ("header", "missing", "unknown"),
    [
        ("x,y,z", "amount, id, note", "x, y, z"),
        ("id,amount", "note", ""),
        ("id,amount,note,extra", "", "extra"),
    ],
)
def test_a_header_that_does_not_match_the_declaration_is_refused_naming_both(
    tmp_path: Path, header: str, missing: str, unknown: str
) -> None:
    fields = ",".join("1" for _ in header.split(","))
    root = project(tmp_path / "p", f"{header}\n{fields}\n")
    report = run(root)["source:events"]
    assert report["status"] == "failed"
    error = report["error"]
    assert f"header: {header.replace(',', ', ')}" in error
    assert "columns: id, amount, note" in error and "nothing was committed" in error
    if missing:
        assert f"missing: {missing}" in error
    if unknown:
        assert f"not declared: {unknown}" in error


def test_headerless_files_bind_declared_columns_by_position(tmp_path: Path) -> None:
    text = "1,10,a\n2,20\n3,30,c\n"
    root = project(tmp_path / "p", text, csv={"header": False})
    summary = loaded(root)
    assert table(root, "events").to_pylist() == [
        {"id": 1, "amount": 10, "note": "a"},
        {"id": 3, "amount": 30, "note": "c"},
    ]
    [bad] = quarantined(root)
    assert (bad["line"], bad["byte_offset"]) == (2, 7)
    assert summary["lines"]["header"] == 0 and reconciles(summary)


# the other structural cases of BAD_INPUTS ---------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,amount,id", "columns 'id', 'id' have the same name"),
        ("id,Amount,amount", "differ only by case"),
        ("id,,amount", "column 2 has an empty name"),
    ],
)
def test_bad_header_names_are_refused_with_declared_columns_too(
    tmp_path: Path, header: str, message: str
) -> None:
    root = project(tmp_path / "p", f"{header}\n1,2,3\n")
    report = run(root)["source:events"]
    assert report["status"] == "failed" and message in report["error"]
    assert "in.csv header (line 1)" in report["error"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\nid,amount,note\n1,1,a\n", "in.csv line 1 is empty; it must hold the header"),
        ('id,"amount,note\n1,1,a\n', "in.csv line 1 is broken: a quote opened on this line"),
    ],
)
def test_a_header_that_is_not_on_line_1_is_refused(tmp_path: Path, text: str, message: str) -> None:
    """DuckDB would read an empty first line as the header, and the header as a row."""
    report = run(project(tmp_path / "p", text))["source:events"]
    assert report["status"] == "failed" and message in report["error"]


def test_an_over_long_quoted_record_is_quarantined_whole(tmp_path: Path) -> None:
    """Its inner lines look like rows; resuming inside it would invent them."""
    inner = "".join(f"{i},{i},inner\n" for i in range(100, 200))
    text = f'id,amount,note\n1,1,a\n2,2,"{inner}"\n3,3,c\n'
    root = project(tmp_path / "p", text, csv={"max_line_bytes": 1024})
    summary = loaded(root)
    assert table(root, "events").column("id").to_pylist() == [1, 3]
    [bad] = quarantined(root)
    assert (bad["line"], bad["error_type"]) == (3, "LINE SIZE OVER MAXIMUM")
    assert bad["raw"].startswith('2,2,"100,100,inner')
    assert summary["lines"]["continued"] == 100 and reconciles(summary)


def test_zstd_files_and_a_header_only_gzip_file(tmp_path: Path) -> None:
    import pyarrow as pa

    root = tmp_path / "p"
    root.mkdir()
    text = 'id,amount,note\n1,1,a\n2,2,"bad\n3,3,c\n'
    with pa.output_stream(str(root / "in.csv.zst"), compression="zstd") as out:
        out.write(text.encode())
    write_project(root, {"events": {"format": "csv", "path": "in.csv.zst", "columns": DECLARED}})
    summary = loaded(root)
    assert table(root, "events").column("id").to_pylist() == [1, 3]
    assert [(r["line"], r["byte_offset"]) for r in quarantined(root)] == [(3, offset_of(text, 3))]
    assert reconciles(summary)
    empty = project(tmp_path / "q", gzip.compress(b"id,amount,note\n"), name="h.csv.gz")
    report = run(empty)["source:events"]
    assert (
        report["status"] == "failed" and "h.csv.gz has a header but no data rows" in report["error"]
    )


def test_globs_bind_each_file_by_name_and_number_lines_per_file(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "in").mkdir(parents=True)
    (root / "in" / "a.csv").write_text('id,amount,note\n1,10,a\n2,20,"open\n3,30,c\n')
    (root / "in" / "b.csv").write_text("note,id,amount\nd,4,40\ne,5\nf,6,60\n")
    (root / "in" / "c.csv").write_text("amount,note,id\n70,g,7\n")
    write_project(root, {"events": {"format": "csv", "path": "in/*.csv", "columns": DECLARED}})
    summary = loaded(root)
    data = table(root, "events").sort_by("id")
    assert data.to_pylist() == [
        {"id": i, "amount": 10 * i, "note": n}
        for i, n in [(1, "a"), (3, "c"), (4, "d"), (6, "f"), (7, "g")]
    ]
    places = [(Path(r["file"]).name, r["line"]) for r in quarantined(root)]
    assert places == [("a.csv", 3), ("b.csv", 3)]
    assert summary["lines"]["read"] == 10 and summary["lines"]["header"] == 3
    assert reconciles(summary)


def test_inferred_columns_are_bound_by_name_across_files(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "in").mkdir(parents=True)
    (root / "in" / "a.csv").write_text("id,amount\n1,10\n")
    (root / "in" / "b.csv").write_text("amount,id\n20,2\n")
    write_project(root, {"events": {"format": "csv", "path": "in/*.csv"}})
    loaded(root)
    assert sorted(table(root, "events").to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "amount": 10},
        {"id": 2, "amount": 20},
    ]


def test_an_incremental_load_accounts_for_the_new_files_only(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "in").mkdir(parents=True)
    (root / "in" / "a.csv").write_text("id,amount,note\n1,1,a\n")
    source = {"format": "csv", "path": "in/*.csv", "columns": DECLARED, "incremental": True}
    write_project(root, {"events": source})
    loaded(root)
    (root / "in" / "b.csv").write_text('id,amount,note\n2,2,"open\n3,3,c\n')
    summary = loaded(root)
    assert summary["new_rows"] == 1 and summary["lines"]["read"] == 3 and reconciles(summary)
    assert [(Path(r["file"]).name, r["line"]) for r in quarantined(root)] == [("b.csv", 2)]
    assert sorted(table(root, "events").column("id").to_pylist()) == [1, 3]


def test_carriage_return_only_files(tmp_path: Path) -> None:
    text = "id,amount,note\r1,1,a\r2,2\r3,3,c\r"
    root = project(tmp_path / "p", text)
    summary = loaded(root)
    assert table(root, "events").column("id").to_pylist() == [1, 3]
    assert [(r["line"], r["byte_offset"]) for r in quarantined(root)] == [(3, 21)]
    assert reconciles(summary)


def test_a_lone_carriage_return_is_quarantined_not_fatal(tmp_path: Path) -> None:
    """DuckDB stops reading the whole file at it ("invalid state")."""
    text = "id,amount,note\n1,1,a\n2,2,b\rc\n3,3,c\n"
    root = project(tmp_path / "p", text)
    summary = loaded(root)
    assert table(root, "events").column("id").to_pylist() == [1, 3]
    [bad] = quarantined(root)
    assert (bad["line"], bad["error_type"]) == (3, "LINE BREAK IN FIELD")
    assert reconciles(summary)


def test_a_bad_quote_with_backslash_escapes(tmp_path: Path) -> None:
    text = 'id,amount,note\n1,1,"a \\" b"\n2,2,"open\n3,3,"c\\\nd"\n4,4,e\n'
    root = project(tmp_path / "p", text, csv={"escape": "\\"})
    summary = loaded(root)
    data = table(root, "events")
    assert data.column("note").to_pylist() == ['a " b', "c\nd", "e"]
    assert [r["line"] for r in quarantined(root)] == [3]
    assert reconciles(summary)


@pytest.mark.parametrize("quote", ["", '\n4,4,"open'])
def test_bytes_that_are_not_utf8_refuse_the_load_at_the_exact_byte(
    tmp_path: Path, quote: str
) -> None:
    """On either read (the careful one follows a bad quote), at the byte, not the line."""
    text = b"id,amount,note\n1,1,ok\n2,2,caf\xe9\n3,3,x" + quote.encode() + b"\n"
    report = run(project(tmp_path / "p", text))["source:events"]
    assert report["status"] == "failed"
    at = text.index(b"\xe9")
    assert f"in.csv line 3 (byte {at}) is not utf-8 text" in report["error"]


def test_an_unterminated_quote_without_declared_columns(tmp_path: Path) -> None:
    """DuckDB's type sniffer stops at the quote; the careful read sets its line aside."""
    rows = [f"{i},n{i}" for i in range(1, 2_001)]
    rows[2] = '3,"never closed'
    text = "id,note\n" + "\n".join(rows) + "\n"
    root = tmp_path / "p"
    root.mkdir()
    (root / "in.csv").write_text(text)
    write_project(root, {"events": {"format": "csv", "path": "in.csv"}})
    summary = loaded(root)
    assert table(root, "events").column("id").to_pylist() == [i for i in range(1, 2_001) if i != 3]
    assert [r["line"] for r in quarantined(root)] == [4] and reconciles(summary)
