"""What a source step finds of a killed run, and says; what it says when its stream breaks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tests.integration.sources import run, table, write_project

from weir.app import open_workspace
from weir.core.hashing import file_sha256
from weir.engines.split import QUARANTINE_SCHEMA
from weir.project import load_project

SOURCE = {
    "events": {
        "format": "csv",
        "path": "in/*.csv",
        "incremental": True,
        "columns": {"id": "int64", "v": "int64"},
    }
}


def rejects(raw: str) -> pa.Table:
    return pa.table(
        {
            "file": ["in/x.csv"],
            "line": [2],
            "byte_offset": [5],
            "column_name": ["v"],
            "error_type": ["CAST"],
            "error": ["not an int64"],
            "raw": [raw],
            "key": [None],
        },
        schema=QUARANTINE_SCHEMA,
    )


def test_the_next_run_says_what_it_recovered_from_a_killed_one(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", SOURCE)
    (root / "in").mkdir()
    (root / "in" / "a.csv").write_text("id,v\n1,10\n")
    assert run(root)["source:events"]["status"] == "succeeded"

    # what a run killed between its commit and its catalog record leaves behind: a commit
    # with the source's position and load id, its staged rejects, and the staged rejects of
    # a load that never committed
    workspace = open_workspace(load_project(root))
    try:
        lake = workspace.lake
        state = json.loads(lake.commit_metadata("events", "weir.source_state")[1])  # type: ignore[index]
        added = root / "in" / "b.csv"
        added.write_text("id,v\n2,20\n")
        state["files"]["in/b.csv"] = {"size": added.stat().st_size, "sha256": file_sha256(added)}
        state["load"] = "killedload"
        lake.write(
            "events",
            pa.table({"id": [2], "v": [20]}),
            mode="append",
            metadata={"weir.source_state": json.dumps(state), "weir.load": "killedload"},
        )
        staging = root / ".weir" / "staging" / "events"
        pq.write_table(rejects("2,x"), staging / "killedload.append.parquet")
        pq.write_table(rejects("3,y"), staging / "neverload.append.parquet")
    finally:
        workspace.close()

    report = run(root)["source:events"]
    assert report["status"] == "succeeded", report["error"]
    recovered = report["summary"]["recovered"]
    assert recovered[0].startswith("adopted events@1: a run that was stopped committed it")
    assert (
        "published 1 staged reject(s) of the committed load to events__quarantine@"
        in (recovered[1])
    )
    assert recovered[2].startswith("dropped 1 staged reject(s) of a load that never committed")
    assert sorted(table(root, "events").column("id").to_pylist()) == [1, 2]
    assert table(root, "events__quarantine").column("raw").to_pylist() == ["2,x"]
    assert not list(staging.iterdir())


def test_a_source_that_breaks_mid_stream_keeps_its_own_error(tmp_path: Path) -> None:
    """Behind a quarantine rule the stream is read by DuckDB, which wraps the source's error
    in its own; the step reports the source's (file, line, byte), not the wrapper's."""
    root = write_project(
        tmp_path / "p",
        {"events": {"format": "csv", "path": "in/*.csv", "columns": {"id": "int64", "v": "int64"}}},
        checks={"events": [{"rule": "range", "column": "v", "min": 0, "severity": "quarantine"}]},
    )
    (root / "in").mkdir()
    good = "".join(f"{i},{i % 50}\n" for i in range(150_000))
    (root / "in" / "a.csv").write_bytes(("id,v\n" + good).encode() + b"150001,5\xff\n")
    report = run(root)["source:events"]
    assert report["status"] == "failed"
    assert "line 150002" in report["error"] and "is not utf-8 text" in report["error"]
    assert "OSError" not in report["error"] and "disk" not in report["error"]


def test_a_deleted_table_folder_is_not_started_again_under_recorded_versions(
    tmp_path: Path,
) -> None:
    import shutil

    root = write_project(tmp_path / "p", SOURCE)
    (root / "in").mkdir()
    (root / "in" / "a.csv").write_text("id,v\n1,10\n")
    run(root)
    shutil.rmtree(root / ".weir" / "lake" / "events")
    report = run(root)["source:events"]
    assert report["status"] == "failed"
    assert "the catalog records versions up to 0, but the lake has no table" in report["error"]
    assert "weir catalog rebuild --force" in report["error"]
    assert not (root / ".weir" / "lake" / "events").exists()


def loaded_once(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "p", SOURCE)
    (root / "in").mkdir()
    (root / "in" / "a.csv").write_text("id,v\n1,10\n")
    assert run(root)["source:events"]["status"] == "succeeded"
    (root / "in" / "b.csv").write_text("id,v\n2,20\n")
    return root


def test_a_garbled_source_position_is_named_and_a_full_refresh_loads_past_it(
    tmp_path: Path,
) -> None:
    root = loaded_once(tmp_path)
    commit = root / ".weir" / "lake" / "events" / "_delta_log" / "00000000000000000000.json"
    lines = [json.loads(line) for line in commit.read_text().splitlines()]
    for entry in lines:
        if "commitInfo" in entry:
            entry["commitInfo"]["weir.source_state"] = "{not json"
    commit.write_text("".join(json.dumps(entry) + "\n" for entry in lines))

    report = run(root)["source:events"]
    assert report["status"] == "failed"
    assert "table 'events' version 0" in report["error"] and "weir.source_state" in report["error"]
    assert "weir run --full-refresh" in report["error"] and "unexpected" not in report["error"]
    assert run(root, full_refresh=True)["source:events"]["status"] == "succeeded"
    assert sorted(table(root, "events").column("id").to_pylist()) == [1, 2]


def test_a_file_where_the_staging_folder_goes_is_named(tmp_path: Path) -> None:
    root = loaded_once(tmp_path)
    staging = root / ".weir" / "staging" / "events"
    shutil.rmtree(staging)
    staging.write_text("x")
    report = run(root)["source:events"]
    assert report["status"] == "failed"
    assert str(staging) in report["error"] and "unexpected" not in report["error"]
    assert "fix:" in report["error"]


def test_an_unreadable_staged_file_of_a_load_that_never_committed_is_dropped_and_said(
    tmp_path: Path,
) -> None:
    root = loaded_once(tmp_path)
    staged = root / ".weir" / "staging" / "events" / "neverload.append.parquet"
    staged.write_bytes(b"not parquet" * 10)
    report = run(root)["source:events"]
    assert report["status"] == "succeeded", report["error"]
    [said] = report["summary"]["recovered"]
    assert said == (
        "dropped an unreadable staged file of a load that never committed "
        "(neverload.append.parquet)"
    )
    assert not staged.exists()


def test_unreadable_staged_rejects_of_a_committed_load_are_not_dropped_unsaid(
    tmp_path: Path,
) -> None:
    root = loaded_once(tmp_path)
    workspace = open_workspace(load_project(root))
    try:
        load = json.loads(workspace.lake.commit_metadata("events", "weir.source_state")[1])["load"]  # type: ignore[index]
    finally:
        workspace.close()
    staged = root / ".weir" / "staging" / "events" / f"{load}.overwrite.parquet"
    staged.write_bytes(b"not parquet" * 10)
    report = run(root)["source:events"]
    assert report["status"] == "failed"
    assert staged.name in report["error"] and "unexpected" not in report["error"]
    assert "fix:" in report["error"] and staged.exists()
