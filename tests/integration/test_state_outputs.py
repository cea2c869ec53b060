"""`weir run` notices every output of a step that is gone or changed, not only its main
table: a source's quarantine table, and each file a model version consists of."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.integration.sources import run, table, write_project

from weir.app import open_workspace
from weir.app.rebuild import rebuild_catalog
from weir.catalog import CatalogLostError
from weir.project import load_project

SOURCE = {"sales": {"format": "csv", "path": "sales.csv", "columns": {"id": "int64", "v": "int64"}}}
MODEL = {
    "quick": {
        "table": "sales",
        "target": "label",
        "task": "classification",
        "features": {"numeric": ["v"]},
        "algorithm": "logistic_regression",
    }
}


def test_a_deleted_quarantine_table_is_noticed_and_loaded_again(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", SOURCE)
    (root / "sales.csv").write_text("id,v\n1,10\n2,oops\n3,30\n")
    assert run(root)["source:sales"]["status"] == "succeeded"
    assert table(root, "sales__quarantine").num_rows == 1
    shutil.rmtree(root / ".weir" / "lake" / "sales__quarantine")

    report = run(root)["source:sales"]
    # the rejects' record is gone: not "unchanged", and not a quarantine started again at
    # version 0 under the catalog's record of version 0 of the old one
    assert report["status"] == "failed", report
    assert "table 'sales__quarantine'" in report["error"] and "fix:" in report["error"]
    workspace = open_workspace(load_project(root))
    try:  # refused before anything was committed: the table is where it was
        assert workspace.lake.latest_version("sales") == 0
    finally:
        workspace.close()


def model_files(root: Path) -> dict[str, Path]:
    workspace = open_workspace(load_project(root))
    try:
        [version] = workspace.catalog.model_versions("quick")
        onnx, report = version.details.onnx, version.details.report
        assert onnx is not None and report is not None
        return {
            "model": workspace.artifacts.resolve(version.artifact_path),
            "onnx": workspace.artifacts.resolve(onnx.path),
            "report": workspace.artifacts.resolve(report.path),
        }
    finally:
        workspace.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose model has one version (trained once for the module; copied per test)."""
    columns = {"id": "int64", "v": "int64", "label": "int64"}
    sources = {"sales": {**SOURCE["sales"], "columns": columns}}
    root = write_project(tmp_path_factory.mktemp("trained") / "p", sources, ml=MODEL)
    rows = "\n".join(f"{i},{i % 7},{int(i % 7 > 3)}" for i in range(60))
    (root / "sales.csv").write_text(f"id,v,label\n{rows}\n")
    assert run(root)["train:quick"]["status"] == "succeeded"
    return root


