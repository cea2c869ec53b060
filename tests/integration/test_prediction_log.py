"""The prediction log is a lake table the catalog records: a real server answers (in this
process, over HTTP), a promotion changes the version mid-log, and when it stops the
catalog holds a version per served model version, linked to the data it was trained on,
profiled without the values of PII inputs; a log written with no catalog at hand is
recorded later exactly once; a log in the old place is moved into the lake; a rebuild
brings it back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.integration.sources import run, write_project

from weir.app import Workspace, open_workspace
from weir.app.lake_format import COMMIT_ID_KEY, MODEL_VERSIONS_KEY
from weir.app.prediction_log import (
    KIND,
    answered_by,
    log_metadata,
    log_table,
    open_log,
    record_prediction_log,
)
from weir.app.rebuild import rebuild_catalog
from weir.core.errors import CatalogError, ConfigError
from weir.project import load_project
from weir.serve.log import LogCommits, PredictionLog
from weir.serve.run import BackgroundServer

COLUMNS = {"id": "int64", "v": "int64", "city": "string", "label": "int64"}
MODEL = {
    "quick": {
        "table": "clean_sales",
        "target": "label",
        "task": "classification",
        "features": {"numeric": ["v"], "categorical": ["city"]},
        "algorithm": "logistic_regression",
    }
}
ROW = {"v": 3.0, "city": "lyon"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two versions of a model whose `city` input is PII kept as is by the clean step."""
    sources = {"sales": {"format": "csv", "path": "sales.csv", "columns": COLUMNS}}
    root = write_project(
        tmp_path_factory.mktemp("log") / "p",
        sources,
        ml=MODEL,
        governance={"columns": {"sales.city": {"class": "pii", "action": "keep"}}},
        profiles={"enabled": True},
        serve={"reload_seconds": 0.2, "log": {"flush_rows": 1000, "flush_seconds": 0.2}},
    )
    cities = ["lyon", "nice", "brest"]
    rows = "\n".join(f"{i},{i % 7},{cities[i % 3]},{int(i % 7 > 3)}" for i in range(60))
    (root / "sales.csv").write_text(f"id,v,city,label\n{rows}\n")
    assert run(root)["train:quick"]["status"] == "succeeded"
    assert run(root, force=True)["train:quick"]["status"] == "succeeded"
    ws = open_workspace(load_project(root))
    try:
        ws.catalog.set_stage("quick", 1, "production")
    finally:
        ws.close()
    return root


