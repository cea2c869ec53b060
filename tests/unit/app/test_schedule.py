"""The scheduler's loop on an injected clock: due firings, catch-up, no overlap, stopping.

Jobs are real processes (a line of Python instead of `python -m weir ...`, through the
scheduler's `command` seam), so what is tested is what runs; the clock is a fake one that
the test moves, and that a job's process moves by as long as the job is said to take."""

from __future__ import annotations

import itertools
import json
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from weir.app import schedule as schedule_module
from weir.app.schedule import Scheduler, Started, outlook, weir_command
from weir.app.schedule_state import (
    HISTORY_FILE,
    STATE_FILE,
    FiringRecord,
    InFlight,
    JobState,
    load_state,
    save_state,
)
from weir.core.errors import ConfigError
from weir.project import Project, load_project

START = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)


def make_project(root: Path, jobs: str, extra: str = "") -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "weir.yaml").write_text(f"name: p\nschedule:\n{extra}  jobs:\n{jobs}")
    return load_project(root)


class Clock:
    """A clock that moves only when told: by the scheduler's sleeps, and by a job."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.stop_at: datetime | None = None
        self.scheduler: Scheduler | None = None
        self.sleeps = 0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += timedelta(seconds=seconds)
        if self.stop_at is not None and self.now >= self.stop_at:
            assert self.scheduler is not None
            self.scheduler.stop()


class Jobs:
    """The `command` seam: each job's process is `python -c SCRIPT ARGV...`, and running
    it moves the clock on by what the job takes (by its first argument)."""

    def __init__(self, clock: Clock, script: str = "pass", takes: dict[str, float] | None = None):
        self.clock, self.script, self.takes = clock, script, takes or {}
        self.started: list[tuple[str, datetime]] = []

    def __call__(self, argv: Sequence[str]) -> list[str]:
        name = argv[1] if len(argv) > 1 else argv[0]
        self.started.append((name, self.clock.now))
        self.clock.now += timedelta(seconds=self.takes.get(name, 0))
        return [sys.executable, "-c", self.script, *argv]


def scheduler(
    project: Project, clock: Clock, jobs: Jobs, records: list[FiringRecord], **more: object
) -> Scheduler:
    made = Scheduler(
        project,
        clock=clock,
        sleep=clock.sleep,
        command=jobs,
        on_record=records.append,
        **more,  # type: ignore[arg-type]
    )
    clock.scheduler = made
    return made


def history(project: Project) -> list[dict[str, object]]:
    path = project.workspace / HISTORY_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def at(hour: int, minute: int, second: int = 0, day: int = 1) -> datetime:
    return datetime(2024, 5, day, hour, minute, second, tzinfo=UTC)


def test_a_due_firing_runs_its_output_is_logged_and_the_state_saved(tmp_path: Path) -> None:
    project = make_project(tmp_path, '    hourly: {cron: "0 * * * *", run: "run --x \'a b\'"}\n')
    clock = Clock(at(12, 59, 58))
    clock.stop_at = at(13, 0, 10)
    jobs = Jobs(
        clock,
        script="import os, sys; print('argv', sys.argv[1:]); print('to stderr', file=sys.stderr);"
        "print('env', os.environ['WEIR_SCHEDULE_JOB'], os.environ['WEIR_SCHEDULED_FOR'])",
    )
    records: list[FiringRecord] = []
    started: list[Started] = []
    summary = scheduler(project, clock, jobs, records, on_start=started.append).run()
    assert (summary.ran, summary.failed) == (1, 0)
    [record] = records
    assert (record.job, record.status, record.exit_code) == ("hourly", "succeeded", 0)
    assert record.scheduled_for == at(13, 0) and not record.caught_up
    assert started == [Started("hourly", at(13, 0), record.log or "", False)]
    log = (tmp_path / (record.log or "")).read_text()
    assert record.log == ".weir/logs/schedule/hourly/20240501T130000Z.log"
    assert "argv ['run', '--x', 'a b']" in log and "to stderr" in log and "# exit 0" in log
    assert "env hourly 2024-05-01T13:00:00+00:00" in log  # which firing this is
    assert history(project)[0]["status"] == "succeeded"
    saved = load_state(project.workspace, clock.now).jobs["hourly"]
    assert saved.settled == at(13, 0) and saved.running is None
    assert saved.last is not None and saved.last.status == "succeeded"


def test_a_failing_job_is_recorded_with_its_exit_code_and_error_line(tmp_path: Path) -> None:
    project = make_project(tmp_path, '    j: {cron: "* * * * *", run: run}\n')
    clock = Clock(at(12, 0, 59))
    clock.stop_at = at(12, 1, 1)
    script = "import sys; print('working'); print('error: the lake is on fire'); sys.exit(3)"
    records: list[FiringRecord] = []
    summary = scheduler(project, clock, Jobs(clock, script), records).run()
    assert (summary.ran, summary.failed) == (1, 1)
    assert (records[0].status, records[0].exit_code) == ("failed", 3)
    assert records[0].reason == "error: the lake is on fire"


def test_arguments_reach_the_process_as_written_never_through_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    project = make_project(
        tmp_path,
        f"    j:\n      cron: '* * * * *'\n      run: run '; touch {marker}' '$(touch {marker})' '|' '*'\n",
    )
    clock = Clock(at(12, 0, 59))
    clock.stop_at = at(12, 1, 1)
    records: list[FiringRecord] = []
    script = "import json, sys; print(json.dumps(sys.argv[1:]))"
    scheduler(project, clock, Jobs(clock, script), records).run()
    log = (tmp_path / (records[0].log or "")).read_text().splitlines()
    assert json.loads(log[2]) == ["run", f"; touch {marker}", f"$(touch {marker})", "|", "*"]
    assert not marker.exists()


def test_weir_jobs_run_this_python_on_this_project() -> None:
    project = Project(root=Path("/p"), file=Path("/p/weir.yaml"), config=None)  # type: ignore[arg-type]
    assert weir_command(project)(["monitor", "fraud", "--", "-x"]) == [
        sys.executable, "-m", "weir", "monitor", "--project", "/p/weir.yaml", "fraud", "--", "-x",
    ]  # fmt: skip


# -- catch-up ------------------------------------------------------------------------------


def resumed(project: Project, job: str, settled: datetime, cron: str = "0 * * * *") -> None:
    project.workspace.mkdir(parents=True, exist_ok=True)
    save_state(project.workspace, {job: JobState(cron=cron, timezone="UTC", settled=settled)})


def test_catch_up_latest_runs_the_latest_missed_firing_once(tmp_path: Path) -> None:
    project = make_project(tmp_path, '    hourly: {cron: "0 * * * *", run: run}\n')
    resumed(project, "hourly", at(2, 0))  # down from 02:00 to 12:00:30
    clock = Clock(START)
    records: list[FiringRecord] = []
    summary = scheduler(project, clock, Jobs(clock), records).run(once=True)
    missed, ran = records
    assert (missed.status, missed.count) == ("missed", 9)
    assert (missed.first_scheduled_for, missed.scheduled_for) == (at(3, 0), at(11, 0))
    assert "catch_up: latest" in (missed.reason or "")
    assert (ran.status, ran.scheduled_for, ran.caught_up) == ("succeeded", at(12, 0), True)
    assert summary.ran == 1
    assert load_state(project.workspace, clock.now).jobs["hourly"].settled == at(12, 0)


def test_catch_up_all_runs_every_missed_firing_in_order(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        '    hourly: {cron: "0 * * * *", run: "run hourly"}\n'
        '    daily: {cron: "30 9 * * *", run: "run daily", catch_up: latest}\n',
        extra="  catch_up: all\n",
    )
    project.workspace.mkdir()
    save_state(
        project.workspace,
        {
            "hourly": JobState(cron="0 * * * *", timezone="UTC", settled=at(8, 0)),
            "daily": JobState(
                cron="30 9 * * *", timezone="UTC", settled=at(9, 30, day=1) - timedelta(days=3)
            ),
        },
    )
    clock = Clock(START)
    jobs = Jobs(clock)
    records: list[FiringRecord] = []
    scheduler(project, clock, jobs, records).run(once=True)
    runs = [(r.job, r.scheduled_for) for r in records if r.status == "succeeded"]
    assert runs == [
        ("hourly", at(9, 0)),
        ("daily", at(9, 30)),  # by when each fell due, whichever job
        ("hourly", at(10, 0)),
        ("hourly", at(11, 0)),
        ("hourly", at(12, 0)),
    ]
    [missed] = [r for r in records if r.status == "missed"]
    assert (missed.job, missed.count) == ("daily", 2)
    assert all(r.caught_up for r in records)


def test_catch_up_all_runs_at_most_the_latest_backlog_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schedule_module, "BACKLOG_LIMIT", 3)
    project = make_project(
        tmp_path, '    hourly: {cron: "0 * * * *", run: run}\n', "  catch_up: all\n"
    )
    resumed(project, "hourly", at(2, 0))
    clock = Clock(START)
    records: list[FiringRecord] = []
    scheduler(project, clock, Jobs(clock), records).run(once=True)
    missed, *ran = records
    assert (missed.status, missed.count, missed.first_scheduled_for, missed.scheduled_for) == (
        "missed", 7, at(3, 0), at(9, 0),
    )  # fmt: skip
    assert [r.scheduled_for for r in ran] == [at(10, 0), at(11, 0), at(12, 0)]


def test_catch_up_skip_runs_nothing_missed_but_a_firing_under_a_minute_old(
    tmp_path: Path,
) -> None:
    project = make_project(
        tmp_path, '    hourly: {cron: "0 * * * *", run: run}\n', "  catch_up: skip\n"
    )
    resumed(project, "hourly", at(2, 0))
    clock = Clock(at(12, 5))
    records: list[FiringRecord] = []
    assert scheduler(project, clock, Jobs(clock), records).run(once=True).ran == 0
    [missed] = records
    assert (missed.status, missed.count, missed.scheduled_for) == ("missed", 10, at(12, 0))
    assert load_state(project.workspace, clock.now).jobs["hourly"].settled == at(12, 0)

    resumed(project, "hourly", at(11, 0))
    clock = Clock(START)  # 30 s after 12:00: a restart, not an outage
    records.clear()
    assert scheduler(project, clock, Jobs(clock), records).run(once=True).ran == 1
    assert [(r.status, r.scheduled_for) for r in records] == [("succeeded", at(12, 0))]


def test_a_new_job_or_a_changed_schedule_starts_from_now(tmp_path: Path) -> None:
    project = make_project(tmp_path, '    hourly: {cron: "0 * * * *", run: run}\n')
    resumed(project, "hourly", at(2, 0), cron="0 */2 * * *")
    clock = Clock(START)
    records: list[FiringRecord] = []
    notices: list[str] = []
    made = scheduler(project, clock, Jobs(clock), records, on_notice=notices.append)
    assert made.run(once=True).ran == 0
    assert records == []
    assert any("its schedule changed ('0 */2 * * *' in UTC -> '0 * * * *'" in n for n in notices)
    assert load_state(project.workspace, clock.now).jobs["hourly"].cron == "0 * * * *"


def test_a_firing_in_flight_when_the_scheduler_died_is_reported_abandoned(tmp_path: Path) -> None:
    project = make_project(tmp_path, '    hourly: {cron: "0 * * * *", run: run}\n')
    project.workspace.mkdir()
    running = InFlight(scheduled_for=at(12, 0), started=at(12, 0, 1), pid=999_999, log="x.log")
    save_state(
        project.workspace,
        {"hourly": JobState(cron="0 * * * *", timezone="UTC", settled=at(12, 0), running=running)},
    )
    clock = Clock(START)
    records: list[FiringRecord] = []
    assert scheduler(project, clock, Jobs(clock), records).run(once=True).ran == 0  # not again
    [abandoned] = records
    assert (abandoned.status, abandoned.scheduled_for, abandoned.log) == (
        "abandoned",
        at(12, 0),
        "x.log",
    )
    assert "process 999999" in (abandoned.reason or "")
    assert load_state(project.workspace, clock.now).jobs["hourly"].running is None


def test_an_unreadable_state_does_not_stop_the_scheduler(tmp_path: Path) -> None:
    project = make_project(tmp_path, '    hourly: {cron: "0 * * * *", run: run}\n')
    project.workspace.mkdir()
    (project.workspace / STATE_FILE).write_text("{torn")
    clock = Clock(START)
    notices: list[str] = []
    scheduler(project, clock, Jobs(clock), [], on_notice=notices.append).run(once=True)
    assert any("cannot be read" in n for n in notices)
    assert load_state(project.workspace, clock.now).jobs["hourly"].cron == "0 * * * *"


# -- while running ---------------------------------------------------------------------------


def test_a_job_never_runs_beside_itself_firings_during_its_run_are_skipped(tmp_path: Path) -> None:
    project = make_project(tmp_path, '    minutely: {cron: "* * * * *", run: "run minutely"}\n')
    clock = Clock(at(0, 0, 30))
    clock.stop_at = at(0, 9, 0)
    jobs = Jobs(clock, takes={"minutely": 150})  # each firing takes 2.5 minutes
    records: list[FiringRecord] = []
    scheduler(project, clock, jobs, records).run()
    assert [start for _, start in jobs.started] == [at(0, 1), at(0, 4), at(0, 7)]
    skipped = [r for r in records if r.status == "skipped"]
    assert [(r.first_scheduled_for, r.scheduled_for, r.count) for r in skipped] == [
        (at(0, 2), at(0, 3), 2),
        (at(0, 5), at(0, 6), 2),
        (at(0, 8), at(0, 9), 2),  # recorded at the stop, not left to look missed
    ]
    assert all("previous firing was still running" in (r.reason or "") for r in skipped)
    ran = [r for r in records if r.status == "succeeded"]
    for before, after in itertools.pairwise(ran):
        assert before.finished is not None and after.started is not None
        assert before.finished <= after.started


def test_jobs_run_one_at_a_time_and_a_late_one_runs_once(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        '    long: {cron: "0 * * * *", run: "run long"}\n'
        '    often: {cron: "*/5 * * * *", run: "run often"}\n',
    )
    clock = Clock(at(0, 59, 59))
    clock.stop_at = at(1, 14, 0)
    jobs = Jobs(clock, takes={"long": 12 * 60})
    records: list[FiringRecord] = []
    scheduler(project, clock, jobs, records).run()
    assert jobs.started == [("long", at(1, 0)), ("often", at(1, 12))]
    [coalesced] = [r for r in records if r.status == "skipped"]
    assert (coalesced.job, coalesced.first_scheduled_for, coalesced.scheduled_for) == (
        "often", at(1, 0), at(1, 5),
    )  # fmt: skip
    assert "a later firing of the same job ran instead" in (coalesced.reason or "")
    often = [r for r in records if r.job == "often" and r.status == "succeeded"]
    assert [r.scheduled_for for r in often] == [at(1, 10)]


def test_once_runs_what_is_due_at_the_start_and_returns(tmp_path: Path) -> None:
    project = make_project(tmp_path, '    minutely: {cron: "* * * * *", run: "run minutely"}\n')
    resumed(project, "minutely", at(12, 0), cron="* * * * *")
    clock = Clock(at(12, 1, 10))
    jobs = Jobs(clock, takes={"minutely": 600})  # ten minutes: later firings are not due
    records: list[FiringRecord] = []
    summary = scheduler(project, clock, jobs, records).run(once=True)
    assert summary.ran == 1 and clock.sleeps == 0
    assert [start for _, start in jobs.started] == [at(12, 1, 10)]


# -- stopping --------------------------------------------------------------------------------


def stop_soon(made: Scheduler, now: bool = False) -> None:
    """Ask the scheduler to stop from another thread, as a signal handler would."""
    threading.Timer(0.3, lambda: made.stop(now=now)).start()


def test_a_stop_lets_the_job_in_flight_finish_then_returns(tmp_path: Path) -> None:
    project = make_project(tmp_path, '    j: {cron: "* * * * *", run: run}\n')
    clock = Clock(at(12, 0, 59))
    records: list[FiringRecord] = []
    notices: list[str] = []
    jobs = Jobs(clock, script="import time; time.sleep(1.5); print('finished')")
    made = scheduler(project, clock, jobs, records, on_notice=notices.append)
    made._on_start = lambda started: stop_soon(made)  # type: ignore[method-assign]
    summary = made.run()
    assert summary.ran == 1 and [r.status for r in records] == ["succeeded"]
    assert "finished" in (tmp_path / (records[0].log or "")).read_text()
    assert any(n.startswith("stopping: the job in flight may finish within 60 s") for n in notices)
    assert load_state(project.workspace, clock.now).jobs["j"].running is None


def test_a_job_that_outlasts_the_grace_period_is_interrupted_and_recorded(tmp_path: Path) -> None:
    project = make_project(
        tmp_path, '    j: {cron: "* * * * *", run: run}\n', "  stop_grace_seconds: 0.5\n"
    )
    clock = Clock(at(12, 0, 59))
    records: list[FiringRecord] = []
    jobs = Jobs(clock, script="import time; print('working', flush=True); time.sleep(60)")
    made = scheduler(project, clock, jobs, records)
    made._on_start = lambda started: stop_soon(made)  # type: ignore[method-assign]
    summary = made.run()
    [record] = records
    assert record.status == "stopped" and summary.failed == 1
    assert record.exit_code is not None and record.exit_code != 0
    assert "grace period" in (record.reason or "")
    log = (tmp_path / (record.log or "")).read_text()
    assert "working" in log and "KeyboardInterrupt" in log  # SIGINT, as Ctrl-C would
    assert "interrupted: scheduler stopped" in log


def test_a_second_stop_interrupts_the_job_at_once(tmp_path: Path) -> None:
    project = make_project(tmp_path, '    j: {cron: "* * * * *", run: run}\n')
    clock = Clock(at(12, 0, 59))
    records: list[FiringRecord] = []
    made = scheduler(project, clock, Jobs(clock, script="import time; time.sleep(60)"), records)
    made._on_start = lambda started: stop_soon(made, now=True)  # type: ignore[method-assign]
    made.run()
    assert [r.status for r in records] == ["stopped"]


def test_a_job_past_its_timeout_is_interrupted(tmp_path: Path) -> None:
    project = make_project(tmp_path, '    j: {cron: "* * * * *", run: run, timeout_seconds: 0.3}\n')
    clock = Clock(at(12, 0, 59))
    clock.stop_at = at(12, 1, 1)
    records: list[FiringRecord] = []
    scheduler(project, clock, Jobs(clock, script="import time; time.sleep(60)"), records).run()
    [record] = records
    assert record.status == "timed_out" and "timeout_seconds (0.3 s)" in (record.reason or "")


# -- a look, and no schedule -------------------------------------------------------------------


def test_outlook_shows_next_firings_in_the_zone_and_changes_nothing(tmp_path: Path) -> None:
    project = make_project(
        tmp_path, '    nightly: {cron: "0 2 * * *", run: run}\n', "  timezone: Europe/Paris\n"
    )
    [job] = outlook(project, at(12, 0))
    assert job.next_firing == at(0, 0, day=2)  # 02:00 CEST
    assert job.next_firing.utcoffset() == timedelta(hours=2)
    assert (job.command, job.catch_up, job.last) == ("run", "latest", None)
    assert not project.workspace.exists()


def test_a_project_without_a_schedule_says_how_to_write_one(tmp_path: Path) -> None:
    (tmp_path / "weir.yaml").write_text("name: p\n")
    with pytest.raises(ConfigError) as refused:
        Scheduler(load_project(tmp_path))
    assert "has no 'schedule:' section" in refused.value.message
    assert refused.value.fix is not None and "cron:" in refused.value.fix