@pytest.mark.parametrize("part", ["model", "onnx", "report"])
@pytest.mark.parametrize("damage", ["deleted", "changed"])
def test_a_damaged_model_artifact_is_noticed_by_the_next_run(
    trained: Path, tmp_path: Path, part: str, damage: str
) -> None:
    root = tmp_path / "p"
    shutil.copytree(trained, root)
    path = model_files(root)[part]
    if damage == "deleted":
        path.unlink()
    else:
        content = bytearray(path.read_bytes())
        content[len(content) // 2] ^= 0xFF
        path.write_bytes(bytes(content))

    report = run(root)["train:quick"]
    assert report["status"] == "succeeded", report
    workspace = open_workspace(load_project(root))
    try:
        assert len(workspace.catalog.model_versions("quick")) == 2  # retrained, registered
    finally:
        workspace.close()


def test_a_step_whose_engine_trips_on_a_damaged_input_names_the_file_not_its_code(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path / "p", SOURCE)
    (root / "sales.csv").write_text("id,v\n1,10\n2,20\n")
    (root / "sql").mkdir()
    (root / "sql" / "doubled.sql").write_text("SELECT id, v * 2 AS v FROM sales\n")
    assert run(root)["sql:doubled"]["status"] == "succeeded"
    [data] = (root / ".weir" / "lake" / "sales").glob("*.parquet")
    content = bytearray(data.read_bytes())
    for offset in range(8, len(content) - 16):  # the same size: only a read sees it
        content[offset] ^= 0x5A
    data.write_bytes(bytes(content))
    (root / "sql" / "doubled.sql").write_text("SELECT id, v * 3 AS v FROM sales\n")

    report = run(root)["sql:doubled"]
    assert report["status"] == "failed"
    assert "table 'sales' version 0" in report["error"] and data.name in report["error"]
    assert "fix the SQL" not in report["error"] and "weir run --force" in report["error"]


def test_a_step_whose_sql_fails_on_a_value_does_not_read_its_inputs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only an error a damaged file gives (I/O, a Parquet file the engine cannot decode) sends
    Weir to read every data file of the inputs: a conversion error in the user's SQL did too
    (a full re-read of every input, on a large table as costly as the step itself)."""
    import weir.lake.delta

    checked: list[str] = []
    unreadable_files = weir.lake.delta.unreadable_files

    def counted(root: Path, delta: object) -> object:
        checked.append(root.name)
        return unreadable_files(root, delta)  # type: ignore[arg-type]

    monkeypatch.setattr(weir.lake.delta, "unreadable_files", counted)
    root = write_project(tmp_path / "p", SOURCE)
    (root / "sales.csv").write_text("id,v\n1,10\n2,20\n")
    (root / "sql").mkdir()
    (root / "sql" / "bad.sql").write_text("SELECT CAST('x' || v AS INT) AS n FROM sales\n")
    report = run(root)["sql:bad"]
    assert report["status"] == "failed" and "Conversion Error" in report["error"]
    assert checked == []


def test_a_table_whose_newest_commit_file_is_gone_is_not_written_under_the_same_number(
    tmp_path: Path,
) -> None:
    """The log lost its tip (no gap shows): a new commit would take the number the catalog
    records for other rows, and the catalog would then describe data it never saw."""
    root = write_project(tmp_path / "p", SOURCE)
    (root / "sales.csv").write_text("id,v\n1,10\n")
    run(root)
    (root / "sales.csv").write_text("id,v\n1,10\n2,20\n")
    run(root)
    log = root / ".weir" / "lake" / "sales" / "_delta_log"
    (log / "00000000000000000001.json").unlink()
    (root / "sales.csv").write_text("id,v\n7,70\n")

    for _ in range(2):  # the same answer each time, never "unchanged"
        report = run(root)["source:sales"]
        assert report["status"] == "failed", report
        assert "00000000000000000001.json" in report["error"] and "fix:" in report["error"]
        assert sorted(p.name for p in log.glob("*.json")) == ["00000000000000000000.json"]


@pytest.mark.parametrize("garbled", ["not json {", "12345"])
def test_a_rebuild_from_commits_whose_weir_metadata_is_garbled_says_what_it_skipped(
    tmp_path: Path, garbled: str
) -> None:
    root = write_project(tmp_path / "p", SOURCE)
    (root / "sales.csv").write_text("id,v\n1,10\n")
    (root / "sql").mkdir()
    (root / "sql" / "doubled.sql").write_text("SELECT id, v * 2 AS v FROM sales\n")
    run(root)
    for name in ("sales", "doubled"):
        commit = root / ".weir" / "lake" / name / "_delta_log" / "00000000000000000000.json"
        lines = [json.loads(line) for line in commit.read_text().splitlines()]
        for entry in lines:
            for key in ("weir.source_state", "weir.parents"):
                if key in entry.get("commitInfo", {}):
                    entry["commitInfo"][key] = garbled
        commit.write_text("".join(json.dumps(entry) + "\n" for entry in lines))
    (root / ".weir" / "catalog.db").unlink()

    result = rebuild_catalog(load_project(root))
    notes = {t.name: " ".join(t.notes) for t in result.tables}
    assert sorted(notes) == ["doubled", "sales", "sales__quarantine"]
    assert "its position in its commit cannot be read" in notes["sales"]
    assert "--full-refresh" in notes["sales"]
    assert "its lineage in its commit cannot be read" in notes["doubled"]
    assert {t.name: t.versions for t in result.tables}["doubled"] == [0]


def test_a_model_retrained_after_a_rebuild_does_not_reuse_a_lost_version_number(
    trained: Path, tmp_path: Path
) -> None:
    """Its artifacts, reports, prediction log and MLflow runs carry the old numbers: a new
    'v1' would be taken for the old one."""
    root = tmp_path / "p"
    shutil.copytree(trained, root)
    (root / ".weir" / "catalog.db").unlink()
    result = rebuild_catalog(load_project(root))
    [said] = [line for line in result.not_recovered if line.startswith("model 'quick'")]
    assert "numbered from v2" in said
    assert run(root)["train:quick"]["status"] == "succeeded"
    workspace = open_workspace(load_project(root))
    try:
        assert [v.version for v in workspace.catalog.model_versions("quick")] == [2]
    finally:
        workspace.close()


def test_a_rebuild_that_was_stopped_half_way_is_not_taken_for_a_whole_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after it recorded some tables, the rebuild left a catalog with history: every
    table it had not reached yet would have been a silent first run."""
    import weir.app.rebuild as rebuild

    root = write_project(tmp_path / "p", SOURCE)
    (root / "sales.csv").write_text("id,v\n1,10\n")
    run(root)
    (root / ".weir" / "catalog.db").unlink()

    def killed(*_args: object) -> None:
        raise SystemExit("killed")  # as SIGKILL would stop it: after the versions, before the rest

    monkeypatch.setattr(rebuild, "_profile_latest", killed)
    with pytest.raises(SystemExit):
        rebuild_catalog(load_project(root))
    monkeypatch.undo()

    with pytest.raises(CatalogLostError, match="the rebuild did not finish") as info:
        open_workspace(load_project(root))
    assert "weir catalog rebuild --force" in (info.value.fix or "")
    rebuild_catalog(load_project(root), force=True)
    open_workspace(load_project(root)).close()


def test_scoring_a_table_with_a_damaged_data_file_names_the_file(
    trained: Path, tmp_path: Path
) -> None:
    from weir.app.scoring import score
    from weir.lake import UnreadableDataError

    root = tmp_path / "p"
    shutil.copytree(trained, root)
    [data] = (root / ".weir" / "lake" / "sales").glob("*.parquet")
    content = bytearray(data.read_bytes())
    for offset in range(200, len(content) - 400):  # the pages, not the footer
        content[offset] ^= 0x5A
    data.write_bytes(bytes(content))
    workspace = open_workspace(load_project(root))
    try:
        with pytest.raises(UnreadableDataError, match=data.name):
            score(workspace, "quick", "sales", "scored.parquet")
    finally:
        workspace.close()
    assert not (root / "scored.parquet").exists()


def test_a_rebuilt_catalogs_profiles_withhold_pii_as_a_runs_do(tmp_path: Path) -> None:
    """The profiles a rebuild recomputes follow the same rule as a run's: a governed PII
    column of a raw table is profiled by counts only (a rebuild put its most frequent
    values, the e-mail addresses, into the catalog)."""
    sources = {
        "people": {
            "format": "csv",
            "path": "people.csv",
            "columns": {"id": "int64", "email": "string"},
        }
    }
    root = write_project(
        tmp_path / "p",
        sources,
        profiles={"enabled": True},
        governance={
            "key": "k" * 32,
            "columns": {"people.email": {"class": "pii", "action": "pseudonymise"}},
        },
    )
    (root / "people.csv").write_text("id,email\n1,ann@example.com\n2,ann@example.com\n")
    assert run(root)["source:people"]["status"] == "succeeded"
    (root / ".weir" / "catalog.db").unlink()
    rebuild_catalog(load_project(root))
    workspace = open_workspace(load_project(root))
    try:
        record = workspace.catalog.current_version("people")
        assert record is not None
        profile = workspace.catalog.profile(record.id)
    finally:
        workspace.close()
    assert profile is not None
    email = next(c for c in profile["columns"] if c["name"] == "email")
    assert email["withheld"] == "pii" and email["top_values"] is None
    assert "ann@example.com" not in json.dumps(profile)
