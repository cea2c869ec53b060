"""Views and incremental models through the public API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from weir.app import build_plan, open_workspace, run_project
from weir.app.kinds.summaries import Incremental
from weir.core import ConfigError
from weir.project import ProjectFileError, load_project

EVENTS = "id,user_id,amount,ts\n1,1,5,2026-01-01T00:00:00Z\n2,2,7,2026-01-02T00:00:00Z\n"


def make(root: Path, models: str, files: dict[str, str]) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "events.csv").write_text(EVENTS)
    (root / "weir.yaml").write_text(
        "name: m\nsources:\n  events:\n    format: csv\n    path: data/events.csv\n"
        "    columns: {id: int64, user_id: int64, amount: int64, ts: timestamp}\n" + models
    )
    (root / "sql").mkdir()
    for name, text in files.items():
        (root / "sql" / name).write_text(text)
    return root


def run(root: Path, **options: Any) -> dict[str, Any]:
    ws = open_workspace(load_project(root))
    try:
        return {r.step.name: r for r in run_project(ws, **options).reports}
    finally:
        ws.close()


def read(root: Path, table: str) -> list[dict[str, Any]]:
    ws = open_workspace(load_project(root))
    try:
        return sorted(
            ws.lake.read(table, ws.catalog.version(table).version).to_pylist(),
            key=lambda r: r["id"],
        )
    finally:
        ws.close()


def add_events(root: Path, lines: str) -> None:
    path = root / "data" / "events.csv"
    path.write_text(path.read_text() + lines)


def test_a_view_is_not_stored_and_its_readers_see_through_it(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        "models:\n  big: {materialized: view}\n",
        {
            "big.sql": "SELECT * FROM events WHERE amount > 5",
            "totals.sql": "SELECT count(*) AS n FROM big",
        },
    )
    reports = run(root)
    assert "sql:big" not in reports and reports["sql:totals"].status == "succeeded"
    assert reports["sql:totals"].step.after == ("source:events",)
    ws = open_workspace(load_project(root))
    try:
        assert ws.catalog.current_version("big") is None
        assert ws.lake.read("totals", 0).to_pylist() == [{"n": 1}]
    finally:
        ws.close()
    from weir.app.lineage import build_graph

    ws = open_workspace(load_project(root))
    try:
        graph = build_graph(ws.project, ws.catalog, build_plan(ws.project))
        assert graph.walk(("events", "amount"), "down") == [(1, ("big", "amount"))]
        assert ("big", "id") in graph.parents and graph.parents[("big", "id")] == {("events", "id")}
    finally:
        ws.close()
    (root / "sql" / "big.sql").write_text("SELECT * FROM events WHERE amount > 1")
    again = run(root)["sql:totals"]
    assert (
        again.status == "succeeded" and again.reason == "definition changed"
    )  # the view's SQL is part of it


def test_views_cannot_be_checked_or_trained_on(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        "models:\n  big: {materialized: view}\nchecks:\n  big:\n    - {rule: row_count, min: 1}\n",
        {"big.sql": "SELECT * FROM events"},
    )
    with pytest.raises(ConfigError, match="'big' is a view"):
        build_plan(load_project(root))


def test_incremental_append_adds_only_new_rows(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        "models:\n  log:\n    materialized: incremental\n    incremental: {strategy: append, new_rows: {column: ts}}\n",
        {"log.sql": "SELECT id, amount, ts FROM events"},
    )
    first = run(root)["sql:log"]
    assert first.summary.incremental.how == "rebuilt" and first.summary.rows == 2
    add_events(root, "3,1,9,2026-01-03T00:00:00Z\n")
    second = run(root)["sql:log"]
    assert second.summary.incremental == Incremental(how="appended", added_rows=1)
    assert [r["id"] for r in read(root, "log")] == [1, 2, 3]
    ws = open_workspace(load_project(root))
    try:
        record = ws.catalog.version("log")
        assert {f"{p.table}@{p.version}" for p in ws.catalog.parents(record.id)} == {
            "events@1",
            "log@0",
        }
    finally:
        ws.close()


def test_incremental_merge_updates_and_inserts_on_the_key(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        "models:\n  users:\n    materialized: incremental\n    incremental: {strategy: merge, unique_key: [user_id]}\n",
        {"users.sql": "SELECT user_id, sum(amount) AS spend FROM events GROUP BY user_id"},
    )
    run(root)
    add_events(root, "3,1,10,2026-01-03T00:00:00Z\n4,3,1,2026-01-04T00:00:00Z\n")
    report = run(root)["sql:users"]
    merge = report.summary.as_record()["merge"]  # as the catalog keeps it
    assert merge["num_target_rows_inserted"] == 1 and merge["num_target_rows_updated"] == 2
    assert "1 inserted, 2 updated" in report.summary.outcome()
    ws = open_workspace(load_project(root))
    try:
        rows = {
            r["user_id"]: r["spend"]
            for r in ws.lake.read("users", ws.catalog.version("users").version).to_pylist()
        }
    finally:
        ws.close()
    assert rows == {1: 15, 2: 7, 3: 1}


def test_changing_an_incremental_models_sql_or_asking_rebuilds_it(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        "models:\n  log:\n    materialized: incremental\n    incremental: {strategy: append, new_rows: {column: ts}}\n",
        {"log.sql": "SELECT id, amount, ts FROM events"},
    )
    run(root)
    (root / "sql" / "log.sql").write_text("SELECT id, amount * 2 AS amount, ts FROM events")
    assert run(root)["sql:log"].summary.incremental.how == "rebuilt"
    assert [r["amount"] for r in read(root, "log")] == [10, 14]
    add_events(root, "3,1,9,2026-01-03T00:00:00Z\n")
    assert run(root, full_refresh=True)["sql:log"].summary.incremental.how == "rebuilt"
    assert len(read(root, "log")) == 3


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("{materialized: incremental}", "goes with an 'incremental:' section"),
        ("{materialized: incremental, incremental: {strategy: merge}}", "merge needs unique_key"),
        ("{materialized: incremental, incremental: {strategy: append}}", "append needs new_rows"),
    ],
)
def test_incremental_settings_are_checked(tmp_path: Path, settings: str, message: str) -> None:
    root = make(tmp_path, f"models:\n  log: {settings}\n", {"log.sql": "SELECT * FROM events"})
    with pytest.raises(ProjectFileError, match=message):
        load_project(root)
