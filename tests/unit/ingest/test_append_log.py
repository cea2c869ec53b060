"""`kind: append_log`: the cases the contract suite does not cover (tests/contract runs the
shared ones): where a load stops, when a log is refused, and what each bad line becomes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from weir.core.errors import SourceRefusedError
from weir.engines.duckdb import DuckDBEngine
from weir.ingest import append_log
from weir.ingest.append_log import AppendLogConnector, AppendLogSource, AppendLogState
from weir.ingest.connector import SourceContext, load_position
from weir.ingest.state import SourceState, dump_state

COLUMNS = {"id": "int64", "name": "string"}


def record(i: int, name: str = "x") -> bytes:
    return json.dumps({"id": i, "name": name}).encode() + b"\n"


class Log:
    """A log file in a project, and loads of it as the app commits them (the position
    through its JSON, as it is read back from the table's commit)."""

    def __init__(self, root: Path, path: str = "logs/app.log") -> None:
        self.root = root
        self.file = root / path
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.engine = DuckDBEngine(threads=1, temp_directory=root / "tmp")
        self.position: SourceState | None = None
        self.connector = self.at(path)

    def at(self, path: str) -> AppendLogConnector:
        source = AppendLogSource(kind="append_log", path=path, columns=COLUMNS)
        self.connector = AppendLogConnector(SourceContext(self.engine, self.root, "events"), source)
        return self.connector

    def write(self, data: bytes) -> None:
        with self.file.open("ab") as out:
            out.write(data)

    def load(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(rows, rejects) of the next load; its position is kept only if it read anything."""
        prior = None if self.position is None else dump_state(self.position)
        with self.connector.read(load_position(self.connector, prior)) as read:
            if read.nothing_new:
                return [], []
            rows = read.batches.read_all().to_pylist()
            rejects = read.rejects().to_pylist()
            self.position = read.position
        return rows, rejects


@pytest.fixture
def log(tmp_path: Path) -> Log:
    return Log(tmp_path)


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in rows]


def test_a_half_written_last_line_waits_for_the_next_load(log: Log) -> None:
    log.write(record(1) + record(2) + b'{"id": 3, "na')
    assert ids(log.load()[0]) == [1, 2]
    assert isinstance(log.position, AppendLogState) and log.position.offset == 2 * len(record(1))
    assert log.load() == ([], [])  # still half-written: nothing new
    log.write(b'me": "x"}\n')
    rows, rejects = log.load()
    assert ids(rows) == [3] and not rejects
    assert log.position.lines == 3 and log.position.offset == log.file.stat().st_size


def test_a_truncated_log_is_refused_naming_the_file_and_the_fix(log: Log) -> None:
    log.write(record(1) + record(2))
    log.load()
    log.file.write_bytes(record(3))  # rotated: shorter than what was loaded
    said = f"logs/app.log has {len(record(3))} bytes, fewer than the {2 * len(record(1))}"
    with pytest.raises(SourceRefusedError, match=said) as e:
        log.load()
    assert "truncated or rotated; nothing was committed" in str(e.value)
    assert "weir run --full-refresh" in (e.value.fix or "") and "path" in (e.value.fix or "")


@pytest.mark.parametrize("extra", [b"", record(5)], ids=["same size", "longer"])
def test_a_replaced_log_is_refused_even_when_it_is_as_long(log: Log, extra: bytes) -> None:
    log.write(record(1) + record(2))
    log.load()
    log.file.write_bytes(record(3) + record(4) + extra)  # another file, not an append
    with pytest.raises(SourceRefusedError, match="no longer holds the bytes loaded before") as e:
        log.load()
    assert "replaced or rewritten" in str(e.value) and "--full-refresh" in (e.value.fix or "")


def test_a_log_moved_to_a_new_inode_with_the_same_bytes_reads_on(log: Log) -> None:
    log.write(record(1))
    log.load()
    copy = log.file.with_suffix(".new")
    copy.write_bytes(log.file.read_bytes() + record(2))
    copy.replace(log.file)  # an editor's or a shipper's save: the bytes are appended
    assert ids(log.load()[0]) == [2]


def test_a_path_pointed_at_a_new_file_reads_it_from_its_start_and_appends(log: Log) -> None:
    log.write(record(1))
    log.load()
    (log.root / "logs" / "app-2.log").write_bytes(record(2) + record(3))
    log.at("logs/app-2.log")
    prior = load_position(log.connector, dump_state(log.position)) if log.position else None
    with log.connector.read(prior) as read:
        assert ids(read.batches.read_all().to_pylist()) == [2, 3]
        assert read.detail["append"] and read.incremental == "2 new line(s)"


def test_crlf_lines_are_read_and_placed_by_their_bytes(log: Log) -> None:
    log.write(b'{"id": 1, "name": "a"}\r\n{"id": "x", "name": "b"}\r\n{"id": 3, "name": "c"}\r\n')
    rows, rejects = log.load()
    assert rows == [{"id": 1, "name": "a"}, {"id": 3, "name": "c"}]
    [bad] = rejects
    assert (bad["line"], bad["byte_offset"], bad["column_name"]) == (2, 24, "id")
    assert bad["file"] == str(log.file) and bad["key"] is None


def test_a_line_longer_than_a_megabyte_is_one_record(log: Log) -> None:
    long = "y" * 1_500_000
    log.write(record(1) + record(2, long) + record(3))
    rows, rejects = log.load()
    assert ids(rows) == [1, 2, 3] and rows[1]["name"] == long and not rejects


def test_a_line_over_the_limit_is_set_aside_without_being_held(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(append_log, "MAX_LINE_BYTES", 100)
    monkeypatch.setattr(append_log, "_CHUNK", 64)  # the long line spans chunks
    log.write(record(1) + record(2, "y" * 300) + record(3))
    rows, rejects = log.load()
    assert ids(rows) == [1, 3]
    [bad] = rejects
    where = (bad["line"], bad["byte_offset"], bad["error_type"])
    assert where == (2, len(record(1)), "LINE SIZE OVER MAXIMUM")


def test_an_empty_log_is_refused_on_its_first_load_and_nothing_new_later(log: Log) -> None:
    log.file.touch()
    with pytest.raises(SourceRefusedError, match="has no record yet") as e:
        log.load()
    assert "an empty load is refused" in (e.value.fix or "")
    log.write(record(1))
    log.load()
    assert log.load() == ([], [])


def test_a_missing_log_is_refused_naming_its_path(log: Log) -> None:
    with pytest.raises(SourceRefusedError, match=r"logs/app.log \(.*app.log\) does not exist"):
        log.connector.observe()
    with pytest.raises(SourceRefusedError, match="does not exist; nothing was committed") as e:
        log.load()
    assert "sources.events.path" in (e.value.fix or "")


def test_every_line_that_is_not_one_json_object_is_set_aside_at_its_place(log: Log) -> None:
    lines = [
        record(1),
        b"not json\n",
        b'{"id": NaN, "name": "n"}\n',
        b"[1, 2]\n",
        b'{"id": 5, "name": "\xff"}\n',
        b"   \n",
        record(7),
    ]
    log.write(b"".join(lines))
    rows, rejects = log.load()
    assert ids(rows) == [1, 7]
    starts = [sum(len(x) for x in lines[:i]) for i in range(len(lines))]
    got = [(r["line"], r["byte_offset"], r["error_type"]) for r in rejects]
    assert got == [
        (2, starts[1], "INVALID JSON"),
        (3, starts[2], "INVALID JSON"),
        (4, starts[3], "NOT AN OBJECT"),
        (5, starts[4], "INVALID ENCODING"),
    ]
    assert rejects[0]["raw"] == "not json" and "NaN is not a JSON number" in rejects[1]["error"]
    assert log.position is not None and log.position.dump()["lines"] == 7
    with log.connector.read(None) as read:
        read.batches.read_all()
        assert read.lines is not None and (read.lines.read, read.lines.blank) == (7, 1)


def test_bad_lines_alone_commit_nothing_and_are_set_aside_with_the_next_record(log: Log) -> None:
    log.write(record(1))
    log.load()
    log.write(b"oops\n")
    assert log.load() == ([], [])
    log.write(record(3))
    rows, rejects = log.load()
    assert ids(rows) == [3] and [(r["line"], r["raw"]) for r in rejects] == [(2, "oops")]


def test_a_first_load_of_bad_lines_only_is_refused(log: Log) -> None:
    log.write(b"oops\n[]\n")
    said = re.escape("all 2 line(s) were set aside (the first: line 1, invalid json)")
    with pytest.raises(SourceRefusedError, match=said):
        log.load()


def test_a_byte_order_mark_at_the_start_is_removed_and_counted(log: Log) -> None:
    log.write(b"\xef\xbb\xbf" + record(1) + record(2))
    with log.connector.read(None) as read:
        assert ids(read.batches.read_all().to_pylist()) == [1, 2]
        assert read.coerced["byte order mark removed"] == 1


def test_observing_costs_a_stat_and_changes_with_an_append(log: Log) -> None:
    log.write(record(1))
    seen = log.connector.observe()
    assert seen.always is None and list(seen.inputs) == ["log logs/app.log"]
    assert seen.inputs["log logs/app.log"].label == f"{len(record(1))} bytes"
    log.write(record(2))
    assert log.connector.observe().inputs != seen.inputs


def test_the_position_names_the_file_and_round_trips(log: Log) -> None:
    log.write(record(1))
    log.load()
    assert log.position is not None
    data = dump_state(log.position)
    assert data["path"] == "logs/app.log" and data["offset"] == len(record(1))
    assert data["tail_bytes"] == len(record(1)) and data["state_version"] == 2
    assert data["inode"] == log.file.stat().st_ino
