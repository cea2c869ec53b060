from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from weir.app.workspace import RunInProgressError, run_lock
from weir.core.errors import WeirError


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
    deadline = time.monotonic() + 60  # bounds a hang only: a busy machine is slow to reap
    while True:  # the lock is free again once the holder is gone
        try:
            with run_lock(tmp_path):
                break
        except RunInProgressError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_lock_file_that_is_a_symlink_out_of_the_workspace_is_not_written_through(
    tmp_path: Path,
) -> None:
    workspace, outside = tmp_path / "ws", tmp_path / "precious.txt"
    workspace.mkdir()
    outside.write_text("not Weir's\n")
    (workspace / "run.lock").symlink_to(outside)
    with (
        pytest.raises(WeirError, match=r"run\.lock is a symbolic link") as caught,
        run_lock(workspace),
    ):
        pass
    assert "delete" in (caught.value.fix or "")
    assert outside.read_text() == "not Weir's\n"  # the pid was not written through the link


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_lock_path_that_is_not_a_file_is_named(tmp_path: Path, kind: str) -> None:
    lock = tmp_path / "run.lock"
    lock.mkdir() if kind == "directory" else os.mkfifo(lock)
    with (
        pytest.raises(WeirError, match=rf"{lock} is a {kind}, not Weir's lock file"),
        run_lock(tmp_path),
    ):
        pass
