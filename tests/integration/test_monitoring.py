"""`weir monitor` end to end in one process: a real server answers traffic that first looks
like the training rows and then shifts; the prediction log is judged in row windows against
the version's training rows; late labels turn estimates into realised metrics; one alert per
incident reaches a real local webhook; a second invocation judges nothing twice."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml
from tests.integration.sources import run, write_project

from weir.app import Workspace, open_workspace
from weir.app.monitoring import monitor
from weir.app.prediction_log import log_table
from weir.core.errors import ConfigError, MonitorError
from weir.project import load_project
from weir.serve.run import BackgroundServer

WINDOW = 150
MODEL = {
    "quick": {
        "table": "clean_sales",
        "target": "label",
        "task": "classification",
        "features": {"numeric": ["v"], "categorical": ["city"]},
        "algorithm": "logistic_regression",
        "threshold": {"metric": "f1"},
        "seed": 1,
    }
}
COLUMNS = {"id": "int64", "v": "float64", "city": "string", "label": "int64"}
CITIES = ["lyon", "nice", "brest"]


class Receiver:
    """A webhook receiver on a free loopback port that keeps every JSON body it gets."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("monitor") / "p"
    sources = {
        "sales": {"format": "csv", "path": "sales.csv", "columns": COLUMNS},
        "labels": {
            "format": "csv",
            "path": "labels.csv",
            "columns": {"rid": "string", "y": "int64"},
        },
    }
    # city is PII kept as it is: verdicts may say it drifted, never which values it holds
    pii = {"columns": {"sales.city": {"class": "pii", "action": "keep"}}}
    write_project(root, sources, ml=MODEL, governance=pii)
    rng = np.random.default_rng(3)
    lines = []
    for i in range(1600):  # 320 held-out rows: CBPE calibrates on at least 300
        v = rng.normal()
        label = int(v + rng.normal(scale=0.7) > 0)
        lines.append(f"{i},{v:.5f},{CITIES[i % 3]},{label}")
    (root / "sales.csv").write_text("id,v,city,label\n" + "\n".join(lines) + "\n")
    (root / "labels.csv").write_text("rid,y\nearlier,0\n")  # a label of no logged answer
    assert run(root)["train:quick"]["status"] == "succeeded"
    ws = open_workspace(load_project(root))
    try:
        ws.catalog.set_stage("quick", 1, "production")
    finally:
        ws.close()
    return root


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def _configure(root: Path, hook: Receiver, **monitor: object) -> None:
    config = yaml.safe_load((root / "weir.yaml").read_text())
    config["serve"] = {"reload_seconds": 0.2, "log": {"flush_rows": 50, "flush_seconds": 0.2}}
    config["monitor"] = {
        "quick": {
            "window": {"rows": WINDOW},
            "labels": {"table": "labels", "key": "rid", "column": "y"},
            "performance": {"metric": "accuracy", "min_labels": 50, "max_drop": 0.2},
            "alerts": {"webhook": {"url": hook.url, "attempts": 1, "timeout_seconds": 2}},
            **monitor,
        }
    }
    (root / "weir.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture
def ws(trained: Path, tmp_path: Path, receiver: Receiver) -> Iterator[Workspace]:
    root = tmp_path / "p"
    shutil.copytree(trained, root)
    _configure(root, receiver)
    workspace = open_workspace(load_project(root))
    try:
        yield workspace
    finally:
        workspace.close()


def _traffic(ws: Workspace, shift: float, new_city_share: float, first: int, count: int) -> None:
    """`count` single requests, request ids r<first>..; inputs like training's, shifted."""
    rng = np.random.default_rng(first)
    with BackgroundServer(ws, "quick") as server:
        for i in range(first, first + count):
            city = "paris" if rng.random() < new_city_share else CITIES[i % 3]
            row = {"v": float(rng.normal() + shift), "city": city}
            server.post("/predict", row, headers={"X-Request-ID": f"r{i}"})


def test_drift_is_found_in_the_shifted_window_only_and_alerts_once(
    ws: Workspace, receiver: Receiver
) -> None:
    _traffic(ws, 0.0, 0.0, 0, WINDOW)
    _traffic(ws, 1.5, 0.05, WINDOW, WINDOW)
    done = monitor(ws, "quick")
    drift = sorted((r for r in done.recorded if r.check == "drift"), key=lambda r: r.window.key)
    assert [r.window.key for r in drift] == [
        f"rows 0-{WINDOW - 1}",
        f"rows {WINDOW}-{2 * WINDOW - 1}",
    ]
    assert [r.status for r in drift] == ["ok", "bad"]
    bad = {m.name for m in drift[1].measures if m.bad}
    assert "v" in bad and "v" not in {m.name for m in drift[0].measures if m.bad}
    new_city = next(m for m in drift[1].measures if m.name == "city" and m.test == "new_categories")
    assert new_city.bad  # 5 % of the rows are a city training never saw ...
    shown = [drift[1].summary, *(m.detail for r in drift for m in r.measures), str(receiver.bodies)]
    assert not any("paris" in text or "lyon" in text for text in shown)  # ... which one: PII
    assert "training rows" in done.reference
    opened = [a for a in done.alerts if a.event == "opened" and a.check == "quick/drift"]
    assert len(opened) == 1
    hooks = [b for b in receiver.bodies if b.get("check") == "quick/drift"]
    assert len(hooks) == 1 and hooks[0]["event"] == "opened"

    again = monitor(ws, "quick")
    assert [r for r in again.recorded if r.check == "drift"] == []  # nothing judged twice
    assert len([b for b in receiver.bodies if b.get("check") == "quick/drift"]) == 1
    history = ws.catalog.monitor_results("quick", "drift")
    assert len(history) == 2


def test_performance_is_estimated_until_labels_land_then_realised(ws: Workspace) -> None:
    _traffic(ws, 0.0, 0.0, 0, WINDOW)
    first = monitor(ws, "quick")
    performance = [r for r in first.recorded if r.check == "performance"]
    assert len(performance) == 1 and performance[0].measures[0].test == "estimated"
    estimate = performance[0].measures[0]
    assert estimate.low is not None and estimate.high is not None
    assert estimate.low <= estimate.value <= estimate.high

    # labels arrive for the window's requests: the truth as the training rows make it
    logged = ws.lake.read(
        log_table("quick"), ws.catalog.current_version(log_table("quick")).version
    )
    rows = logged.to_pylist()
    labels = "\n".join(f"{r['request_id']},{int(r['input_v'] > 0)}" for r in rows)
    (ws.project.root / "labels.csv").write_text("rid,y\n" + labels + "\n")
    run(ws.project.root)
    second = monitor(ws, "quick")
    realised = [r for r in second.recorded if r.check == "performance"]
    assert len(realised) == 1 and realised[0].measures[0].test == "realised"
    assert realised[0].measures[0].rows == WINDOW
    assert realised[0].data["labels"] > performance[0].data.get("labels", 0)


def test_time_windows_wait_for_the_window_to_close(ws: Workspace, receiver: Receiver) -> None:
    _configure(ws.project.root, receiver, window={"every": "1d"})
    reopened = open_workspace(load_project(ws.project.root))
    try:
        _traffic(reopened, 0.0, 0.0, 0, 40)
        today = monitor(reopened, "quick")
        assert today.recorded == []
        assert any("open window" in note for note in today.notes)
        tomorrow = datetime.now(UTC).timestamp() + 86_400
        later = monitor(reopened, "quick", now=datetime.fromtimestamp(tomorrow, UTC))
        assert {r.check for r in later.recorded} == {"drift", "performance"}
    finally:
        reopened.close()


def test_a_model_without_a_monitor_section_is_refused_with_the_fix(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match="no monitor: section"):
        monitor(ws, "other")


def test_labels_with_conflicting_duplicates_are_refused(ws: Workspace) -> None:
    _traffic(ws, 0.0, 0.0, 0, WINDOW)
    (ws.project.root / "labels.csv").write_text("rid,y\nr1,0\nr1,1\n")
    run(ws.project.root)
    with pytest.raises(MonitorError, match="r1"):
        monitor(ws, "quick")
