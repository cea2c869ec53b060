"""One monitor of a model at a time: its incidents are read, advanced and written back, and
two invocations interleaving would raise the same alert twice or lose a counter."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from weir.app.workspace import open_lock_file
from weir.core.errors import WeirError


class MonitorBusyError(WeirError):
    """Another `weir monitor` of the same model is running."""


@contextmanager
def monitor_lock(workspace: Path, model: str) -> Iterator[None]:
    """flock on WORKSPACE/monitor/MODEL.lock (released by the kernel when the process ends,
    however it ends), holding the holder's pid for the message a second invocation gets."""
    folder = workspace / "monitor"
    folder.mkdir(parents=True, exist_ok=True)
    with os.fdopen(open_lock_file(folder / f"{model}.lock"), "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise MonitorBusyError(
                f"another 'weir monitor {model}' or 'weir retrain {model}' is running on "
                f"{workspace} (pid {holder})",
                fix="wait for it to finish: its verdicts and decisions are recorded for both",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
