from __future__ import annotations

import subprocess
from pathlib import Path

from weir.app.git_state import git_state


def test_outside_a_repository(tmp_path: Path) -> None:
    assert git_state(tmp_path) == {"repository": False}


def test_commit_and_dirtiness_are_recorded(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True
        ).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "weir.yaml").write_text("name: p\n")
    git("add", ".")
    git("commit", "-qm", "first")
    head = git("rev-parse", "HEAD").strip()
    assert git_state(tmp_path) == {"repository": True, "commit": head, "dirty": False}
    (tmp_path / "weir.yaml").write_text("name: q\n")
    assert git_state(tmp_path)["dirty"] is True
