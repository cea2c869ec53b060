"""The prediction log's writer process: typed columns, nothing lost on close, a dead writer
seen and survived."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from weir.core.errors import LakeError
from weir.serve.log import PredictionLog
from weir.serve.schemas import request_model

KINDS = {"amount": "number", "channel": "category", "at": "timestamp", "day": "date"}
ROW = {
    "amount": 12.5,
    "channel": "pos",
    "at": dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC),
    "day": dt.date(2026, 3, 1),
}


def as_sent(row: dict[str, object], kinds: dict[str, str] = KINDS) -> str:
    """The row as the server hands it to the log: validated, then pydantic's JSON."""
    return request_model("m", kinds).model_validate(row).model_dump_json()


def test_every_answer_is_written_with_typed_columns_on_close(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log", KINDS, flush_rows=10_000, flush_seconds=60, model="m")
    for i in range(2_500):
        log.add(
            f"r{i}",
            3,
            as_sent(ROW | {"channel": None if i % 2 else "pos"}),
            {"label": 1, "probability": 0.25},
            0.4,
        )
    log.close()
    table = DeltaTable(str(tmp_path / "log")).to_pyarrow_table()
    assert table.num_rows == 2_500 and log.written == 2_500 and log.buffered == 0
    assert table.schema.field("input_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("input_day").type == pa.date32()
    first = table.sort_by("request_id").slice(0, 1).to_pylist()[0]
    assert first["input_at"] == ROW["at"] and first["input_day"] == ROW["day"]
    assert first["model"] == "m" and first["label"] == "1" and first["version"] == 3


def test_times_are_stored_in_utc_to_the_microsecond_whatever_zone_they_came_in(
    tmp_path: Path,
) -> None:
    """The writer parses the ISO 8601 text pydantic writes: offsets, 'Z' and microseconds."""
    sent = [
        dt.datetime(
            2026, 3, 1, 10, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
        ),
        dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-8))),
        dt.datetime(1, 1, 1, tzinfo=dt.UTC),
        None,
    ]
    log = PredictionLog(tmp_path / "log", KINDS, flush_rows=10_000, flush_seconds=60, model="m")
    for i, at in enumerate(sent):
        day = None if at is None else at.date()
        log.add(f"r{i}", 1, as_sent(ROW | {"at": at, "day": day}), {"prediction": 1.0}, 0.1)
    log.close()
    rows = DeltaTable(str(tmp_path / "log")).to_pyarrow_table().sort_by("request_id").to_pylist()
    assert [r["input_at"] for r in rows] == [
        None if a is None else a.astimezone(dt.UTC) for a in sent
    ]
    assert [r["input_day"] for r in rows] == [None if a is None else a.date() for a in sent]


