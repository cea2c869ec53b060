"""Is the process that started a run still running it? Runs killed with SIGKILL (or by a
power cut) cannot say they ended; the next command finds them and says so.

A pid alone is not enough: pids are reused, so a run records its host, the kernel's boot id
and the process's start time (from /proc, in clock ticks since boot). A run is dead when,
on its own host, no process has its pid, or the one that has it started at another time or
in another boot. A run on another host cannot be judged from here and is left alone.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from weir.catalog import Catalog, RunProcess, RunRecord

State = Literal["alive", "gone", "unknown"]


def this_process() -> RunProcess:
    return RunProcess(os.getpid(), socket.gethostname(), _boot_id(), _start_ticks(os.getpid()))


def process_state(process: RunProcess) -> State:
    """Whether `process` is still the one that runs, as far as this host can tell."""
    if process.host != socket.gethostname():
        return "unknown"
    if process.boot_id is not None and _boot_id() not in (None, process.boot_id):
        return "gone"  # the machine restarted since
    if not _pid_exists(process.pid):
        return "gone"
    if process.start_ticks is not None:
        now = _start_ticks(process.pid)
        if now is not None and now != process.start_ticks:
            return "gone"  # the pid was reused by a later process
    return "alive"


@dataclass(frozen=True)
class DiedRun:
    run_id: int
    note: str


def reap_dead_runs(catalog: Catalog, *, lock_held: bool, by: str) -> list[DiedRun]:
    """Mark runs whose process is gone as died, and say which. `lock_held`: the caller holds
    the workspace's run lock, so a run with no recorded process (an older Weir's) is dead
    too. `by` names who noticed ('run 7', 'weir runs')."""
    died = []
    for run in catalog.unfinished_runs():
        note = _death_note(run, lock_held, by)
        if note is not None:
            catalog.mark_died(run.id, note)
            died.append(DiedRun(run.id, note))
    return died


def _death_note(run: RunRecord, lock_held: bool, by: str) -> str | None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if run.process is None:
        if not lock_held:
            return None
        return f"ended without finishing (its process was not recorded); found by {by} at {when}"
    if process_state(run.process) != "gone":
        return None
    unfinished = [s.step for s in run.steps if s.status == "running"]
    during = f" during {', '.join(unfinished)}" if unfinished else ""
    return (
        f"process {run.process.pid} on {run.process.host} ended without finishing{during} "
        f"(killed?); found by {by} at {when}"
    )


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process has it
    return True


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the name may hold spaces and parentheses
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None
