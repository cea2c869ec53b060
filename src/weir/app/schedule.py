"""`weir schedule`: one process that runs the project's jobs on their cron expressions.

How it behaves, and why:

- **One job at a time.** `weir run`, `weir train` and `weir predict` take the workspace's
  run lock, which refuses a second writer at once rather than waiting, so two jobs side by
  side would make one of them fail. Jobs therefore run one after the other, the one that
  fell due first first; a job that fell due while another ran starts as soon as it ends.
- **Never a job beside itself.** A firing that falls due while the same job's previous
  firing still runs is skipped and recorded (`skipped`, 'overlap'): queueing it would
  start the job again at once on the data the run in flight has just handled.
- **Late firings run once.** When a job fell due several times while the worker was busy
  (or the machine slept), its latest firing runs and the others are recorded as skipped.
- **Restarts.** Per job, the time up to which every firing is settled is kept in the
  workspace (weir.app.schedule_state). At a start, the firings missed since are handled by
  the catch-up policy: `skip` records them as missed (a firing less than ON_TIME old still
  counts as on time, so a restart or a cron-driven `--once` loses nothing), `latest` runs
  the latest and records the others as missed, `all` runs each in order (the latest
  BACKLOG_LIMIT). A job that is new, or whose cron or zone changed, starts from now.
- **Stopping.** `stop()` (the CLI calls it on SIGTERM and Ctrl-C) stops firing; a job in
  flight may finish within `schedule.stop_grace_seconds`, then it is interrupted and
  recorded as `stopped`. `stop(now=True)` (a second Ctrl-C) interrupts it at once.

The clock (`clock`, aware UTC) and `sleep` are parameters, so tests run days of schedule in
milliseconds; so is `command`, which turns a job's command into the process to start.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from weir.app.schedule_cron import Cron, Window
from weir.app.schedule_lock import scheduler_lock
from weir.app.schedule_process import Limits, run_process
from weir.app.schedule_state import (
    FiringRecord,
    InFlight,
    JobState,
    LastOutcome,
    Status,
    append_history,
    firing_log_path,
    load_state,
    save_state,
)
from weir.app.workspace import owner_only
from weir.core.errors import ConfigError
from weir.project import Project
from weir.project.schedule_config import CatchUp, ScheduleConfig, ScheduleJob
from weir.project.secrets import project_secrets

ON_TIME = timedelta(seconds=60)
BACKLOG_LIMIT = 1000
_NAP_SECONDS = 0.5  # the longest single sleep, so that a stop is noticed within it
_TICK = timedelta(microseconds=1)

Clock = Callable[[], datetime]
Sleep = Callable[[float], object]
CommandLine = Callable[[Sequence[str]], list[str]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def weir_command(project: Project) -> CommandLine:
    """A job's command as a process: this Python, `-m weir`, the verb, the project, the
    arguments. `--project` goes right after the verb, so a `--` among the arguments
    cannot turn it into one."""

    def build(argv: Sequence[str]) -> list[str]:
        verb, *args = argv
        return [sys.executable, "-m", "weir", verb, "--project", str(project.file), *args]

    return build


def schedule_of(project: Project) -> ScheduleConfig:
    """The project's `schedule:` section; without one, say how to write it."""
    config = project.config.schedule
    if config is None:
        raise ConfigError(
            f"{project.file} has no 'schedule:' section, so there is nothing to schedule",
            fix='add one, e.g.\nschedule:\n  jobs:\n    nightly: {cron: "0 2 * * *", run: run}',
        )
    return config


@dataclass(frozen=True)
class Started:
    """A firing whose process is starting: for the terminal."""

    job: str
    scheduled_for: datetime
    log: str
    caught_up: bool


@dataclass
class Summary:
    """What one `run()` did: firings run, and how many of them did not succeed."""

    ran: int = 0
    failed: int = 0


