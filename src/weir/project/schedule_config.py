"""The `schedule:` section of weir.yaml: which Weir commands `weir schedule` runs, and when.

A job is a cron expression and a Weir command line (`run`, `monitor fraud`, ...). Both are
checked when the file loads, so a schedule that cannot fire, or a command that is not one
of Weir's, is an error naming `schedule.jobs.NAME...` before anything runs, not a failed
firing found at 2 a.m. The command is split with shlex and handed to the job's process
as its arguments: never to a shell, so `;`, `|`, `$(...)` and globs are plain text.
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator

from weir.core.suggest import did_you_mean
from weir.project.base import Strict, check_zone

#: The commands a job may run: those that do work on the project. Not `serve`, `schedule`,
#: `demo` (long-running or about another project), nor the read-only views. `monitor` and
#: `retrain` are the monitoring loop's (issue 17).
SCHEDULABLE_COMMANDS: tuple[str, ...] = ("monitor", "predict", "retrain", "run", "train")

CatchUp = Literal["skip", "latest", "all"]

_JOB_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_EXAMPLE = "e.g. '0 2 * * *' (02:00 every day) or '*/15 * * * *' (every 15 minutes)"
_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# croniter's H (hashed) and R (random) pick a time per process: a schedule that moves
# each time the scheduler starts cannot say what it missed
_PICKED = re.compile(r"^[hr](?:$|[(/])", re.IGNORECASE)
# options the scheduler owns: the project is the scheduler's own, and help does no work
_OWNED_OPTIONS = {"-p": "the scheduler's project", "--project": "the scheduler's project"}
_HELP = ("--help", "-h")


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a cron expression Weir fires on, or None when it is one.

    Five fields (minute hour day-of-month month day-of-week), or six with seconds as the
    sixth (croniter's order), or one of the @daily-style aliases."""
    from croniter import CroniterBadCronError, CroniterBadDateError, croniter

    text = expression.strip()
    fields = text.split()
    if text.startswith("@"):
        if text.lower() not in _ALIASES:
            return f"'{expression}' is not a cron alias; the aliases are {', '.join(_ALIASES)}"
    elif len(fields) not in (5, 6):
        return (
            f"'{expression}' has {len(fields)} field(s); a cron expression has five "
            "(minute hour day-of-month month day-of-week), or six with seconds last"
        )
    elif any(_PICKED.match(token) for field in fields for token in field.split(",")):
        return f"'{expression}' uses H or R, which pick a different time in each process"
    try:
        croniter(text, datetime.now(UTC)).get_next(datetime)
    except CroniterBadDateError:
        return f"'{expression}' never fires (no date matches it)"
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        return f"'{expression}' is not a cron expression ({exc})"
    return None


def command_problem(line: str) -> str | None:
    """Why `line` is not a Weir command a job may run, or None when it is one."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        return f"'{line}' cannot be split into arguments ({exc}); close the quote"
    choices = ", ".join(SCHEDULABLE_COMMANDS)
    if not argv or not argv[0]:
        return f"say which command to run, one of: {choices}"
    verb, args = argv[0], argv[1:]
    if verb == "weir" and args:
        return f"write the command without 'weir', e.g. '{shlex.join(args)}'"
    if verb not in SCHEDULABLE_COMMANDS:
        best = did_you_mean(verb, SCHEDULABLE_COMMANDS)
        hint = f"did you mean '{best}'? " if best else ""
        return f"'{verb}' is not a command a job may run; {hint}(a job runs one of: {choices})"
    for arg in args:
        option = arg.split("=", 1)[0]
        if option in _OWNED_OPTIONS:
            return f"'{option}' is not allowed: a job runs on {_OWNED_OPTIONS[option]}"
        if option in _HELP:
            return f"'{option}' prints help and does no work; remove it"
    return None


class ScheduleJob(Strict):
    """One job: a Weir command run each time its cron expression fires."""

    cron: str = Field(description=f"when it fires, read in schedule.timezone; {_EXAMPLE}")
    run: str = Field(
        description="the Weir command without 'weir', e.g. 'run' or 'monitor fraud'; split "
        "like a shell would split it, never run by one"
    )
    catch_up: CatchUp | None = Field(
        default=None, description="this job's own catch-up policy; default schedule.catch_up"
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="a firing still running after this long is interrupted and recorded as "
        "timed out; default: no limit",
    )

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        problem = cron_problem(value)
        if problem is not None:
            raise ValueError(f"{problem}; {_EXAMPLE}")
        return value.strip()

    @field_validator("run")
    @classmethod
    def _command(cls, value: str) -> str:
        problem = command_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def argv(self) -> list[str]:
        """The command and its arguments, as the job's process receives them."""
        return shlex.split(self.run)


class ScheduleConfig(Strict):
    """`weir schedule`: one process that runs the jobs on their cron expressions."""

    timezone: str = Field(
        default="UTC",
        description="the zone cron expressions are read in (an IANA name, e.g. Europe/Paris)",
    )
    catch_up: CatchUp = Field(
        default="latest",
        description="firings missed while no scheduler ran: skip them, run the latest once, "
        "or run all of them in order",
    )
    stop_grace_seconds: float = Field(
        default=60.0,
        gt=0,
        description="on SIGTERM or Ctrl-C, how long a firing in flight may take to finish "
        "before it is interrupted",
    )
    jobs: dict[str, ScheduleJob] = Field(description="job name -> its cron and command")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("jobs")
    @classmethod
    def _jobs(cls, value: dict[str, ScheduleJob]) -> dict[str, ScheduleJob]:
        if not value:
            raise ValueError("no jobs: add one, e.g. 'nightly: {cron: \"0 2 * * *\", run: run}'")
        for name in value:
            if not _JOB_NAME.match(name):
                raise ValueError(
                    f"job name '{name}' must be lower case letters, digits, '_' and '-', "
                    "starting with a letter, at most 64 characters"
                )
        return value

    def catch_up_of(self, job: str) -> CatchUp:
        """The catch-up policy that applies to `job`."""
        return self.jobs[job].catch_up or self.catch_up