@pytest.fixture
def ws(trained: Path, tmp_path: Path) -> Iterator[Workspace]:
    root = tmp_path / "p"
    shutil.copytree(trained, root)
    workspace = open_workspace(load_project(root))
    try:
        yield workspace
    finally:
        workspace.close()


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    """Until `condition` holds; the deadline only bounds a hang (a writer process starting on a
    busy machine has taken more than 10 s)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition(), "timed out"


def served_version(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/model", timeout=10) as answer:
        return int(json.loads(answer.read())["version"])


def write_log(
    path: Path, answers: list[int], *, commits: LogCommits | None = None, rounds: int = 1
) -> None:
    """Answers of the given model versions, written as a server's writer writes them (one
    commit per round), with no catalog anywhere."""
    kinds = {"v": "number", "city": "category"}
    log = PredictionLog(path, kinds, len(answers), 60, "quick", 0, commits)
    try:
        for round_ in range(rounds):
            for i, version in enumerate(answers):
                log.add(f"r{round_}-{i}", version, '{"v": 1.0, "city": "lyon"}', {"label": 1}, 0.1)
            expected = (round_ + 1) * len(answers)
            wait_for(lambda: log.written == expected)  # noqa: B023 (called at once)
    finally:
        log.close()


def commits_for(model: str) -> LogCommits:
    return LogCommits(log_metadata(model), MODEL_VERSIONS_KEY, COMMIT_ID_KEY)


def test_a_served_log_is_recorded_per_model_version_with_lineage_and_a_profile(
    ws: Workspace,
) -> None:
    with BackgroundServer(ws, "quick") as server:
        for _ in range(2):
            assert server.post("/predict", ROW)["version"] == 1
        wait_for(lambda: ws.lake.exists("quick__predictions"))
        ws.catalog.set_stage("quick", 2, "production")
        wait_for(lambda: served_version(server.port) == 2)
        assert server.post("/predict", ROW)["version"] == 2
        server.post("/predict/batch", {"rows": [ROW, ROW]})
    table = log_table("quick")
    versions = ws.catalog.versions(table)
    assert [v.kind for v in versions] == [KIND, KIND]
    assert [answered_by(ws, v) for v in versions] == [[1], [2]]
    # the catalog's lineage reaches the model version that answered, not only its data
    assert [ws.catalog.answers_of(v.id) for v in versions] == [[("quick", 1)], [("quick", 2)]]
    for record, model_version in zip(versions, (1, 2), strict=True):
        trained_on = ws.catalog.model_version("quick", model_version).trained_on
        parents = [f"{p.table}@{p.version}" for p in ws.catalog.parents(record.id)]
        assert parents == trained_on and trained_on
        profile = ws.catalog.profile(record.id)
        assert profile is not None and profile["rows"] == record.row_count
        city = next(c for c in profile["columns"] if c["name"] == "input_city")
        assert city["withheld"] == "pii" and city["top_values"] is None
    logged = ws.lake.read(table, versions[-1].version)
    assert versions[-1].row_count == logged.num_rows >= 5
    assert set(logged.column("version").to_pylist()) == {1, 2}
    # each Delta commit names exactly the model versions of the answers it added
    seen: set[str] = set()
    for commit in ws.lake.commits(table):
        rows = ws.lake.read(table, commit.version).to_pylist()
        added = {r["request_id"]: r["version"] for r in rows if r["request_id"] not in seen}
        assert json.loads(commit.metadata[MODEL_VERSIONS_KEY]) == sorted(set(added.values()))
        seen |= set(added)


def test_a_log_written_with_no_catalog_is_recorded_later_exactly_once(ws: Workspace) -> None:
    path = ws.lake.path(log_table("quick"))
    write_log(path, [1, 1], commits=commits_for("quick"), rounds=2)
    held = subprocess.Popen(  # another Weir process is recording: this one waits, then says so
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n",
            str(ws.project.workspace / "prediction_log.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert held.stdout is not None and held.stdout.readline().strip() == "held"
        busy = record_prediction_log(ws, "quick", wait_seconds=0.2)
        assert busy.versions == [] and "another Weir process" in busy.notes[0]
    finally:
        held.kill()
        held.wait()
    assert ws.catalog.versions(log_table("quick")) == []

    first = record_prediction_log(ws, "quick")
    again = record_prediction_log(ws, "quick")
    assert first.versions == [1] and again.versions == []
    assert [v.version for v in ws.catalog.versions(log_table("quick"))] == [1]


def test_a_profile_the_catalog_refused_is_made_by_the_next_recorder_not_a_second_version(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version and its profile are two catalog writes: a catalog that fails between
    them leaves a version the next recorder profiles (with the log's withheld inputs)."""
    write_log(ws.lake.path(log_table("quick")), [1], commits=commits_for("quick"))

    def gone(*_args: object) -> None:
        raise CatalogError("the catalog is locked by another process")

    monkeypatch.setattr(ws.catalog, "record_profile", gone)
    with pytest.raises(CatalogError):
        record_prediction_log(ws, "quick")
    monkeypatch.undo()
    [record] = ws.catalog.versions(log_table("quick"))
    assert ws.catalog.profile(record.id) is None
    assert record_prediction_log(ws, "quick").versions == []
    profile = ws.catalog.profile(record.id)
    assert profile is not None
    assert {c["name"]: c["withheld"] for c in profile["columns"]}["input_city"] == "pii"


