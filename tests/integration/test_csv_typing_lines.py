"""The CSV line account and Weir's typing together: rows that typing sets aside (a type
break, an ambiguous local time) came out of DuckDB as records, so they count as rows read
and they are in the quarantine. Committed rows + quarantined rows + header + empty lines +
lines inside quoted fields = lines read, with no row counted twice or lost, on the fast
read and on the careful one (a bad quote), with declared and with inferred types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.integration.sources import run, table, write_project

from weir.app.kinds import SourceSummary

DECLARED = {"id": "int64", "amount": "int64", "note": "string", "at": "timestamp"}
BERLIN = {"timezone": "Europe/Berlin"}


def mixed(rows_before: int, bad_quote: bool) -> tuple[str, dict[int, str]]:
    """A file of `rows_before` clean rows, then a type break, an ambiguous local time, a
    record over two lines and, if asked, an unterminated quote; with the reason each id
    set aside must have."""
    lines = ["id,amount,note,at"]
    lines += [f"{i},{i},n{i},2025-06-01 12:00:00" for i in range(1, rows_before + 1)]
    k = rows_before
    lines.append(f"{k + 1},2.1,break,2025-06-01 12:00:00")  # not an int64
    lines.append(f"{k + 2},{k + 2},dst,2025-10-26 02:30:00")  # twice in Europe/Berlin
    lines.append(f'{k + 3},{k + 3},"two\nlines",2025-06-01 12:00:00')
    if bad_quote:
        lines.append(f'{k + 4},{k + 4},"never closed,2025-06-01 12:00:00')
    lines.append(f"{k + 5},{k + 5},last,2025-06-01 12:00:00")
    reasons = {k + 1: "'2.1' is not a whole number", k + 2: "ambiguous in Europe/Berlin"}
    if bad_quote:
        reasons[k + 4] = "a quote opened on this line is not closed"
    return "\n".join(lines) + "\n", reasons


def place_of(text: str, row_id: int) -> tuple[int, int, str]:
    """(line, byte offset, text) of the record whose first field is `row_id`."""
    physical = text.split("\n")
    line = next(n for n, t in enumerate(physical, start=1) if t.startswith(f"{row_id},"))
    return line, len("\n".join(physical[: line - 1]).encode()) + (line > 1), physical[line - 1]


def load(root: Path, text: str, **source: Any) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "in.csv").write_text(text)
    write_project(root, {"events": {"format": "csv", "path": "in.csv", **BERLIN, **source}})
    report = run(root)["source:events"]
    assert report["status"] == "succeeded", report["error"]
    return dict(report["summary"])


def accounted(summary: dict[str, Any]) -> int:
    lines = summary["lines"]
    return int(
        summary["new_rows"]
        + summary["quarantined_rows"]
        + lines["header"]
        + lines["blank"]
        + lines["continued"]
    )


@pytest.mark.parametrize("bad_quote", [False, True], ids=["fast read", "careful read"])
@pytest.mark.parametrize("columns", [DECLARED, None], ids=["declared", "inferred"])
def test_rows_set_aside_by_typing_are_in_the_line_account_once(
    tmp_path: Path, columns: dict[str, str] | None, bad_quote: bool
) -> None:
    # inferred: the type break comes after the sniffer's sample, so amount is an integer
    before = 3 if columns else 25_000
    text, reasons = mixed(before, bad_quote)
    root = tmp_path / "p"
    summary = load(root, text, **({"columns": columns} if columns else {}))
    assert ("reread" in summary) == bad_quote
    ids = table(root, "events").column("id").to_pylist()
    rejects = table(root, "events__quarantine").to_pylist()
    rejected = [int((r["raw"] or "").split(",")[0]) for r in rejects]
    # every record is a committed row or a quarantined one, never both, never neither
    written = {*range(1, before + 4), before + 5} | ({before + 4} if bad_quote else set())
    assert len(ids) + len(rejected) == len(written) and {*ids, *rejected} == written
    assert sorted(rejected) == sorted(reasons)
    for row in rejects:
        row_id = int(row["raw"].split(",")[0])
        assert reasons[row_id] in row["error"]
        # placed exactly, in the file as the user knows it (not a staged copy)
        assert Path(row["file"]).name == "in.csv" and row["key"] is None
        assert (row["line"], row["byte_offset"], row["raw"]) == place_of(text, row_id)
    assert summary["new_rows"] == len(ids) and summary["quarantined_rows"] == len(rejects)
    assert summary["lines"]["read"] == text.count("\n") and summary["lines"]["continued"] == 1
    assert accounted(summary) == summary["lines"]["read"]
    assert (
        SourceSummary.from_record(summary)
        .line_account()
        .startswith(f"{summary['lines']['read']:,} read = ")
    )


def test_inferred_types_are_the_first_files_for_every_group(tmp_path: Path) -> None:
    """Files with different column orders are read by separate read_csv calls; without
    `columns`, they share one set of types, the first file's, bound by name (a column only a
    later file has is typed from that file). A value of a later file that does not fit is
    quarantined with the note that its type was inferred, at its line in that file."""
    root = tmp_path / "p"
    (root / "in").mkdir(parents=True)
    (root / "in" / "a.csv").write_text("id,amount\n1,10\n2,20\n")
    (root / "in" / "b.csv").write_text("amount,id,extra\n2.5,3,x\n40,4,y\n")
    write_project(root, {"events": {"format": "csv", "path": "in/*.csv"}})
    report = run(root)["source:events"]
    assert report["status"] == "succeeded", report["error"]
    data = table(root, "events")
    assert [str(f.type) for f in data.schema] == ["int64", "int64", "string"]
    assert sorted(data.to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "amount": 10, "extra": None},
        {"id": 2, "amount": 20, "extra": None},
        {"id": 4, "amount": 40, "extra": "y"},
    ]
    [bad] = table(root, "events__quarantine").to_pylist()
    assert (Path(bad["file"]).name, bad["line"], bad["raw"]) == ("b.csv", 2, "2.5,3,x")
    assert "'2.5' is not a whole number" in bad["error"] and "inferred" in bad["error"]
    summary = report["summary"]
    assert accounted(summary) == summary["lines"]["read"] == 6


def test_column_null_values_keep_the_line_account(tmp_path: Path) -> None:
    """With null tokens per column DuckDB is given none, so an empty line is skipped even
    in a one-column file; the account and the places follow what DuckDB was given."""
    root = tmp_path / "p"
    text = "code\nNA\n\n2.1\n7\n"
    source = {"columns": {"code": "int64"}, "csv": {"column_null_values": {"code": ["NA"]}}}
    summary = load(root, text, **source)
    assert table(root, "events").column("code").to_pylist() == [None, 7]
    [bad] = table(root, "events__quarantine").to_pylist()
    assert (bad["line"], bad["byte_offset"], bad["raw"]) == (4, text.index("2.1"), "2.1")
    assert summary["lines"] == {"read": 5, "header": 1, "blank": 1, "continued": 0}
    assert accounted(summary) == 5
