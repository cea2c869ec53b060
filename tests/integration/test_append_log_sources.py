"""An application's JSON-lines log (`kind: append_log`) through the source step, as
`weir run` loads it: appended lines appended, bad lines quarantined at their line, a
rotated log refused with nothing committed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.sources import run, table, versions, write_project


def project(root: Path) -> Path:
    source = {"kind": "append_log", "path": "logs/app.log", "columns": {"id": "int64"}}
    write_project(root, {"events": source})
    (root / "logs").mkdir()
    return root


def append(root: Path, *lines: str) -> None:
    with (root / "logs" / "app.log").open("a") as out:
        out.writelines(line + "\n" for line in lines)


def test_a_log_is_loaded_line_by_line_across_runs(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    append(root, json.dumps({"id": 1}), json.dumps({"id": 2}), "oops")
    first = run(root)["source:events"]
    assert first["status"] == "succeeded", first["error"]
    assert first["summary"]["rows"] == 2 and first["summary"]["quarantined_rows"] == 1
    assert first["summary"]["lines"]["read"] == 3  # the run's line account
    [bad] = table(root, "events__quarantine").to_pylist()
    assert (bad["line"], bad["byte_offset"], bad["error_type"]) == (3, 20, "INVALID JSON")

    # an unchanged log is seen by one stat (its size, inode, mtime): the step is skipped
    assert run(root)["source:events"]["status"] == "skipped"
    append(root, json.dumps({"id": 3}))
    third = run(root)["source:events"]
    assert third["summary"]["new_rows"] == 1, third
    assert sorted(table(root, "events").column("id").to_pylist()) == [1, 2, 3]


def test_a_rotated_log_fails_the_step_and_a_full_refresh_starts_over(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    append(root, json.dumps({"id": 1}), json.dumps({"id": 2}))
    run(root)
    before = versions(root, "events")
    (root / "logs" / "app.log").write_text(json.dumps({"id": 9}) + "\n")
    report = run(root)["source:events"]
    assert report["status"] == "failed" and "truncated or rotated" in report["error"]
    assert versions(root, "events") == before
    refreshed = run(root, full_refresh=True)["source:events"]
    assert refreshed["status"] == "succeeded", refreshed["error"]
    assert table(root, "events").column("id").to_pylist() == [9]
