"""File sources through the source step: new files only, changed files, schema contracts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.integration.sources import run, table, write_project


def drop(root: Path, name: str, text: str) -> None:
    (root / "in").mkdir(parents=True, exist_ok=True)
    (root / "in" / name).write_text(text)


def project(root: Path, **settings: Any) -> Path:
    source = {"format": "csv", "path": "in/*.csv", "incremental": True, **settings}
    return write_project(root, {"events": source})


def test_only_new_files_are_loaded_and_appended(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    drop(root, "a.csv", "id,v\n1,10\n2,20\n")
    first = run(root)["source:events"]
    assert first["status"] == "succeeded", first["error"]
    drop(root, "b.csv", "id,v\n3,30\n")
    second = run(root)["source:events"]
    assert (
        second["summary"]["new_rows"] == 1 and second["summary"]["incremental"] == "1 new file(s)"
    )
    assert sorted(table(root, "events").column("id").to_pylist()) == [1, 2, 3]
    # unchanged files: the step is skipped by the cache, and forced it loads nothing
    assert run(root)["source:events"]["status"] == "skipped"
    forced = run(root, force=True)["source:events"]
    assert forced["summary"]["incremental"] == "nothing new"
    assert table(root, "events").num_rows == 3


def test_a_changed_file_is_refused_or_reloads_everything(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    drop(root, "a.csv", "id,v\n1,10\n")
    run(root)
    drop(root, "a.csv", "id,v\n1,11\n")
    report = run(root)["source:events"]
    assert (
        report["status"] == "failed" and "in/a.csv changed since it was loaded" in report["error"]
    )
    assert "on_change: reload" in report["error"]
    assert table(root, "events").column("v").to_pylist() == [10]

    project(root, on_change="reload")
    report = run(root)["source:events"]
    assert report["status"] == "succeeded", report["error"]
    assert table(root, "events").column("v").to_pylist() == [11]


def test_an_added_column_is_a_new_schema_version(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    drop(root, "a.csv", "id,v\n1,10\n")
    run(root)
    drop(root, "b.csv", "id,v,note\n2,20,hi\n")
    report = run(root)["source:events"]
    assert report["status"] == "succeeded", report["error"]
    assert report["summary"]["schema"] == "v2: added note"
    rows = sorted(table(root, "events").to_pylist(), key=lambda r: r["id"])
    assert rows == [{"id": 1, "v": 10, "note": None}, {"id": 2, "v": 20, "note": "hi"}]


def test_a_removed_column_is_refused_unless_declared(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    drop(root, "a.csv", "id,v\n1,10\n")
    run(root)
    drop(root, "b.csv", "id\n2\n")
    report = run(root)["source:events"]
    assert report["status"] == "failed" and "v are missing from this load" in report["error"]
    project(root, schema_policy={"removed_columns": "evolve"})
    report = run(root)["source:events"]
    assert report["status"] == "succeeded", report["error"]
    assert sorted(table(root, "events").to_pylist(), key=lambda r: r["id"])[1] == {
        "id": 2,
        "v": None,
    }


def test_type_changes_follow_the_policy(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    drop(root, "a.csv", "id,v\n1,10\n")
    run(root)
    drop(root, "b.csv", "id,v\n2,2.5\n3,x\n")
    report = run(root)["source:events"]
    assert (
        report["status"] == "failed" and "column v: int64 -> string changed type" in report["error"]
    )

    project(root, schema_policy={"type_changes": "quarantine"})
    report = run(root)["source:events"]
    assert report["status"] == "succeeded", report["error"]
    assert report["summary"]["quarantined_rows"] == 2  # neither 2.5 nor x is an int64
    assert sorted(table(root, "events").column("id").to_pylist()) == [1]
    bad = table(root, "events__quarantine").to_pylist()
    assert {r["error_type"] for r in bad} == {"SCHEMA"}


def test_widening_rewrites_the_stored_rows(tmp_path: Path) -> None:
    root = project(tmp_path / "p", schema_policy={"type_changes": "evolve"})
    drop(root, "a.csv", "id,v\n1,10\n")
    run(root)
    drop(root, "b.csv", "id,v\n2,2.5\n")
    report = run(root)["source:events"]
    assert report["status"] == "succeeded", report["error"]
    assert report["summary"]["schema"] == "v2: widened v to double"
    data = table(root, "events")
    assert str(data.schema.field("v").type) == "double"
    assert sorted(data.column("v").to_pylist()) == [2.5, 10.0]


def test_quarantine_accumulates_across_incremental_loads(tmp_path: Path) -> None:
    root = project(tmp_path / "p", columns={"id": "int64", "v": "int64"})
    drop(root, "a.csv", "id,v\n1,10\n2,x\n")
    run(root)
    drop(root, "b.csv", "id,v\n3,30\n4,y\n")
    report = run(root)["source:events"]
    assert report["summary"]["quarantined_rows"] == 1
    bad = table(root, "events__quarantine").to_pylist()
    assert sorted((r["file"], r["raw"]) for r in bad) == [("in/a.csv", "2,x"), ("in/b.csv", "4,y")]


def test_long_loads_report_rows_bytes_and_rate(tmp_path: Path) -> None:
    from weir.app import open_workspace, run_project
    from weir.project import load_project

    root = project(tmp_path / "p")
    drop(root, "a.csv", "id,v\n" + "".join(f"{i},{i}\n" for i in range(200_000)))
    seen: list[str] = []
    workspace = open_workspace(load_project(root))
    try:
        run_project(workspace, on_progress=seen.append)
    finally:
        workspace.close()
    assert seen and all(re.fullmatch(r"[\d,]+ rows · [\d,.]+ MB · [\d,]+ rows/s", t) for t in seen)


def test_a_widening_incremental_load_adds_to_the_quarantine(tmp_path: Path) -> None:
    root = project(tmp_path / "p", schema_policy={"type_changes": "evolve"})
    drop(root, "a.csv", "id,v\n1,10\n2,3,4\n")
    run(root)
    drop(root, "b.csv", "id,v\n3,2.5\n4,5,6\n")
    report = run(root)["source:events"]
    assert report["status"] == "succeeded", report["error"]
    assert report["summary"]["schema"] == "v2: widened v to double"
    assert table(root, "events__quarantine").num_rows == 2
