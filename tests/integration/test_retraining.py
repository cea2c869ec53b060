"""`weir retrain` end to end in one process: a champion trained on the old world serves
traffic through a real server; the world changes (the label follows the feature the other
way); late labels and new training rows arrive; a challenger is trained, compared with the
champion on rows neither trained on, and promoted or refused with the reason in the stage
history and the catalog; a promoted champion that does worse than its predecessor on its
first labelled window is rolled back, once."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from tests.integration.sources import run, write_project

from weir.app import Workspace, open_workspace
from weir.app.prediction_log import log_table
from weir.app.retraining import retrain
from weir.app.retraining_rollback import check_rollback
from weir.core.errors import ConfigError, MonitorError
from weir.monitor.alerts import Incident, IncidentState
from weir.project import load_project
from weir.serve.run import BackgroundServer

WINDOW = 60
MODEL = {
    "quick": {
        "table": "sales",
        "target": "label",
        "task": "classification",
        "features": {"numeric": ["v"], "categorical": ["city"]},
        "algorithm": "logistic_regression",
        "seed": 1,
    }
}
COLUMNS = {"id": "int64", "v": "float64", "city": "string", "label": "int64"}
CITIES = ["lyon", "nice", "brest"]


def _truth(v: float, world: str) -> int:
    """The old world: label 1 when v > 0; the new one: the other way round."""
    return int(v > 0) if world == "old" else int(v < 0)


def _write_sales(root: Path, world: str, seed: int, rows: int = 600) -> None:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(rows):
        v = float(rng.normal())
        noisy = v + float(rng.normal(scale=0.3))
        lines.append(f"{i},{v:.6f},{CITIES[i % 3]},{_truth(noisy, world)}")
    (root / "sales.csv").write_text("id,v,city,label\n" + "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1 of `quick`, trained on the old world, in production."""
    root = tmp_path_factory.mktemp("retrain") / "p"
    sources = {
        "sales": {"format": "csv", "path": "sales.csv", "columns": COLUMNS},
        "labels": {
            "format": "csv",
            "path": "labels.csv",
            "columns": {"rid": "string", "y": "int64"},
        },
    }
    write_project(root, sources, ml=MODEL)
    _write_sales(root, "old", seed=1)
    (root / "labels.csv").write_text("rid,y\n")
    assert run(root)["train:quick"]["status"] == "succeeded"
    ws = open_workspace(load_project(root))
    try:
        ws.catalog.set_stage("quick", 1, "production", reason="first deployment")
    finally:
        ws.close()
    return root


