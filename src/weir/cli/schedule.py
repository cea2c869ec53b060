"""`weir schedule`: run the project's jobs on their cron expressions (weir.app.schedule)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from typer.core import TyperGroup

from weir.cli import render
from weir.cli.common import ProjectOption, console, handled
from weir.core.errors import ConfigError

if TYPE_CHECKING:
    from weir.app.schedule import Scheduler, Started
    from weir.app.schedule_state import FiringRecord
    from weir.project import Project
    from weir.project.schedule_config import ScheduleConfig

_STYLE = {**render.STATUS_STYLE, "missed": "yellow", "timed_out": "bold red", "stopped": "yellow"}


def schedule(
    ctx: typer.Context,
    project: ProjectOption = Path(),
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run what is due now (and what was missed, by the catch-up policy), then exit; "
            "exit 1 if a job failed.",
        ),
    ] = False,
    list_jobs: Annotated[
        bool, typer.Option("--list", help="Show the jobs and their next firings; run nothing.")
    ] = False,
) -> None:
    """Run the jobs of weir.yaml's schedule on their cron expressions, one at a time, until
    SIGTERM or Ctrl-C (the job in flight may finish first)."""
    if list_jobs:
        with handled():
            loaded, config = _load(ctx, project)
            _print_outlook(loaded, config)
        return
    stop = _StopRequest()
    with _stop_on_signals(stop), handled():  # from the start: a stop during loading counts
        loaded, config = _load(ctx, project)
        from weir.app.schedule import Scheduler

        lines = _Lines(config.timezone)
        scheduler = Scheduler(
            loaded, on_start=lines.started, on_record=lines.recorded, on_notice=lines.notice
        )
        if not stop.attach(scheduler):
            scheduler.run(once=once)
    summary = scheduler.summary
    ended = "done" if once else "stopped"
    console.print(
        f"weir schedule {ended}: {summary.ran} firing(s) run, {summary.failed} not succeeded"
    )
    if once and summary.failed:
        raise typer.Exit(1)


def _load(ctx: typer.Context, project: Path) -> tuple[Project, ScheduleConfig]:
    from weir.app.schedule import schedule_of
    from weir.project import load_project

    loaded = load_project(project)
    config = schedule_of(loaded)
    check_commands(ctx, loaded, config)
    return loaded, config


def check_commands(ctx: typer.Context, project: Project, config: ScheduleConfig) -> None:
    """Parse each job's command with Weir's own command line, as its process will: an
    unknown option or a missing argument is an error now, naming the job, not a failed
    firing at 2 a.m. (The file's loader checks the command name; only the CLI knows each
    command's options.)"""
    root = ctx.find_root()
    group = root.command
    assert isinstance(group, TyperGroup)
    for name, job in config.jobs.items():
        verb, *args = job.argv
        where = f"{project.file}: schedule.jobs.{name}.run"
        command = group.get_command(root, verb)
        if command is None:
            raise ConfigError(
                f"{where}: this Weir has no '{verb}' command",
                fix="upgrade Weir, or schedule one of: "
                + ", ".join(sorted(group.list_commands(root))),
            )
        try:
            command.make_context(verb, ["--project", str(project.file), *args], parent=root)
        except typer.TyperException as exc:
            raise ConfigError(
                f"{where}: 'weir {job.run}': {exc.format_message()}",
                fix=f"see 'weir {verb} --help'",
            ) from None


class _StopRequest:
    """SIGTERM and Ctrl-C, counted from the command's start (before the scheduler exists,
    while Weir loads) and passed on to the scheduler: the first stops firing and lets the job
    in flight finish; a second interrupts it."""

    def __init__(self) -> None:
        self.asked = 0
        self.scheduler: Scheduler | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        # a signal handler: it only sets fields (printing from here could interleave)
        self.asked += 1
        if self.scheduler is not None:
            self.scheduler.stop(now=self.asked > 1)

    def attach(self, scheduler: Scheduler) -> bool:
        """Hand stops on to `scheduler`; True when one was asked already."""
        self.scheduler = scheduler
        if self.asked:
            scheduler.stop(now=self.asked > 1)
        return self.asked > 0


@contextmanager
def _stop_on_signals(stop: _StopRequest) -> Iterator[None]:
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, action in previous.items():
            signal.signal(number, action)


class _Lines:
    """One line on the terminal per firing started, run, skipped or missed."""

    def __init__(self, zone_name: str) -> None:
        from zoneinfo import ZoneInfo

        self.zone: tzinfo = ZoneInfo(zone_name)

    def _at(self, moment: datetime, with_date: bool = True) -> str:
        local = moment.astimezone(self.zone)
        return f"{local:%Y-%m-%d %H:%M:%S %Z}" if with_date else f"{local:%H:%M:%S}"

    def _now(self) -> str:
        from weir.app.schedule import utc_now

        return f"[dim]{self._at(utc_now())}[/]"

    def notice(self, text: str) -> None:
        console.print(f"{self._now()}  {render.safe(text, lines=True)}", soft_wrap=True)

    def started(self, firing: Started) -> None:
        late = ", caught up" if firing.caught_up else ""
        console.print(
            f"{self._now()}  {render.safe(firing.job)}  started (scheduled for "
            f"{self._at(firing.scheduled_for)}{late}); log: {render.safe(firing.log)}",
            soft_wrap=True,
        )

    def recorded(self, record: FiringRecord) -> None:
        status = f"[{_STYLE.get(record.status, '')}]{record.status.replace('_', ' ')}[/]"
        console.print(
            f"{self._now()}  {render.safe(record.job)}  {status} {self._what(record)}",
            soft_wrap=True,
        )

    def _what(self, record: FiringRecord) -> str:
        if record.status in ("skipped", "missed"):
            count = "more than 10,000" if record.count is None else f"{record.count}"
            first = record.first_scheduled_for or record.scheduled_for
            span = (
                self._at(first)
                if first == record.scheduled_for
                else f"{self._at(first)} .. {self._at(record.scheduled_for)}"
            )
            return f"{count} firing(s), {span}: {render.safe(record.reason or '')}"
        took = ""
        if record.started and record.finished:
            took = f" in {(record.finished - record.started).total_seconds():.1f} s"
        code = f" (exit {record.exit_code})" if record.exit_code not in (0, None) else ""
        why = f": {render.safe(record.reason)}" if record.reason else ""
        scheduled = f" (scheduled for {self._at(record.scheduled_for, with_date=False)})"
        log = f"; log: {render.safe(record.log)}" if record.log else ""
        return f"{took.strip()}{code}{scheduled}{why}{log}"


def _print_outlook(project: Project, config: ScheduleConfig) -> None:
    from weir.app.schedule import outlook, utc_now
    from weir.app.schedule_lock import lock_holder

    now = utc_now()
    grid = Table(
        title=f"Schedule ({config.timezone}, catch-up {config.catch_up})", title_justify="left"
    )
    for column in ("job", "cron", "command", "catch-up", "next firing", "in", "last firing"):
        grid.add_column(column, overflow="fold")
    for job in outlook(project, now):
        last = ""
        if job.last is not None:
            when = job.last.scheduled_for.astimezone(job.next_firing.tzinfo)
            last = f"{when:%Y-%m-%d %H:%M:%S} {job.last.status}"
        grid.add_row(
            render.cell(job.name),
            render.cell(job.cron),
            render.cell(f"weir {job.command}"),
            job.catch_up,
            f"{job.next_firing:%Y-%m-%d %H:%M:%S %Z}",
            _until(job.next_firing - now),
            render.cell(last),
        )
    console.print(grid)
    holder = lock_holder(project.workspace)
    running = f"running ({holder.describe()})" if holder else "not running"
    console.print(f"scheduler: {render.safe(running)}")


def _until(left: timedelta) -> str:
    seconds = max(0, int(left.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value][:2]
    return " ".join(shown) or "now"
