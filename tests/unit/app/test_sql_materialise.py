"""A SQL model is built by the engine's `materialise` (the seam an engine like Spark, which
writes its own results, plugs into), with the run's commit metadata and the inputs at their
versions; a model with quarantine rules still splits its rows in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from weir.app import open_workspace, run_project
from weir.engines import Materialise, Materialised
from weir.project import load_project


def project(root: Path, checks: dict[str, Any] | None = None) -> Path:
    root.mkdir(parents=True)
    (root / "sales.csv").write_text("id,v\n1,10\n2,20\n3,-5\n")
    (root / "sql").mkdir()
    (root / "sql" / "doubled.sql").write_text("SELECT id, v * 2 AS v2 FROM sales")
    config = {
        "name": "t",
        "profiles": {"enabled": False},
        "sources": {
            "sales": {
                "format": "csv",
                "path": "sales.csv",
                "columns": {"id": "int64", "v": "int64"},
            }
        },
        "checks": checks or {},
    }
    (root / "weir.yaml").write_text(yaml.safe_dump(config))
    return root


def run_spying(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[Materialise]:
    workspace = open_workspace(load_project(root))
    asked: list[Materialise] = []
    real = workspace.engine.materialise

    def spy(request: Materialise, lake: Any) -> Materialised:
        asked.append(request)
        return real(request, lake)

    monkeypatch.setattr(workspace.engine, "materialise", spy)
    try:
        result = run_project(workspace)
        assert result.ok, [r.error for r in result.reports]
        assert workspace.lake.read("doubled", 0).column("v2").to_pylist() == [20, 40, -10]
    finally:
        workspace.close()
    return asked


def test_a_model_is_materialised_by_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [request] = run_spying(project(tmp_path / "p"), monkeypatch)
    assert request.target == "doubled" and request.mode == "overwrite"
    assert [(i.table, i.version) for i in request.inputs] == [("sales", 0)]
    # the run's commit metadata travels with the request: the lake alone can rebuild it
    assert {"weir.run", "weir.kind", "weir.parents"} <= dict(request.metadata).keys()
    assert dict(request.metadata)["weir.kind"] == "model"


def test_a_model_with_quarantine_rules_splits_its_rows_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = {"doubled": [{"rule": "not_null", "columns": ["v2"], "severity": "quarantine"}]}
    assert run_spying(project(tmp_path / "p", checks), monkeypatch) == []
