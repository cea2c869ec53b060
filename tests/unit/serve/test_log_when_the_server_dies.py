"""A server killed while its answers sit in the pipe or in the writer: the writer still
writes them all, under CPU contention too, and whether or not anyone reads its reports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable
from tests.unit.serve.test_prediction_log import KINDS, ROW, as_sent

from weir.serve.log import PredictionLog


def rows_in(path: Path) -> int:
    return DeltaTable(str(path)).to_pyarrow_table().num_rows if path.exists() else 0


def wait_for_exit(log: PredictionLog, seconds: float = 60) -> int | None:
    try:
        return log._process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie its new parent has yet to reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def server_dies(log: PredictionLog) -> None:
    """What a SIGKILL of the server does to the pipe: its write end closes, nothing else."""
    assert log._process.stdin is not None
    log._process.stdin.close()


def can_leave_sched_idle() -> bool:
    """Linux lets a task leave SCHED_IDLE only with CAP_SYS_NICE or RLIMIT_NICE 20."""
    probe = (
        "import os; os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0)); "
        "os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))"
    )
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


@pytest.fixture
def busy_cpus() -> Iterator[None]:
    """More busy processes than cores, in this session (so in the writer's scheduling
    group): the load under which a killed server's answers were found unwritten."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(2 * (os.cpu_count() or 1) + 2)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


@pytest.mark.skipif(not can_leave_sched_idle(), reason="needs CAP_SYS_NICE or RLIMIT_NICE 20")
def test_a_killed_servers_answers_are_written_under_cpu_contention(
    tmp_path: Path, busy_cpus: None
) -> None:
    """At the lowest priority, the writer got no CPU at all under this load: 0 of 13
    answers written in 60 s. Lifted when the pipe closes, it writes them promptly."""
    path = tmp_path / "log"
    log = PredictionLog(path, KINDS, flush_rows=10_000, flush_seconds=60, model="m")
    time.sleep(1)  # the writer is up (and at its lowest priority) before the load matters
    for i in range(13):
        log.add(f"r{i}", 1, as_sent(ROW), {"prediction": 1.0}, 0.1)
    server_dies(log)
    assert wait_for_exit(log) == 0
    assert rows_in(path) == 13


SERVER = """
import sys, time
sys.path[:0] = {paths!r}
from tests.unit.serve.test_prediction_log import KINDS, ROW, as_sent
from weir.serve.log import PredictionLog
log = PredictionLog({path!r}, KINDS, flush_rows=10, flush_seconds=60, model="m")
for i in range(10):
    log.add(f"a{{i}}", 1, as_sent(ROW), {{"prediction": 1.0}}, 0.1)
while log.written < 10:
    time.sleep(0.05)
for i in range(5):
    log.add(f"b{{i}}", 1, as_sent(ROW), {{"prediction": 1.0}}, 0.1)
print(log._process.pid, flush=True)
time.sleep(600)
"""


def test_a_writer_whose_server_is_gone_writes_without_a_traceback(tmp_path: Path) -> None:
    """A killed server reads no reports: the writer's report of its last write met a
    broken pipe and ended it with a traceback (and a failed write's report would have
    ended it with the answers unwritten)."""
    path = tmp_path / "log"
    paths = [str(Path.cwd()), *sys.path]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(paths=paths, path=str(path))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stderr is not None
    writer = int(server.stdout.readline())
    server.kill()  # the writer, its child, lives on: its stdin and stdout pipes are closed
    server.wait()
    deadline = time.monotonic() + 60
    while alive(writer) and time.monotonic() < deadline:
        time.sleep(0.1)
    errors = server.stderr.read()  # the writer's stderr too, until it exits
    assert rows_in(path) == 15
    assert "Traceback" not in errors, errors


def test_a_last_write_that_fails_is_set_aside_and_written_by_the_next_writer(
    tmp_path: Path,
) -> None:
    """The table cannot be written when the server stops (here: a file where its Delta log
    should be, put there after the server started: a damaged log is refused at start); the
    answers go to a file beside it, not away."""
    path = tmp_path / "log"
    log = PredictionLog(path, KINDS, flush_rows=10_000, flush_seconds=60, model="m")
    path.mkdir()
    (path / "_delta_log").write_text("not a folder")
    for i in range(3):
        log.add(f"a{i}", 1, as_sent(ROW), {"prediction": 1.0}, 0.1)
    log.close()
    assert log._process.returncode == 1
    (kept,) = tmp_path.glob("log.unwritten-*.jsonl")
    assert len(kept.read_bytes().splitlines()) == 3
    (path / "_delta_log").unlink()  # the disk is fixed; the server starts again
    log = PredictionLog(path, KINDS, flush_rows=10_000, flush_seconds=60, model="m")
    log.add("b0", 1, as_sent(ROW), {"prediction": 1.0}, 0.1)
    log.close()
    table = DeltaTable(str(path)).to_pyarrow_table()
    assert sorted(table.column("request_id").to_pylist()) == ["a0", "a1", "a2", "b0"]
    assert not list(tmp_path.glob("log.*"))
