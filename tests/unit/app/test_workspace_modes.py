"""Workspace files are the owner's alone: the catalog (and its journal), the lake's Parquet
and commit files, artifacts, staging, the run lock, whatever library writes them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from weir.app import open_workspace, run_project
from weir.project import load_project

PROJECT = """name: p
sources:
  events:
    format: csv
    path: data/events.csv
    columns: {id: int64, amount: int64}
clean:
  events:
    rules: [{rule: drop_missing, columns: [amount]}]
checks:
  events:
    - {rule: not_null, columns: [id], severity: quarantine}
"""


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The common default (022): without Weir's own care, files would be world-readable."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def _open_to_others(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return found


def _project(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "events.csv").write_text("id,amount\n1,5\n2,\n,7\n")
    (root / "weir.yaml").write_text(PROJECT)
    (root / "sql").mkdir()
    (root / "sql" / "totals.sql").write_text("SELECT count(*) AS n FROM clean_events")
    return root


@pytest.mark.usefixtures("permissive_umask")
def test_everything_a_run_writes_is_owner_only(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    ws = open_workspace(load_project(root))
    try:
        result = run_project(ws)
        assert all(r.status == "succeeded" for r in result.reports)
        # while the catalog is open its journal files exist too
        assert _open_to_others(root / ".weir") == []
    finally:
        ws.close()
    assert {p.name for p in (root / ".weir").iterdir()} >= {"catalog.db", "lake"}
    assert _open_to_others(root / ".weir") == []


@pytest.mark.usefixtures("permissive_umask")
def test_a_workspace_left_open_by_an_older_weir_is_closed_to_others(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    workspace = root / ".weir"
    workspace.mkdir(mode=0o755)
    (workspace / "catalog.db").touch(mode=0o644)
    workspace.chmod(0o755)
    ws = open_workspace(load_project(root))
    ws.close()
    assert stat.S_IMODE(workspace.stat().st_mode) == 0o700
