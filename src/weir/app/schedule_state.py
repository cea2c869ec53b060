"""What `weir schedule` keeps in the workspace: its state, and the history of its firings.

- `schedule_state.json`: per job, the time up to which every firing is settled (run or
  recorded as skipped), the firing in flight, and the last outcome. Written whole to a
  temporary file and renamed over the old one, so a crash leaves the old state or the new,
  never half of one. A restart reads it to know what it missed.
- `logs/schedule.jsonl`: one JSON line per firing run (and one per group of firings
  skipped or missed), appended and never rewritten, for people and tools to read.

A state file that cannot be read (edited by hand, a damaged disk) does not stop the
scheduler: it is kept aside as `schedule_state.json.unreadable-TIME`, each job's settled
time is recovered from the history (the newest firing it records), and the scheduler says
so. Without either, jobs start afresh: nothing before the start is caught up.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from weir.core.errors import WRITE_FIXES, WeirError

STATE_FILE = "schedule_state.json"
HISTORY_FILE = Path("logs") / "schedule.jsonl"
FIRING_LOGS = Path("logs") / "schedule"

Status = Literal["succeeded", "failed", "timed_out", "stopped", "abandoned", "skipped", "missed"]


@dataclass(frozen=True)
class FiringRecord:
    """One line of the history: a firing run, or a group of firings not run.

    `scheduled_for` is the firing (for a group, the latest of it, `first_scheduled_for`
    the earliest, `count` how many; None: more than weir.app.schedule_cron.COUNT_LIMIT).
    `caught_up`: the firing fell due before this scheduler started."""

    job: str
    status: Status
    scheduled_for: datetime
    count: int | None = 1
    first_scheduled_for: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    exit_code: int | None = None
    log: str | None = None
    caught_up: bool = False
    reason: str | None = None

    def to_json(self) -> str:
        fields = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in asdict(self).items()
        }
        return json.dumps(fields, ensure_ascii=False)


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InFlight(_State):
    """A firing started and not yet finished: found at a start, the scheduler before
    ended while it ran."""

    scheduled_for: AwareDatetime
    started: AwareDatetime
    pid: int
    log: str


class LastOutcome(_State):
    scheduled_for: AwareDatetime
    status: str
    finished: AwareDatetime | None = None


class JobState(_State):
    cron: str | None  # None: recovered from the history, which does not say
    timezone: str | None
    settled: AwareDatetime  # every firing at or before it is run or recorded
    running: InFlight | None = None
    last: LastOutcome | None = None


class _StateFile(_State):
    format: Literal[1] = 1
    jobs: dict[str, JobState]


@dataclass(frozen=True)
class LoadedState:
    jobs: dict[str, JobState]
    notice: str | None = None  # what was wrong with the state file and what was done


def load_state(workspace: Path, now: datetime, *, keep_aside: bool = True) -> LoadedState:
    """The saved state; for an unreadable file the history stands in, and the file is kept
    aside (`keep_aside`: the scheduler is about to write a new one; a look leaves it)."""
    path = workspace / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        recovered = settled_from_history(workspace)
        if not recovered:
            return LoadedState({})
        return LoadedState(
            recovered, f"{path} is missing; each job's last firing was read from the history"
        )
    except (OSError, UnicodeDecodeError) as exc:
        return _unreadable(workspace, path, now, str(exc), keep_aside)
    try:
        return LoadedState(dict(_StateFile.model_validate_json(text).jobs))
    except ValidationError as exc:
        why = exc.errors(include_url=False)[0]["msg"]
        return _unreadable(workspace, path, now, why, keep_aside)


def _unreadable(
    workspace: Path, path: Path, now: datetime, why: str, keep_aside: bool
) -> LoadedState:
    kept = "it will be kept aside when the scheduler starts"
    if keep_aside:
        aside = path.with_name(f"{path.name}.unreadable-{now:%Y%m%dT%H%M%SZ}")
        try:
            path.replace(aside)
            kept = f"kept as {aside}"
        except OSError as exc:
            kept = f"it could not be kept aside ({exc.strerror})"
    recovered = settled_from_history(workspace)
    source = "from the history" if recovered else "afresh (no history either)"
    return LoadedState(
        recovered,
        f"{path} cannot be read ({why}); {kept}; jobs start {source}, and firings missed "
        "before the last one the history records are not caught up",
    )


def settled_from_history(workspace: Path) -> dict[str, JobState]:
    """Per job, the newest firing the history records (lines that do not parse, such as a
    last line cut short, are passed over)."""
    newest: dict[str, datetime] = {}
    try:
        lines = (workspace / HISTORY_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    for line in lines.splitlines():
        try:
            item = json.loads(line)
            job, when = str(item["job"]), datetime.fromisoformat(item["scheduled_for"])
        except (ValueError, KeyError, TypeError):
            continue
        if when.tzinfo is not None and (job not in newest or when > newest[job]):
            newest[job] = when.astimezone(UTC)
    return {job: JobState(cron=None, timezone=None, settled=when) for job, when in newest.items()}


def save_state(workspace: Path, jobs: dict[str, JobState]) -> None:
    """Write the state atomically: a temporary file, flushed to disk, renamed over."""
    path = workspace / STATE_FILE
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = _StateFile(jobs=jobs).model_dump_json(indent=2)
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except OSError as exc:
        raise _not_written(path, exc) from None
    _sync_directory(workspace)


def append_history(workspace: Path, record: FiringRecord) -> None:
    """One line at the end of the history, on disk before the call returns."""
    path = workspace / HISTORY_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(record.to_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise _not_written(path, exc) from None


def _not_written(path: Path, error: OSError) -> WeirError:
    return WeirError(
        f"the scheduler cannot write {path}: {error.strerror or error}",
        fix=WRITE_FIXES.get(error.errno or 0, "check that you may write to the workspace"),
    )


def firing_log_path(workspace: Path, job: str, scheduled_for: datetime) -> Path:
    """A new file for one firing's output: logs/schedule/JOB/YYYYMMDDTHHMMSSZ.log (with
    -2, -3 ... when that firing ran before)."""
    folder = workspace / FIRING_LOGS / job
    folder.mkdir(parents=True, exist_ok=True)
    stamp = scheduled_for.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    path, attempt = folder / f"{stamp}.log", 1
    while path.exists():
        attempt += 1
        path = folder / f"{stamp}-{attempt}.log"
    return path


def _sync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
