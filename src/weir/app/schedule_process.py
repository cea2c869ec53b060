"""One firing's process: started, its output kept in a log file, waited for, interrupted.

Each firing runs in a process of its own (`python -m weir VERB ...`): a job that crashes,
leaks or hangs takes the scheduler with it in no case. The process is started in a session
of its own, so the Ctrl-C a terminal sends to the scheduler's process group does not reach
it: stopping the scheduler lets the job in flight finish, as promised. When a job must end
(its timeout, or the stop's grace period passed) it gets SIGINT first, which Weir's
commands take as Ctrl-C (the run is recorded as failed, its lock released), and
SIGKILL KILL_AFTER_SECONDS later if it is still there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

KILL_AFTER_SECONDS = 10.0
_POLL_SECONDS = 0.1
_ERROR_PREFIX = "error:"

Ending = Literal["succeeded", "failed", "timed_out", "stopped"]


@dataclass(frozen=True)
class Ended:
    """How a firing's process ended. `exit_code` is negative when a signal ended it."""

    status: Ending
    exit_code: int | None
    reason: str | None = None


@dataclass(frozen=True)
class Limits:
    """When to interrupt a job: `timeout` seconds after it started, or once `stop_at()`
    (a time.monotonic() instant, None while no stop is asked) has passed."""

    timeout: float | None
    stop_at: Callable[[], float | None]


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    log: Path,
    header: str,
    limits: Limits,
    on_spawn: Callable[[int], None],
    env: Mapping[str, str] | None = None,
) -> Ended:
    """Run `argv` with its output (stdout and stderr, in order) in `log`, with this
    process's environment and `env`; wait for it."""
    with log.open("x", encoding="utf-8") as out:
        out.write(header)
        out.flush()
        try:
            child = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
            )
        except OSError as exc:
            out.write(f"# could not start: {exc}\n")
            return Ended("failed", None, f"could not start the job's process: {exc.strerror}")
        on_spawn(child.pid)
        began = time.monotonic()
        ending = _wait(child, began, limits)
        _trailer(out, child.returncode, time.monotonic() - began, ending)
    return _ended(ending, child.returncode, log, limits.timeout)


def _wait(child: subprocess.Popen[bytes], began: float, limits: Limits) -> Ending | None:
    """None when the process ended by itself; else why it was interrupted."""
    while True:
        try:
            child.wait(timeout=_POLL_SECONDS)
            return None
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if limits.timeout is not None and now - began >= limits.timeout:
            interrupt(child)
            return "timed_out"
        stop_at = limits.stop_at()
        if stop_at is not None and now >= stop_at:
            interrupt(child)
            return "stopped"


def interrupt(child: subprocess.Popen[bytes]) -> None:
    """SIGINT to the job's process group, SIGKILL if it is still there after a while."""
    _signal_group(child.pid, signal.SIGINT)
    try:
        child.wait(timeout=KILL_AFTER_SECONDS)
    except subprocess.TimeoutExpired:
        _signal_group(child.pid, signal.SIGKILL)
        child.wait()


def _signal_group(pid: int, which: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended in the meantime
        os.killpg(pid, which)


def _trailer(out: IO[str], code: int | None, seconds: float, ending: Ending | None) -> None:
    why = {"timed_out": "; interrupted: timeout", "stopped": "; interrupted: scheduler stopped"}
    out.write(f"\n# exit {code} after {seconds:.1f} s{why.get(ending or '', '')}\n")


def _ended(ending: Ending | None, code: int | None, log: Path, timeout: float | None) -> Ended:
    if ending == "timed_out":
        return Ended(ending, code, f"still running after timeout_seconds ({timeout:g} s)")
    if ending == "stopped":
        return Ended(
            ending, code, "the scheduler was stopped and the job did not finish in its grace period"
        )
    if code == 0:
        return Ended("succeeded", code)
    return Ended("failed", code, last_error(log) or f"exit code {code}")


def last_error(log: Path, tail_bytes: int = 65536) -> str | None:
    """The last 'error: ...' line the job printed (Weir's commands print one when they
    fail), to say why in one line; the log has the rest."""
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, log.stat().st_size - tail_bytes))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    found = [line.strip() for line in tail.splitlines() if line.startswith(_ERROR_PREFIX)]
    return found[-1][:300] if found else None
