from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from weir.app import open_workspace
from weir.app.inspect import table_profile
from weir.project import load_project, scaffold_project


def test_a_version_without_a_profile_gets_one_on_demand_and_keeps_it(tmp_path: Path) -> None:
    scaffold_project(tmp_path)
    ws = open_workspace(load_project(tmp_path))
    try:
        version = ws.lake.write("legacy", pa.table({"x": [1, 2, 3]}))
        record = ws.catalog.record_version(
            "legacy",
            kind="source",
            version=version,
            row_count=3,
            fingerprint="f",
            schema=[],
            run_id=None,
            step_run_id=None,
        )
        assert ws.catalog.profile(record.id) is None
        profile = table_profile(ws, record)
        assert profile["rows"] == 3 and ws.catalog.profile(record.id) == profile
        assert table_profile(ws, record) is not None  # the second call reads what was kept
    finally:
        ws.close()


def test_profiles_can_be_turned_off_and_are_then_made_on_demand(tmp_path: Path) -> None:
    from weir.app import run_project

    scaffold_project(tmp_path)
    config = tmp_path / "weir.yaml"
    config.write_text(config.read_text() + "\nprofiles: {enabled: false}\n")
    ws = open_workspace(load_project(tmp_path))
    try:
        assert run_project(ws).ok
        record = ws.catalog.version("orders")
        assert ws.catalog.profile(record.id) is None
        assert table_profile(ws, record)["rows"] == 8
    finally:
        ws.close()
