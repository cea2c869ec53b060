"""`weir schedule` as a user runs it: a real scheduler process firing `weir run` every
second on a small project, a second scheduler refused, SIGTERM, a restart that catches up,
`--list`, and the errors of a schedule that cannot work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tests.e2e.conftest import Weir

pytestmark = pytest.mark.e2e

T = TypeVar("T")
RAN = ("succeeded", "failed", "timed_out", "stopped")


def shop(weir: Weir, tmp_path: Path, jobs: str, extra: str = "") -> Path:
    """`weir init`'s project with a schedule."""
    weir("init", "shop")
    project = tmp_path / "shop"
    with (project / "weir.yaml").open("a") as handle:
        handle.write(f"\nschedule:\n{extra}  jobs:\n{jobs}")
    return project


def history(project: Path) -> list[dict[str, Any]]:
    path = project / ".weir" / "logs" / "schedule.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def state(project: Path) -> dict[str, Any]:
    path = project / ".weir" / "schedule_state.json"
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded


def in_flight(project: Path, other_than: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The firing the scheduler says is running, as its state file has it."""
    found: dict[str, Any] | None = state(project).get("jobs", {}).get("every", {}).get("running")
    if found is not None and other_than is not None:
        return None if found["scheduled_for"] == other_than["scheduled_for"] else found
    return found


def wait_for(found: Callable[[], T | None], what: str, seconds: float = 120) -> T:
    """Poll until `found` gives something; the deadline only guards against a hang."""
    deadline = time.monotonic() + seconds
    while (value := found()) is None:
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)
    return value


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def no_traceback(*outputs: str) -> None:
    for output in outputs:
        assert "Traceback" not in output, output


def test_a_scheduler_runs_weir_run_refuses_a_second_and_stops_cleanly_on_sigterm(
    weir: Weir, tmp_path: Path
) -> None:
    project = shop(weir, tmp_path, '    every: {cron: "* * * * * *", run: run}\n')
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    output = tmp_path / "scheduler.out"
    with output.open("w") as sink:
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "weir", "schedule", "-p", str(project)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=env,
        )
    try:
        running = wait_for(lambda: in_flight(project), "the first firing to start")
        second = weir("schedule", "-p", str(project), check=False)
        assert second.returncode == 1
        assert f"another weir schedule is running on {project / '.weir'}" in second.stderr
        assert f"pid {scheduler.pid}" in second.stderr and "since" in second.stderr
        no_traceback(second.stdout, second.stderr)

        first = wait_for(
            lambda: next((h for h in history(project) if h["status"] in RAN), None),
            "the first firing to finish",
        )
        assert at(first["scheduled_for"]) == at(running["scheduled_for"])
        assert first["status"] == "succeeded" and first["exit_code"] == 0, first
        log = (project / first["log"]).read_text()
        assert "weir run --project" in log and "5 succeeded" in log and "# exit 0" in log

        later = wait_for(
            lambda: in_flight(project, other_than=running),
            "a later firing to be in flight",
        )
        scheduler.send_signal(signal.SIGTERM)  # a firing takes seconds: it is still running
        assert scheduler.wait(120) == 0
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    shown = output.read_text()
    no_traceback(shown)
    assert "stopping: the job in flight may finish" in shown and "weir schedule stopped" in shown
    runs = [h for h in history(project) if h["status"] in RAN]
    assert at(runs[-1]["scheduled_for"]) == at(later["scheduled_for"])
    assert runs[-1]["status"] == "succeeded", runs[-1]  # finished, not cut short
    assert all(h["status"] == "succeeded" for h in runs)
    saved = state(project)["jobs"]["every"]
    assert saved["running"] is None and at(saved["settled"]) >= at(later["scheduled_for"])
    skipped = [h for h in history(project) if h["status"] == "skipped"]
    assert skipped, "a run takes seconds, so per-second firings fell due during it"
    assert "previous firing was still running" in skipped[0]["reason"]
    listed = weir("runs", "-p", str(project)).stdout
    assert sum(line.count("succeeded") for line in listed.splitlines()) >= len(runs)


def test_a_restart_catches_up_the_latest_missed_firing(weir: Weir, tmp_path: Path) -> None:
    project = shop(weir, tmp_path, '    every: {cron: "* * * * * *", run: run}\n')
    first = weir("schedule", "--once", "-p", str(project))
    assert "0 firing(s) run" in first.stdout  # a new job starts from now: nothing missed yet
    stopped = at(state(project)["jobs"]["every"]["settled"])
    time.sleep(2.5)  # no scheduler runs: firings are missed
    second = weir("schedule", "--once", "-p", str(project))
    no_traceback(second.stdout, second.stderr)
    missed, ran, *during = history(project)
    assert missed["status"] == "missed" and missed["count"] >= 2
    assert "catch_up: latest" in missed["reason"]
    assert at(missed["first_scheduled_for"]) > stopped
    assert ran["status"] == "succeeded" and ran["caught_up"] is True
    assert at(ran["scheduled_for"]) > at(missed["scheduled_for"])
    assert "missed" in second.stdout and "caught up" in second.stdout
    assert "5 succeeded" in (project / ran["log"]).read_text()  # the run did its work
    assert all(h["status"] == "skipped" for h in during)  # per-second firings during the run


def test_list_shows_the_jobs_and_their_next_firings(weir: Weir, tmp_path: Path) -> None:
    project = shop(
        weir,
        tmp_path,
        '    nightly: {cron: "0 2 * * *", run: "run --force"}\n'
        '    weekly: {cron: "0 3 * * 0", run: run, catch_up: all}\n',
        extra="  timezone: Europe/Paris\n",
    )
    listed = weir("schedule", "--list", "-p", str(project)).stdout
    rows = {line.split("│")[1].strip(): line for line in listed.splitlines() if "│" in line}
    assert "0 2 * * *" in rows["nightly"] and "weir run --force" in rows["nightly"]
    assert " 02:00:00 CE" in rows["nightly"]  # CET or CEST: the schedule's zone
    assert "0 3 * * 0" in rows["weekly"] and "all" in rows["weekly"]
    assert "Schedule (Europe/Paris, catch-up latest)" in listed
    assert "scheduler: not running" in listed
    assert not (project / ".weir" / "schedule_state.json").exists()  # a look changes nothing


@pytest.mark.parametrize(
    ("jobs", "said", "modes"),
    [
        (
            '    nightly: {cron: "0 25 * * *", run: run}\n',
            ["schedule.jobs.nightly.cron", "'0 25 * * *'", "e.g. '0 2 * * *'"],
            [[], ["--list"], ["--once"]],
        ),
        (
            '    nightly: {cron: "0 2 * * *", run: rnu}\n',
            ["schedule.jobs.nightly.run", "'rnu'", "did you mean 'run'?"],
            [[]],
        ),
        (
            '    nightly: {cron: "0 2 * * *", run: "run --froce"}\n',
            ["schedule.jobs.nightly.run", "No such option: --froce", "weir run --help"],
            [[]],
        ),
    ],
)
def test_a_schedule_that_cannot_work_is_a_clear_error(
    weir: Weir, tmp_path: Path, jobs: str, said: list[str], modes: list[list[str]]
) -> None:
    project = shop(weir, tmp_path, jobs)
    for mode in modes:
        result = weir("schedule", *mode, "-p", str(project), check=False)
        assert result.returncode == 2, result.stdout + result.stderr
        for part in said:
            assert part in result.stderr, result.stderr
        no_traceback(result.stdout, result.stderr)
    assert not (project / ".weir" / "logs").exists()  # nothing ran


def test_a_project_without_a_schedule_says_how_to_write_one(weir: Weir, tmp_path: Path) -> None:
    weir("init", "shop")
    result = weir("schedule", "-p", str(tmp_path / "shop"), check=False)
    assert result.returncode == 2
    assert "has no 'schedule:' section" in result.stderr and "cron:" in result.stderr
    no_traceback(result.stdout, result.stderr)