def test_a_log_in_the_old_place_is_moved_into_the_lake_and_said(ws: Workspace) -> None:
    old = ws.project.workspace / "predictions" / "quick"
    write_log(old, [1, 2])  # an older Weir's log: no commit metadata
    aside = old.parent / "quick.unwritten-1-2.jsonl"
    aside.write_text('{"request_id": "x", "version": 2}\n')
    path, notes = open_log(ws, "quick")
    assert path == ws.lake.path("quick__predictions") and (path / "_delta_log").is_dir()
    assert "moved the prediction log of quick" in notes[0] and "quick__predictions" in notes[0]
    assert not old.exists()
    assert (path.parent / "quick__predictions.unwritten-1-2.jsonl").is_file()
    [record] = [
        ws.catalog.version(log_table("quick"), v)
        for v in record_prediction_log(ws, "quick").versions
    ]
    assert answered_by(ws, record) == [1, 2] and record.row_count == 2

    write_log(old, [1])  # an older server kept writing the old place: said, not merged
    said = record_prediction_log(ws, "quick").notes
    assert "not in the lake table quick__predictions" in said[0]


def test_weir_show_and_tables_record_the_log_and_print_its_versions(ws: Workspace) -> None:
    write_log(ws.lake.path(log_table("quick")), [2], commits=commits_for("quick"))
    root = ws.project.root
    environment = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}

    def weir(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "weir", *args, "-p", str(root)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    shown = weir("show", "quick__predictions", "-n", "1")
    assert "quick__predictions@0" in shown and "prediction_log" in shown
    assert "answers of quick v2" in shown and "made from: clean_sales@" in shown
    assert "input_city" in shown
    assert "quick__predictions" in weir("tables")


def test_batch_scoring_records_the_model_version_and_the_outputs_content(ws: Workspace) -> None:
    """`weir predict` into a lake table: its version is linked to the model version that
    answered, and its fingerprint is the content's, as for every table (it was the model's
    name and the input's fingerprint, 70+ characters, which PostgreSQL's column refuses)."""
    from weir.app.scoring import score

    scored = score(ws, "quick", "clean_sales", "scored_sales")
    assert scored.output_version is not None
    record = ws.catalog.version("scored_sales", scored.output_version)
    content = ws.engine.fingerprint(ws.lake.scan("scored_sales", scored.output_version))
    assert record.fingerprint == content.digest and record.row_count == content.row_count
    assert ws.catalog.answers_of(record.id) == [("quick", scored.version)]


def test_a_rebuilt_catalog_has_the_log_and_numbers_no_model_version_it_answered_with(
    ws: Workspace,
) -> None:
    write_log(ws.lake.path(log_table("quick")), [1, 2], commits=commits_for("quick"))
    assert record_prediction_log(ws, "quick").versions == [0]
    ws.close()
    (ws.project.workspace / "catalog.db").unlink()
    result = rebuild_catalog(ws.project)
    [log] = [t for t in result.tables if t.name == "quick__predictions"]
    assert log.kind == KIND and log.versions == [0] and log.rows == 2
    assert any("quick v2 is not in the catalog" in note for note in log.notes)
    rebuilt = open_workspace(ws.project)
    try:
        assert rebuilt.catalog.version("quick__predictions").kind == KIND
    finally:
        rebuilt.close()
    [said] = [line for line in result.not_recovered if line.startswith("model 'quick'")]
    assert "numbered from v3" in said


def test_a_project_table_with_the_logs_name_is_refused(tmp_path: Path) -> None:
    """The log would append to the project's table, and a run would replace the answers:
    the project does not load (so no command serves, records or moves a log into it)."""
    sources = {"quick__predictions": {"format": "csv", "path": "a.csv", "columns": {"a": "int64"}}}
    root = write_project(tmp_path / "p", sources)
    with pytest.raises(ConfigError, match=r"sources\.quick__predictions: .* Weir reserves"):
        load_project(root)


def test_a_log_moved_aside_and_started_again_is_not_taken_for_the_recorded_one(
    ws: Workspace,
) -> None:
    """The damaged-log fix is to move the folder aside: the next server starts a new log at
    version 0, which is not the version 0 the catalog recorded."""
    path = ws.lake.path(log_table("quick"))
    write_log(path, [1], commits=commits_for("quick"))
    assert record_prediction_log(ws, "quick").versions == [0]
    path.rename(path.with_name("aside"))
    write_log(path, [2, 2], commits=commits_for("quick"), rounds=2)
    done = record_prediction_log(ws, "quick")
    assert done.versions == [] and "weir catalog rebuild --force" in done.notes[0]
    assert [v.row_count for v in ws.catalog.versions(log_table("quick"))] == [1]
