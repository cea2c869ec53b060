"""Run a project's sources in-process, as `weir run` does, and read what they committed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from weir.app import open_workspace, run_project
from weir.project import load_project


def write_project(root: Path, sources: dict[str, Any], **extra: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = {"name": "t", "sources": sources, "profiles": {"enabled": False}, **extra}
    (root / "weir.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def run(root: Path, *, full_refresh: bool = False, force: bool = False) -> dict[str, Any]:
    """Run every step; return step name -> report (status, summary, error)."""
    workspace = open_workspace(load_project(root))
    try:
        result = run_project(workspace, full_refresh=full_refresh, force=force)
    finally:
        workspace.close()
    return {
        r.step.name: {
            "status": r.status,
            "summary": r.summary.as_record() if r.summary else {},
            "error": r.error or "",
        }
        for r in result.reports
    }


def table(root: Path, name: str) -> pa.Table:
    workspace = open_workspace(load_project(root))
    try:
        record = workspace.catalog.current_version(name)
        assert record is not None, f"{name} was never committed"
        return workspace.lake.read(name, record.version)
    finally:
        workspace.close()


def versions(root: Path, name: str) -> list[int]:
    """The Delta versions the lake holds of a table (none when it was never written)."""
    workspace = open_workspace(load_project(root))
    try:
        return workspace.lake.versions(name)
    finally:
        workspace.close()