def _configure(root: Path, **retrain_settings: Any) -> None:
    config = yaml.safe_load((root / "weir.yaml").read_text())
    config["serve"] = {"reload_seconds": 0.2, "log": {"flush_rows": 50, "flush_seconds": 0.2}}
    config["monitor"] = {
        "quick": {
            "window": {"rows": WINDOW},
            "labels": {"table": "labels", "key": "rid", "column": "y"},
            "performance": {"metric": "accuracy"},
            "retrain": {"min_rows": 40, **retrain_settings},
        }
    }
    (root / "weir.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _open(root: Path) -> Workspace:
    return open_workspace(load_project(root))


@pytest.fixture
def root(trained: Path, tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "p"
    shutil.copytree(trained, copy)
    _configure(copy)
    yield copy


def _traffic(root: Path, world: str, first: int, count: int) -> list[tuple[float, str, int]]:
    """`count` requests r<first>.. served by the production version, and their labels as
    `world` makes them, landing in the labels source (loaded by a run); returns the rows."""
    rng = np.random.default_rng(1000 + first)
    ws = _open(root)
    sent = []
    try:
        with BackgroundServer(ws, "quick") as server:
            for i in range(first, first + count):
                row = {"v": float(rng.normal()), "city": CITIES[i % 3]}
                server.post("/predict", row, headers={"X-Request-ID": f"r{i}"})
                sent.append((row["v"], row["city"], _truth(row["v"], world)))
    finally:
        ws.close()
    labels = [f"r{first + i},{label}" for i, (_, _, label) in enumerate(sent)]
    with (root / "labels.csv").open("a") as handle:
        handle.write("\n".join(labels) + "\n")
    assert run(root)["source:labels"]["status"] == "succeeded"
    return sent


def _retrain(root: Path, **options: Any) -> Any:
    ws = _open(root)
    try:
        return retrain(ws, "quick", **options)
    finally:
        ws.close()


def _production(root: Path) -> int:
    ws = _open(root)
    try:
        found = ws.catalog.in_stage("quick", "production")
        assert found is not None
        return found.version
    finally:
        ws.close()


def test_a_challenger_trained_on_the_changed_world_wins_and_is_promoted(root: Path) -> None:
    _configure(root, when=["labels"], new_labels=100)
    sent = _traffic(root, "new", 0, 3 * WINDOW)  # the champion answers the new world, badly
    _write_sales(root, "new", seed=2)  # and the new world's rows reach the training table,
    trained_on = sent[2 * WINDOW :]  # with the labelled answers of the newest window
    with (root / "sales.csv").open("a") as handle:
        handle.writelines(f"{9000 + i},{v!r},{c},{y}\n" for i, (v, c, y) in enumerate(trained_on))
    done = _retrain(root)
    assert done.due.due and "labelled answers" in done.due.text()
    assert done.decision == "promoted", done.reason
    assert done.challenger == 2 and _production(root) == 2
    held, recent = done.comparisons
    assert held.kind == "held-out" and held.rows >= 40 and held.second > held.first + 0.3
    # the newest window is the challenger's training rows: it does not count in its favour
    assert recent.kind == "recent" and recent.rows == WINDOW
    left_out = re.search(r"(\d+) labelled answers a version trained on left out", recent.note)
    assert (
        left_out is not None and WINDOW // 2 < int(left_out.group(1)) <= WINDOW
    )  # its train split
    assert recent.window is not None and recent.window.key == f"rows {WINDOW}-{2 * WINDOW - 1}"
    assert recent.second > recent.first + 0.3
    assert all(g.passed for g in done.gates)
    ws = _open(root)
    try:
        moves = ws.catalog.stage_history("quick")
        promoted = [m for m in moves if m.version == 2 and m.to_stage == "production"]
        assert promoted[0].reason.startswith("retrain: beat v1: margin: on the recent rows")
        assert [m for m in moves if m.version == 1][-1].to_stage == "archived"
        result = ws.catalog.monitor_results("quick", "retrain")[0]
        assert result.status == "ok" and result.model_version == 2
        assert {m.name for m in result.measures} == {"v1 (champion)", "v2 (challenger)"}
        assert {m.rows for m in result.measures if m.test == "recent"} == {WINDOW}
        assert result.data[log_table("quick")] >= 0 and "labels" in result.data
    finally:
        ws.close()
    again = _retrain(root)  # the same labels do not count twice
    assert again.decision == "not due" and "0 labelled answers" in again.due.text()


def test_a_challenger_that_does_not_win_by_the_margin_stays_in_staging(root: Path) -> None:
    _configure(root, margin=0.05)
    done = _retrain(root, force=True)  # the same data: the same model, no better
    assert done.decision == "refused"
    assert "margin" in done.reason and "held-out" in done.reason
    held, recent = done.comparisons
    assert held.decided and held.first == held.second
    assert not recent.decided and "no closed window" in recent.note
    assert _production(root) == 1
    ws = _open(root)
    try:
        assert ws.catalog.in_stage("quick", "staging").version == 2  # type: ignore[union-attr]
        result = ws.catalog.monitor_results("quick", "retrain")[0]
        assert result.status == "bad" and "margin" in result.summary
    finally:
        ws.close()


def test_a_dry_run_changes_nothing(root: Path) -> None:
    _traffic(root, "old", 0, 40)
    ws = _open(root)
    try:
        before = (
            len(ws.catalog.model_versions("quick")),
            ws.catalog.stage_history("quick"),
            ws.catalog.monitor_results("quick"),
            ws.catalog.versions(log_table("quick")),
        )
    finally:
        ws.close()
    done = _retrain(root, force=True, dry_run=True)
    assert done.decision == "dry run"
    assert done.run is not None and "train:quick" in {r.step.name for r in done.run.reports}
    ws = _open(root)
    try:
        after = (
            len(ws.catalog.model_versions("quick")),
            ws.catalog.stage_history("quick"),
            ws.catalog.monitor_results("quick"),
            ws.catalog.versions(log_table("quick")),
        )
    finally:
        ws.close()
    assert after == before


def test_not_due_trains_nothing_and_an_incident_is_answered_once(root: Path) -> None:
    done = _retrain(root)
    assert done.decision == "not due"
    assert "no open drift incident" in done.due.text()
    ws = _open(root)
    try:
        assert len(ws.catalog.model_versions("quick")) == 1
        now = datetime.now(UTC)
        incident = Incident("inc-1", now, "rows 0-59", now, "rows 0-59")
        state = IncidentState("quick/drift", incident=incident, bad_run=0)
        ws.catalog.set_monitor_state("incident:quick:drift", state.to_json())
    finally:
        ws.close()
    first = _retrain(root)
    assert first.due.due and "drift incident open since window rows 0-59" in first.due.text()
    assert first.challenger == 2
    second = _retrain(root)
    assert second.decision == "not due"
    assert "a challenger was trained for it already" in second.due.text()


def test_bad_input_is_refused_with_the_fix(root: Path) -> None:
    config = yaml.safe_load((root / "weir.yaml").read_text())
    del config["monitor"]["quick"]["retrain"]
    (root / "weir.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(ConfigError, match="no retrain: section") as raised:
        _retrain(root)
    assert "retrain: {}" in (raised.value.fix or "")
    _configure(root, when=["labels"])
    (root / "labels.csv").write_text("rid,y\nr1,0\nr1,1\n")
    _traffic(root, "old", 0, 5)
    with pytest.raises(MonitorError, match="r1"):  # a key labelled twice, two ways
        _retrain(root)
    _configure(root)
    with pytest.raises(MonitorError, match="r1"):  # refused before a challenger is trained
        _retrain(root, force=True)
    ws = _open(root)
    try:
        assert len(ws.catalog.model_versions("quick")) == 1
    finally:
        ws.close()


def test_a_challenger_that_fails_to_train_leaves_the_champion(root: Path) -> None:
    (root / "sales.csv").write_text("id,v,city,label\n1,0.5,lyon,1\n")
    done = _retrain(root, force=True)
    assert done.decision == "failed" and done.challenger is None
    assert "only 1 usable rows" in done.reason
    assert _production(root) == 1
    ws = _open(root)
    try:
        result = ws.catalog.monitor_results("quick", "retrain")[0]
        assert result.status == "bad" and "no challenger" in result.summary
    finally:
        ws.close()


def test_no_champion_is_refused_with_the_fix(trained: Path, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(trained, root)
    _configure(root)
    ws = _open(root)
    try:
        ws.catalog.set_stage("quick", 1, "archived", reason="withdrawn")
        with pytest.raises(MonitorError, match="no version in production") as raised:
            retrain(ws, "quick", force=True)
        assert raised.value.fix == "promote one: weir models promote quick@1"
    finally:
        ws.close()


def test_a_worse_champion_is_rolled_back_once(root: Path) -> None:
    # a deliberately bad challenger (trained on a world that is not the one served) is
    # promoted by a margin that accepts anything
    _configure(root, margin=-10, rollback_margin=0.05)
    _write_sales(root, "new", seed=2)
    promoted = _retrain(root, force=True)
    assert promoted.decision == "promoted" and _production(root) == 2
    waiting = _check(root)
    assert waiting.action == "waiting" and "most: 0" in waiting.reason
    _traffic(root, "old", 0, WINDOW)  # the world served is the old one: v2 answers it badly
    decision = _check(root)
    assert decision.action == "rolled back", decision.reason
    assert decision.comparison is not None and decision.comparison.rows == WINDOW
    assert decision.comparison.second < decision.comparison.first - 0.3
    assert _production(root) == 1
    ws = _open(root)
    try:
        back = ws.catalog.stage_history("quick")[-2:]
        assert [(m.version, m.to_stage) for m in back] == [(1, "production"), (2, "archived")]
        assert back[0].reason.startswith("rollback: rolled back: accuracy")
        results = ws.catalog.monitor_results("quick", "rollback")
        assert len(results) == 1 and results[0].status == "bad"
    finally:
        ws.close()
    again = _check(root)  # v1 is back by a rollback, not by a retrain: nothing to judge
    assert again.action == "none" and _production(root) == 1
    assert _results(root, "rollback") == 1


def test_a_better_champion_is_kept_and_judged_once(root: Path) -> None:
    _write_sales(root, "new", seed=2)
    promoted = _retrain(root, force=True)
    assert promoted.decision == "promoted", promoted.reason
    _traffic(root, "new", 0, WINDOW)
    kept = _check(root)
    assert kept.action == "kept", kept.reason
    assert kept.comparison is not None and kept.comparison.second > kept.comparison.first
    again = _check(root)
    assert again.action == "decided before" and again.recorded is not None
    assert _production(root) == 2 and _results(root, "rollback") == 1


def _check(root: Path) -> Any:
    ws = _open(root)
    try:
        return check_rollback(ws, "quick")
    finally:
        ws.close()


def _results(root: Path, check: str) -> int:
    ws = _open(root)
    try:
        return len(ws.catalog.monitor_results("quick", check))
    finally:
        ws.close()