@dataclass
class _Track:
    """One job while the scheduler runs."""

    name: str
    job: ScheduleJob
    cron: Cron
    settled: datetime
    backlog: list[datetime] = field(default_factory=list)
    ran: tuple[datetime, datetime] | None = None  # (started, finished) of its last firing
    last: LastOutcome | None = None
    running: InFlight | None = None

    def next_due(self) -> datetime:
        return self.backlog[0] if self.backlog else self.cron.next_after(self.settled)

    def saved(self, timezone: str) -> JobState:
        # a firing waiting in the backlog is not settled: a restart catches it up
        settled = min(self.settled, self.backlog[0] - _TICK) if self.backlog else self.settled
        return JobState(
            cron=self.job.cron,
            timezone=timezone,
            settled=settled,
            running=self.running,
            last=self.last,
        )


@dataclass(frozen=True)
class JobOutlook:
    """A job as `weir schedule --list` shows it: its next firing in the schedule's zone."""

    name: str
    cron: str
    command: str
    catch_up: CatchUp
    next_firing: datetime
    last: LastOutcome | None


def outlook(project: Project, now: datetime | None = None) -> list[JobOutlook]:
    """Every job with its next firing after `now` and its last outcome; changes nothing."""
    config = schedule_of(project)
    now = now or utc_now()
    saved = load_state(project.workspace, now, keep_aside=False).jobs
    found = []
    for name, job in config.jobs.items():
        cron = Cron(job.cron, config.timezone)
        state = saved.get(name)
        found.append(
            JobOutlook(
                name=name,
                cron=job.cron,
                command=job.run,
                catch_up=config.catch_up_of(name),
                next_firing=cron.next_after(now).astimezone(cron.zone),
                last=state.last if state is not None else None,
            )
        )
    return found


def _ignore(_: object) -> None:
    return None


