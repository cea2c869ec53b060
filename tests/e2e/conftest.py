from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Weir = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def weir(tmp_path: Path) -> Weir:
    """Run the weir command in a subprocess, as a user would; returns the finished process."""

    def run(
        *args: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        result = subprocess.run(
            [sys.executable, "-m", "weir", *args],
            cwd=cwd or tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"weir {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    return run


def statuses(output: str) -> dict[str, str]:
    """step name -> status, from `weir run` output lines."""
    found = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("succeeded", "skipped", "failed", "blocked", "planned"):
            found[parts[1]] = parts[0]
    return found
