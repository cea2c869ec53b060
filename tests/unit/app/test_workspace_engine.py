"""The workspace builds the engine weir.yaml names, from the engines' registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.app.plan import build_plan
from weir.app.workspace import build_engine, open_workspace
from weir.engines import DuckDBEngine
from weir.project import ProjectFileError, load_project

FILE = """\
name: p
sources:
  orders:
    format: csv
    path: data/orders.csv
engine:
  kind: {kind}
  threads: 2
"""


def _project(root: Path, kind: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "weir.yaml").write_text(FILE.format(kind=kind))
    return root


def test_the_named_engine_is_built_with_its_settings(tmp_path: Path) -> None:
    workspace = open_workspace(load_project(_project(tmp_path, "duckdb")))
    try:
        assert isinstance(workspace.engine, DuckDBEngine) and workspace.engine.threads == 2
        assert workspace.local is workspace.engine  # ingestion reads with the same DuckDB
        assert workspace.engine.temp_directory == workspace.project.workspace / "tmp"
    finally:
        workspace.close()


def test_an_unknown_engine_names_the_key_and_suggests(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path, "duckdbb"))
    # `weir validate` (build_plan) says it too, before anything runs
    for attempt in (build_engine, open_workspace, build_plan):
        with pytest.raises(ProjectFileError) as info:
            attempt(project)
        message = str(info.value)
        assert "weir.yaml: engine.kind: unknown engine 'duckdbb'" in message
        assert "did you mean 'duckdb'?" in message
    assert not (tmp_path / ".weir" / "catalog.db").exists()  # refused before opening it