class Scheduler:
    """Runs one project's schedule; see the module's docstring for the rules."""

    def __init__(
        self,
        project: Project,
        *,
        clock: Clock = utc_now,
        sleep: Sleep = time.sleep,
        command: CommandLine | None = None,
        on_start: Callable[[Started], None] = _ignore,
        on_record: Callable[[FiringRecord], None] = _ignore,
        on_notice: Callable[[str], None] = _ignore,
    ) -> None:
        self.project = project
        self.config = schedule_of(project)
        self._clock, self._sleep = clock, sleep
        self._command = command or weir_command(project)
        self._on_start, self._on_record, self._on_notice = on_start, on_record, on_notice
        self._secrets = project_secrets(project.config)
        self._stop_asked: float | None = None  # time.monotonic() of the first stop()
        self._urgent = False
        self._stop_told = False
        self._tracks: list[_Track] = []
        self._started_at = clock()
        self.summary = Summary()

    @property
    def workspace(self) -> Path:
        return self.project.workspace

    def stop(self, *, now: bool = False) -> None:
        """Stop firing; the job in flight gets the grace period (none when `now`). Safe to
        call from a signal handler: it only sets fields."""
        if self._stop_asked is None:
            self._stop_asked = time.monotonic()
        if now:
            self._urgent = True

    @property
    def stopping(self) -> bool:
        return self._stop_asked is not None

    def run(self, *, once: bool = False) -> Summary:
        """Hold the workspace's scheduler lock and fire jobs until stopped; with `once`,
        run what is due at the start (catch-up included) and return."""
        owner_only(self.workspace)
        self._started_at = self._clock()
        with scheduler_lock(self.workspace, self._started_at):
            self._tracks = self._resume(self._started_at)
            self._save()
            for track in self._tracks:
                when = track.next_due().astimezone(track.cron.zone)
                self._on_notice(f"{track.name}: next firing {when:%Y-%m-%d %H:%M:%S %Z}")
            while not self.stopping:
                now = min(self._clock(), self._started_at) if once else self._clock()
                if self._fire_next(now):
                    continue
                if once:
                    break
                self._nap_until(min(t.next_due() for t in self._tracks))
            self._settle_overlaps()
        if self.stopping and not self._stop_told:
            self._stop_told = True
            self._on_notice("stopping: no job was in flight")
        return self.summary

    # -- starting: what was missed ---------------------------------------------------------

    def _resume(self, now: datetime) -> list[_Track]:
        loaded = load_state(self.workspace, now)
        if loaded.notice:
            self._on_notice(loaded.notice)
        tracks = []
        for name, job in self.config.jobs.items():
            track = _Track(name, job, Cron(job.cron, self.config.timezone), settled=now)
            saved = loaded.jobs.get(name)
            if saved is not None:
                track.last = saved.last
                if saved.running is not None:
                    self._abandoned(name, saved.running)
                if self._changed(name, saved):
                    track.last = None
                else:
                    self._catch_up(track, saved.settled, now)
            tracks.append(track)
        return tracks

    def _changed(self, name: str, saved: JobState) -> bool:
        job = self.config.jobs[name]
        was = (saved.cron, saved.timezone)
        if saved.cron is None or was == (job.cron, self.config.timezone):
            return False
        self._on_notice(
            f"{name}: its schedule changed ('{saved.cron}' in {saved.timezone} -> '{job.cron}' "
            f"in {self.config.timezone}); firings missed under the old one are not caught up"
        )
        return True

    def _abandoned(self, name: str, running: InFlight) -> None:
        self._record(
            FiringRecord(
                job=name,
                status="abandoned",
                scheduled_for=running.scheduled_for,
                started=running.started,
                log=running.log,
                reason=f"the scheduler ended while it ran (job process {running.pid}); its "
                "output so far is in its log, and 'weir runs' shows what the job did",
            )
        )

    def _catch_up(self, track: _Track, last: datetime, now: datetime) -> None:
        policy = self.config.catch_up_of(track.name)
        track.settled = last
        why = f"missed while no scheduler ran (catch_up: {policy})"
        if policy == "all":
            window = track.cron.window(last, now, keep=BACKLOG_LIMIT)
            track.backlog = list(window.latest)
            if window.total is None or window.total > len(window.latest):
                older = None if window.total is None else window.total - len(window.latest)
                before = track.cron.latest_until(window.latest[0] - _TICK)
                assert before is not None and window.first is not None
                self._group(
                    track.name,
                    "missed",
                    window.first,
                    before,
                    older,
                    f"{why}; more "
                    f"than {BACKLOG_LIMIT} were, and only the latest {BACKLOG_LIMIT} run",
                )
            return
        cutoff = now - ON_TIME if policy == "skip" else now
        window = track.cron.window(last, cutoff, keep=2)
        if window.empty:
            return
        assert window.first is not None
        if policy == "skip":
            count = window.total
            self._group(track.name, "missed", window.first, window.latest[-1], count, why)
            track.settled = window.latest[-1]
        elif window.total != 1:
            count = None if window.total is None else window.total - 1
            self._group(track.name, "missed", window.first, window.latest[-2], count, why)
            track.settled = window.latest[-2]

    # -- running: what is due --------------------------------------------------------------

    def _fire_next(self, now: datetime) -> bool:
        """Handle the job that fell due first (run it, or record its skipped firings);
        False when no job is due at `now`."""
        due = [t for t in self._tracks if t.next_due() <= now]
        if not due:
            return False
        track = min(due, key=lambda t: t.next_due())
        if track.backlog:
            self._run(track, track.backlog.pop(0))
            return True
        overlapped, rest = self._due_windows(track, now)
        if overlapped is not None:
            self._skip_overlapped(track, overlapped)
        if rest.empty:
            self._save()
            return True
        if rest.total != 1:
            assert rest.first is not None
            count = None if rest.total is None else rest.total - 1
            self._group(
                track.name,
                "skipped",
                rest.first,
                rest.latest[-2],
                count,
                "a later firing of the same job ran instead (the scheduler was busy or asleep)",
            )
        self._run(track, rest.latest[-1])
        return True

    def _skip_overlapped(self, track: _Track, overlapped: Window) -> None:
        if overlapped.empty:
            return
        assert overlapped.first is not None
        self._group(
            track.name,
            "skipped",
            overlapped.first,
            overlapped.latest[-1],
            overlapped.total,
            "fell due while the job's previous firing was still running",
        )
        track.settled = overlapped.latest[-1]

    def _settle_overlaps(self) -> None:
        """At the end: what fell due while each job's last firing ran is recorded as
        skipped now, rather than reported as missed by the next start."""
        for track in self._tracks:
            if track.ran is not None and not track.backlog and track.settled < track.ran[1]:
                self._skip_overlapped(track, track.cron.window(track.settled, track.ran[1]))
        self._save()

    def _due_windows(self, track: _Track, now: datetime) -> tuple[Window | None, Window]:
        """The unsettled firings up to `now`: those that fell due while the job's own last
        firing ran (never run), and the others (the latest of which runs)."""
        if track.ran is None or track.settled >= track.ran[1]:
            return None, track.cron.window(track.settled, now, keep=2)
        end = min(track.ran[1], now)
        return (
            track.cron.window(track.settled, end, keep=1),
            track.cron.window(end, now, keep=2),
        )

    def _run(self, track: _Track, firing: datetime) -> None:
        started = self._clock()
        log = firing_log_path(self.workspace, track.name, firing)
        shown = self._display(log)
        caught_up = firing < self._started_at
        track.settled = firing
        argv = self._command(track.job.argv)

        def spawned(pid: int) -> None:
            track.running = InFlight(scheduled_for=firing, started=started, pid=pid, log=shown)
            self._save()

        self._on_start(Started(track.name, firing, shown, caught_up))
        ended = run_process(
            argv,
            cwd=self.project.root,
            log=log,
            header=self._secrets.redact(
                f"# weir schedule: job {track.name}, scheduled for {firing.isoformat()}, "
                f"started {started.isoformat()}\n# {shlex.join(argv)}\n"
            ),
            limits=Limits(track.job.timeout_seconds, self._stop_at),
            on_spawn=spawned,
            env={"WEIR_SCHEDULE_JOB": track.name, "WEIR_SCHEDULED_FOR": firing.isoformat()},
        )
        finished = self._clock()
        track.ran, track.running = (started, finished), None
        track.last = LastOutcome(scheduled_for=firing, status=ended.status, finished=finished)
        self.summary.ran += 1
        self.summary.failed += ended.status != "succeeded"
        self._record(
            FiringRecord(
                job=track.name,
                status=ended.status,
                scheduled_for=firing,
                started=started,
                finished=finished,
                exit_code=ended.exit_code,
                log=shown,
                caught_up=caught_up,
                reason=ended.reason,
            )
        )
        self._save()

    def _stop_at(self) -> float | None:
        """When the job in flight is to be interrupted (time.monotonic()), None while no
        stop is asked. Says so once, from the scheduler's own thread."""
        if self._stop_asked is None:
            return None
        if not self._stop_told:
            self._stop_told = True
            self._on_notice(
                "stopping: the job in flight may finish within "
                f"{self.config.stop_grace_seconds:g} s (stop again to interrupt it now)"
            )
        return float("-inf") if self._urgent else self._stop_asked + self.config.stop_grace_seconds

    def _nap_until(self, moment: datetime) -> None:
        while not self.stopping:
            remaining = (moment - self._clock()).total_seconds()
            if remaining <= 0:
                return
            self._sleep(min(remaining, _NAP_SECONDS))

    # -- recording -------------------------------------------------------------------------

    def _group(
        self,
        job: str,
        status: Status,
        first: datetime,
        latest: datetime,
        count: int | None,
        reason: str,
    ) -> None:
        self._record(
            FiringRecord(
                job=job,
                status=status,
                scheduled_for=latest,
                first_scheduled_for=first,
                count=count,
                caught_up=latest < self._started_at,
                reason=reason,
            )
        )

    def _record(self, record: FiringRecord) -> None:
        # the history first: a crash before the state is saved then repeats a line (the
        # next start reports the firing as abandoned) rather than losing one
        append_history(self.workspace, record)
        self._on_record(record)

    def _save(self) -> None:
        zone = self.config.timezone
        save_state(self.workspace, {t.name: t.saved(zone) for t in self._tracks})

    def _display(self, path: Path) -> str:
        try:
            return path.relative_to(self.project.root).as_posix()
        except ValueError:
            return str(path)
