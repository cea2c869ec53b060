"""The project's git state, recorded with each run and each model version."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def git_state(directory: Path) -> dict[str, Any]:
    """Commit and dirtiness of the project's repository, if it is one."""

    def git(*args: str) -> str:
        command = ["git", "-C", str(directory), *args]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit, dirty = git("rev-parse", "HEAD"), git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return {"repository": False}
    return {"repository": True, "commit": commit, "dirty": bool(dirty)}
