from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from weir.app.workspace import RunInProgressError, run_lock


def hold(
    directory: str,
    ready: multiprocessing.synchronize.Event,
    release: multiprocessing.synchronize.Event,
) -> None:
    with run_lock(Path(directory)):
        ready.set()
        release.wait(30)


def test_a_second_run_on_the_same_workspace_is_refused(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=hold, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RunInProgressError, match=f"pid {holder.pid}"), run_lock(tmp_path):
            pass
    finally:
        release.set()
        holder.join(30)
    deadline = time.monotonic() + 10
    while True:  # the lock is free again once the holder is gone
        try:
            with run_lock(tmp_path):
                break
        except RunInProgressError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