def test_rows_are_written_every_flush_seconds(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log", KINDS, flush_rows=10_000, flush_seconds=0.2, model="m")
    try:
        log.add("a", 1, as_sent(ROW), {"prediction": 1.0}, 0.1)
        deadline = time.monotonic() + 20
        while log.written < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.written == 1 and log.buffered == 0
    finally:
        log.close()


def test_a_dead_writer_is_reported_and_the_server_goes_on(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log", KINDS, flush_rows=10_000, flush_seconds=60, model="m")
    log._process.kill()
    log._process.wait()
    for i in range(5):
        log.add(f"r{i}", 1, as_sent(ROW), {"prediction": 1.0}, 0.1)  # never raises
    assert log.failures >= 1 and "writer stopped" in (log.last_error or "")
    assert log.buffered == 5
    log.close()


def test_a_full_pipe_keeps_answers_whole_and_in_memory_until_there_is_room(
    tmp_path: Path,
) -> None:
    """A stopped writer fills the pipe; answers larger than the pipe's atomic size go in
    pieces, and none may run into another."""
    import os
    import signal

    kinds = {"note": "text"}
    log = PredictionLog(tmp_path / "log", kinds, flush_rows=10_000, flush_seconds=60, model="m")
    os.kill(log._process.pid, signal.SIGSTOP)
    try:
        for i in range(400):  # about 4 MB: more than the pipe holds
            log.add(
                f"r{i}",
                1,
                as_sent({"note": f"{i}:" + "x" * 10_000}, kinds),
                {"prediction": 1.0},
                0.1,
            )
        assert log.buffered == 400 and len(log._waiting) > 0
    finally:
        os.kill(log._process.pid, signal.SIGCONT)
    log.close()
    table = DeltaTable(str(tmp_path / "log")).to_pyarrow_table()
    assert table.num_rows == 400 and log.failures == 0
    notes = table.column("input_note").to_pylist()
    assert sorted(int(n.split(":")[0]) for n in notes) == list(range(400))
    assert all(n.endswith("x" * 10_000) and len(n) == len(n.split(":")[0]) + 10_001 for n in notes)


def test_a_writer_that_gets_no_cpu_shows_as_stalled_until_it_writes_again(
    tmp_path: Path,
) -> None:
    """Starved of CPU (found: onnxruntime's spinning threads left the lowest-priority writer
    none at all under load), the writer makes no progress; that must be seen. A stopped
    process is the same thing, made deterministic."""
    import os
    import signal

    log = PredictionLog(tmp_path / "log", KINDS, flush_rows=10_000, flush_seconds=0.2, model="m")
    try:
        assert log.stalled_seconds() == 0.0 and log.stall_limit == 1.6
        os.kill(log._process.pid, signal.SIGSTOP)
        for i in range(3):
            log.add(f"r{i}", 1, as_sent(ROW), {"prediction": 1.0}, 0.1)
        time.sleep(log.stall_limit + 0.2)
        assert log.stalled_seconds() > log.stall_limit and log.buffered == 3
        os.kill(log._process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 20
        while log.written < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.written == 3 and log.stalled_seconds() == 0.0
        time.sleep(log.stall_limit)  # idle is not stalled: the clock starts with an answer
        log.add("late", 1, as_sent(ROW), {"prediction": 1.0}, 0.1)
        assert log.stalled_seconds() < log.stall_limit
    finally:
        os.kill(log._process.pid, signal.SIGCONT)
        log.close()


def test_a_killed_writer_loses_at_most_what_came_since_its_last_write(tmp_path: Path) -> None:
    import signal

    log = PredictionLog(tmp_path / "log", KINDS, flush_rows=10_000, flush_seconds=0.2, model="m")
    for i in range(10):
        log.add(f"a{i}", 1, as_sent(ROW), {"prediction": 1.0}, 0.1)
    deadline = time.monotonic() + 20
    while log.written < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    for i in range(3):
        log.add(f"b{i}", 1, as_sent(ROW), {"prediction": 1.0}, 0.1)
    log._process.send_signal(signal.SIGKILL)
    log._process.wait()
    rows = DeltaTable(str(tmp_path / "log")).to_pyarrow_table().num_rows
    assert 10 <= rows <= 13  # the last three were in its 0.2 s buffer, or written
    log.close()


def test_a_time_outside_years_1_to_9999_in_utc_is_refused_by_the_request_model() -> None:
    """Found while moving the log to pydantic's JSON: 0001-01-01T00:00+01:00 is year 0 in
    UTC; the model's date features (and Arrow) cannot hold it, and it was a 500."""
    import pydantic
    import pytest

    model = request_model("m", KINDS)
    sent = {"amount": 12.5, "channel": "pos", "day": "2026-03-01"}  # as JSON, as the server reads
    for text in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        with pytest.raises(pydantic.ValidationError, match="outside years 1 to 9999"):
            model.model_validate_json(json.dumps({**sent, "at": text}))
    assert model.model_validate_json(json.dumps({**sent, "at": "0001-01-01T00:00:00Z"})).at


def read_calls(pid: int) -> int:
    """The process's read system calls so far: each poll of the pipe is one."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])
    raise AssertionError("no syscr in /proc/PID/io")


def polls_while(log: PredictionLog, seconds: float, answer_every: float | None) -> int:
    before = read_calls(log._process.pid)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if answer_every is not None:
            log.add("r", 1, as_sent(ROW), {"prediction": 1.0}, 0.1)
        time.sleep(answer_every or 0.05)
    return read_calls(log._process.pid) - before


def test_the_writer_polls_busily_while_answers_flow_and_sleeps_when_they_stop(
    tmp_path: Path,
) -> None:
    """Busy polling keeps a CPU awake between requests; it must stop soon after the last
    answer, or an idle server would burn a core. Counted in polls (read calls), not time."""
    for busy, path in ((0.05, "busy"), (0.0, "sleepy")):
        log = PredictionLog(
            tmp_path / path, KINDS, 10_000, flush_seconds=0.2, busy_poll_seconds=busy
        )
        try:
            log.add("first", 1, as_sent(ROW), {"prediction": 1.0}, 0.1)
            deadline = time.monotonic() + 30
            while log.written < 1 and time.monotonic() < deadline:  # its loop is running
                time.sleep(0.05)
            assert log.written == 1
            time.sleep(0.2)  # past the busy window of that first answer
            idle = polls_while(log, 0.5, answer_every=None)
            flowing = polls_while(log, 0.5, answer_every=0.002)
            time.sleep(0.2)
            after = polls_while(log, 0.5, answer_every=None)
        finally:
            log.close()
        # sleeping polls come every 50 ms: about ten in half a second (and some reads of
        # data); busy polling makes tens of thousands when it gets the CPU
        assert idle < 60 and after < 60, (busy, idle, after)
        if busy:
            assert flowing > 2_000, flowing
        else:
            assert flowing < 400, flowing


def test_a_row_longer_than_the_json_readers_block_is_written(tmp_path: Path) -> None:
    """Text inputs of 100,000 control characters (each written as \\u0001: 600 KB a field,
    the most a request may send) make lines of megabytes when a model has a few, or
    serve.max_body_bytes is raised. pyarrow's JSON reader works in blocks of 1 MiB and
    refused a line that crosses two block boundaries ('straddling object'), and every
    later write with it: the log stopped for good, and the next server's recovery of the
    set-aside lines tripped on the same line."""
    kinds = {f"note{i}": "text" for i in range(4)}
    large = dict.fromkeys(kinds, "\x01" * 100000)  # a 2.4 MB line
    log = PredictionLog(tmp_path / "log", kinds, flush_rows=10_000, flush_seconds=60, model="m")
    for i in range(3):
        log.add(f"small{i}", 1, as_sent(dict.fromkeys(kinds, "a"), kinds), {"cluster": 1}, 0.1)
    log.add("large", 1, as_sent(large, kinds), {"cluster": 1}, 0.1)
    log.close()
    table = DeltaTable(str(tmp_path / "log")).to_pyarrow_table()
    assert table.num_rows == 4 and log.written == 4
    row = table.filter(pa.compute.equal(table.column("request_id"), "large")).to_pylist()[0]
    assert row["input_note0"] == large["note0"]
    assert not list(tmp_path.glob("log.unwritten-*"))


def logged_once(path: Path) -> None:
    log = PredictionLog(path, KINDS, flush_rows=10_000, flush_seconds=60, model="m")
    log.add("r0", 1, as_sent(ROW), {"label": 1, "probability": 0.25}, 0.4)
    log.close()


@pytest.mark.parametrize("damage", ["data file deleted", "commit garbled", "a file, not a folder"])
def test_a_damaged_log_is_refused_before_an_answer_is_appended_to_it(
    tmp_path: Path, damage: str
) -> None:
    """Appending to a version whose files are gone would carry the loss into every later
    version, and answers logged to a log that cannot be written only pile up in memory."""
    path = tmp_path / "log"
    logged_once(path)
    if damage == "data file deleted":
        [data] = path.glob("*.parquet")
        data.unlink()
        named = data.name
    elif damage == "commit garbled":
        commit = path / "_delta_log" / "00000000000000000000.json"
        commit.write_text("garbage\n")
        named = str(path)
    else:
        shutil.rmtree(path)
        path.write_text("x")
        named = str(path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(LakeError, match="prediction log") as caught:
        PredictionLog(path, KINDS, flush_rows=10_000, flush_seconds=60, model="m")
    assert named in str(caught.value) and caught.value.fix
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written or set aside


def test_each_append_names_the_model_versions_that_answered_it_one_commit_per_flush(
    tmp_path: Path,
) -> None:
    """A flush that spans a promotion holds answers of two versions: its one commit names
    both (a flush stays all or nothing); the rows' `version` column says which is which."""
    from weir.app.lake_format import COMMIT_ID_KEY, KIND_KEY, MODEL_KEY, MODEL_VERSIONS_KEY
    from weir.app.prediction_log import log_metadata
    from weir.lake.delta import _COMMIT_KEY
    from weir.serve.log import LogCommits

    assert COMMIT_ID_KEY == _COMMIT_KEY  # so the lake counts the writer's commits as Weir's
    commits = LogCommits(log_metadata("m"), MODEL_VERSIONS_KEY, COMMIT_ID_KEY)
    path = tmp_path / "log"
    for answers in ([1, 1, 2, 2, 1], [2]):  # one flush each, at close
        log = PredictionLog(path, KINDS, 10_000, 60, model="m", commits=commits)
        for i, version in enumerate(answers):
            log.add(f"r{i}", version, as_sent(ROW), {"label": 1, "probability": 0.5}, 0.1)
        log.close()
    history = sorted(DeltaTable(str(path)).history(), key=lambda entry: entry["version"])
    assert [json.loads(entry[MODEL_VERSIONS_KEY]) for entry in history] == [[1, 2], [2]]
    assert {entry[MODEL_KEY] for entry in history} == {"m"}
    assert {entry[KIND_KEY] for entry in history} == {"prediction_log"}
    assert len({entry[COMMIT_ID_KEY] for entry in history}) == 2
