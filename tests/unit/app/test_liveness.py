"""A run's process is told apart from a later one that got its pid: by host, boot and start
time. Only a process that is certainly gone makes a run 'died'."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from weir.app.liveness import process_state, reap_dead_runs, this_process
from weir.catalog import Catalog, RunProcess

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def finished_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_this_process_is_alive() -> None:
    assert process_state(this_process()) == "alive"


@linux_only
def test_a_reused_pid_is_not_the_run_s_process() -> None:
    me = this_process()
    assert me.start_ticks is not None and me.boot_id is not None
    assert process_state(replace(me, start_ticks=me.start_ticks - 1)) == "gone"
    assert process_state(replace(me, boot_id="another-boot")) == "gone"


def test_a_finished_process_is_gone_and_another_host_cannot_be_judged() -> None:
    assert process_state(RunProcess(finished_pid(), socket.gethostname())) == "gone"
    assert process_state(RunProcess(os.getpid(), "some-other-host")) == "unknown"


def test_reaping_marks_only_runs_whose_process_is_gone(tmp_path: Path) -> None:
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        dead = RunProcess(finished_pid(), socket.gethostname(), None, None)
        killed = catalog.start_run("p", "0", {}, {}, process=dead)
        step = catalog.start_step(killed, "source:orders", "source")
        alive = catalog.start_run("p", "0", {}, {}, process=this_process())
        elsewhere = catalog.start_run("p", "0", {}, {}, process=RunProcess(1, "other-host"))
        old = catalog.start_run("p", "0", {}, {})  # an older Weir recorded no process

        died = reap_dead_runs(catalog, lock_held=False, by="weir runs")
        assert [d.run_id for d in died] == [killed]
        assert f"process {dead.pid}" in died[0].note and "during source:orders" in died[0].note
        record = catalog.run(killed)
        assert record.status == "died" and record.note == died[0].note
        assert [s.status for s in record.steps] == ["died"] and step == record.steps[0].id
        statuses = {r.id: r.status for r in catalog.runs()}
        assert statuses[alive] == statuses[elsewhere] == statuses[old] == "running"

        # holding the workspace lock, a run with no recorded process cannot be alive
        assert [d.run_id for d in reap_dead_runs(catalog, lock_held=True, by="run 9")] == [old]
    finally:
        catalog.close()
