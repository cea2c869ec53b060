"""One scheduler per workspace: `schedule.lock`, held with flock while `weir schedule` runs.

Two schedulers on one workspace would each fire every job, so the second refuses at once,
naming the first (pid, host, since when). The kernel releases an flock when its process
ends however it ends, so a held lock always belongs to a live scheduler and a killed one
leaves nothing to clean up. The file is opened without following a symbolic link (the pid
is written into it) and is closed in the jobs' processes (O_CLOEXEC): a job left running by
a killed scheduler does not keep the next one out.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from weir.core.errors import WeirError

LOCK_FILE = "schedule.lock"


class SchedulerRunningError(WeirError):
    """Another `weir schedule` holds the workspace's scheduler lock."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the scheduler lock."""

    pid: int
    host: str
    since: datetime

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, since {self.since:%Y-%m-%d %H:%M:%S %Z}"


@contextmanager
def scheduler_lock(workspace: Path, since: datetime) -> Iterator[None]:
    """Hold the workspace's scheduler lock, or raise SchedulerRunningError at once."""
    path = workspace / LOCK_FILE
    with os.fdopen(_open_lock(path), "r+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _parse(handle.read())
            who = holder.describe() if holder else "its pid is not recorded yet"
            raise SchedulerRunningError(
                f"another weir schedule is running on {workspace} ({who})",
                fix="one scheduler per workspace runs every job; stop that one first "
                f"({'kill -TERM ' + str(holder.pid) if holder else 'see ps'}) or leave it running",
            ) from None
        mine = Holder(os.getpid(), socket.gethostname(), since)
        _write(handle, json.dumps({"pid": mine.pid, "host": mine.host, "since": since.isoformat()}))
        try:
            yield
        finally:
            _write(handle, "")  # a clean stop leaves no holder behind
            fcntl.flock(handle, fcntl.LOCK_UN)


def lock_holder(workspace: Path) -> Holder | None:
    """The scheduler running on `workspace`, as far as can be told without taking its lock
    (taking it, even for an instant, could refuse a scheduler starting at that moment):
    the holder the lock file names, if that process exists on this host."""
    try:
        holder = _parse((workspace / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    if holder is None or holder.host != socket.gethostname():
        return holder
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process has that pid
    return holder


def _write(handle: IO[str], text: str) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(text)
    handle.flush()


def _parse(text: str) -> Holder | None:
    try:
        item = json.loads(text)
        return Holder(int(item["pid"]), str(item["host"]), datetime.fromisoformat(item["since"]))
    except (ValueError, KeyError, TypeError):
        return None


def _open_lock(path: Path) -> int:
    """A descriptor of the lock file, which must be a plain file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise WeirError(
                f"{path} is a symbolic link, not Weir's scheduler lock; Weir writes its pid "
                "there and does not follow links out of the workspace",
                fix=f"delete the link ({path}); Weir creates the lock file again",
            ) from None
        raise WeirError(
            f"the scheduler lock {path} cannot be opened: {os.strerror(exc.errno or 0)}",
            fix=f"check that you may write to {path.parent}, and that {path} is a file",
        ) from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise WeirError(
            f"{path} is not a plain file, so it cannot be Weir's scheduler lock",
            fix=f"remove it ({path}); Weir creates the lock file again",
        )
    return descriptor
