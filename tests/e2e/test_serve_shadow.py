"""Shadow mode as a user runs it: `weir serve` with a challenger in staging beside the
champion in production, called over HTTP. The callers get the champion's answers, the same
as from a server without a shadow; the log holds the challenger's answers on the same rows,
marked as the shadow's and named apart from the versions that answered; /metrics counts
them; a fraction samples exactly the requests its hash chooses; a promotion in staging is
followed; a challenger that cannot answer is counted and never changes an answer."""

from __future__ import annotations

import json
import shutil
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.test_learn_cli import write_project
from tests.e2e.test_serve import Server, call, weir

from weir.serve.shadow import sampled

pytestmark = pytest.mark.e2e

V1 = "      numeric: [area, rooms]\n      categorical: [district]\n"
V2 = "      numeric: [area]\n      categorical: [district]\n"  # fewer features: other answers
V3 = V1 + "      dates: {sold_at: {parts: [month]}}\n"  # a field the champion does not take
SERVE = "serve:\n  reload_seconds: 0.3\n  log: {flush_rows: 1000, flush_seconds: 0.3}\n"
DISTRICTS = ["north", "south", "harbour", "old_town"]
LOG = Path(".weir") / "lake" / "quick__predictions"


def rows(count: int) -> list[dict[str, Any]]:
    return [
        {"area": 30.0 + 7 * i, "rooms": 1 + i % 5, "district": DISTRICTS[i % 4]}
        for i in range(count)
    ]


def configure(root: Path, shadow: str | None) -> None:
    text = (root / "weir.yaml").read_text().split("serve:\n")[0]
    (root / "weir.yaml").write_text(text + SERVE + (f"  shadow: {shadow}\n" if shadow else ""))


def train(root: Path, features: str) -> None:
    """Another version of quick, with these features, trained in this process (one import
    of scikit-learn for the three versions)."""
    from weir.app import open_workspace, run_project
    from weir.project import load_project

    text = (root / "weir.yaml").read_text()
    start = text.index("    features:\n", text.index("  quick:")) + len("    features:\n")
    end = text.index("    algorithm:", start)
    (root / "weir.yaml").write_text(text[:start] + features + text[end:])
    ws = open_workspace(load_project(root))
    try:
        assert run_project(ws).ok
    finally:
        ws.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """quick v1 (production), v2 (staging) and v3 (a candidate that takes sold_at): the
    serve tests' houses, without the price model and without tuning, to train fast."""
    from weir.app import open_workspace
    from weir.project import load_project

    root = tmp_path_factory.mktemp("shadow") / "houses"
    write_project(root, rows=600)
    text = (root / "weir.yaml").read_text()
    text = text.replace("mlflow:\n  tracking_uri: sqlite:///" + str(root / "mlflow.db") + "\n", "")
    text = text[: text.index("  price:")] + text[text.index("  quick:") :]
    text = text[: text.index("    tune:")] + text[text.index("    threshold:") :]
    (root / "weir.yaml").write_text(text)
    for features in (V1, V2, V3):
        train(root, features)
    ws = open_workspace(load_project(root))
    try:
        assert [v.version for v in ws.catalog.model_versions("quick")] == [1, 2, 3]
    finally:
        ws.close()
    promote(root, 1, "production")
    promote(root, 2, "staging")
    return root


@pytest.fixture
def project(trained: Path, tmp_path: Path) -> Path:
    root = tmp_path / "houses"
    shutil.copytree(trained, root)
    return root


@pytest.fixture(scope="module")
def plain(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The same models served without a shadow (a copy of the project)."""
    root = tmp_path_factory.mktemp("plain") / "houses"
    shutil.copytree(trained, root)
    configure(root, None)
    server = Server(root, "quick")
    yield server
    server.stop()


def promote(root: Path, version: int, stage: str) -> None:
    """As `weir models promote` does, without starting another Python (the server finds
    the change in the catalog)."""
    from weir.app import open_workspace
    from weir.project import load_project

    ws = open_workspace(load_project(root))
    try:
        ws.catalog.set_stage("quick", version, stage)
    finally:
        ws.close()


def metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(port: int, name: str, **labels: str) -> float:
    return metrics(port).get((name, tuple(sorted({"model": "quick", **labels}.items()))), 0.0)


def predict(port: int, body: Any, request_id: str, path: str = "/predict") -> dict[str, Any]:
    status, answer = call(port, "POST", path, body, headers={"X-Request-ID": request_id})
    assert status == 200, answer
    answer.pop("request_id")
    return dict(answer)


def wait_for_log(root: Path, ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """The log's rows of these request ids, once every one is written."""
    deadline = time.monotonic() + 30
    while True:
        found: dict[str, list[dict[str, Any]]] = {}
        if (root / LOG).exists():
            for row in DeltaTable(str(root / LOG)).to_pyarrow_table().to_pylist():
                if row["request_id"] in ids:
                    found.setdefault(row["request_id"], []).append(row)
        if set(found) == ids or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_the_caller_gets_the_champions_answer_and_the_log_the_challengers(
    project: Path, plain: Server
) -> None:
    configure(project, "{stage: staging, fraction: 1.0}")
    server = Server(project, "quick")
    singles = {f"one-{i}": row for i, row in enumerate(rows(12))}
    batch = {"rows": rows(5)}
    try:
        for request_id, row in singles.items():
            assert predict(server.port, row, request_id) == predict(plain.port, row, request_id)
        answered = predict(server.port, batch, "batch-0", "/predict/batch")
        assert answered == predict(plain.port, batch, "batch-0", "/predict/batch")
        assert answered["version"] == 1
        _, info = call(server.port, "GET", "/model")
        assert info["version"] == 1 and info["shadow"] == {
            "stage": "staging", "fraction": 1.0, "version": 2, "problem": None,
        }  # fmt: skip
        deadline = time.monotonic() + 10
        while metric(server.port, "weir_shadow_answers_total", version="2") < 17:
            assert time.monotonic() < deadline, metrics(server.port)
            time.sleep(0.1)
        assert metric(server.port, "weir_shadow_version") == 2
        calls = metric(server.port, "weir_shadow_duration_seconds_count", version="2")
        assert 0 < calls <= 13  # a call per request, or fewer: requests waiting go together
        assert metric(server.port, "weir_predictions_total", version="1") == 17  # the champion's
        assert "weir_predictions_total" not in {
            name for name, labels in metrics(server.port) if ("version", "2") in labels
        }
        agreeing = metric(server.port, "weir_shadow_agreements_total", version="2")

        # a new challenger in staging is followed: v3 takes sold_at, which this server's
        # request schema (made with v2 as the challenger) cannot carry: counted, not failed
        promote(project, 3, "staging")
        deadline = time.monotonic() + 10
        while call(server.port, "GET", "/model")[1]["shadow"]["version"] != 3:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert "sold_at" in call(server.port, "GET", "/model")[1]["shadow"]["problem"]
        for i, row in enumerate(rows(3)):
            assert predict(server.port, row, f"after-{i}") == predict(plain.port, row, f"after-{i}")
        # the shadow is never a reason to be unready (a stalled log may be, on a busy machine)
        problems = call(server.port, "GET", "/ready")[1]["problems"]
        assert not any("shadow" in p or "sold_at" in p for p in problems), problems

        # nothing in staging any more: the shadow stops, and says so
        promote(project, 3, "archived")
        deadline = time.monotonic() + 10
        while call(server.port, "GET", "/model")[1]["shadow"]["version"] is not None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert (
            "no version of quick in staging"
            in call(server.port, "GET", "/model")[1]["shadow"]["problem"]
        )
        assert predict(server.port, rows(1)[0], "gone") == predict(plain.port, rows(1)[0], "gone")
        assert metric(server.port, "weir_shadow_version") == 0
    finally:
        server.stop(signal.SIGTERM)
    logged = wait_for_log(project, {*singles, "batch-0", "after-0", "after-1", "after-2", "gone"})
    assert logged["gone"][0]["shadow_skipped"] == "no_challenger"
    shadowed = [r for i in [*singles, "batch-0"] for r in logged[i]]
    assert len(shadowed) == 17 and len(logged["batch-0"]) == 5
    assert all(r["version"] == 1 and r["shadow_version"] == 2 for r in shadowed)
    assert all(
        r["shadow_label"] in ("0", "1") and 0 <= r["shadow_probability"] <= 1 for r in shadowed
    )
    assert all(r["shadow_latency_ms"] > 0 and r["shadow_skipped"] is None for r in shadowed)
    assert sum(r["label"] == r["shadow_label"] for r in shadowed) == agreeing
    assert 0 < agreeing < 17  # v2 lacks a feature: it answers otherwise, sometimes
    after = [logged[f"after-{i}"][0] for i in range(3)]
    assert all(
        r["shadow_skipped"] == "missing_input" and r["shadow_version"] is None for r in after
    )
    lineage(project)


def lineage(root: Path) -> None:
    """The log's commits and the catalog name v1 as the version that answered, and v2
    apart, as the challenger whose answers went to no one."""
    from weir.app import open_workspace
    from weir.app.prediction_log import answered_by, shadowed_by
    from weir.project import load_project

    history = DeltaTable(str(root / LOG)).history()
    named = [json.loads(h["weir.model_versions"]) for h in history if "weir.model_versions" in h]
    assert named and all(versions == [1] for versions in named)
    assert {v for h in history for v in json.loads(h.get("weir.shadow_versions", "[]"))} == {2}
    ws = open_workspace(load_project(root))
    try:
        records = ws.catalog.versions("quick__predictions")
        assert records
        assert {v for r in records for v in answered_by(ws, r)} == {1}
        assert {m for r in records for m in ws.catalog.answers_of(r.id)} == {("quick", 1)}
        assert {v for r in records for v in shadowed_by(ws, r)} == {2}
    finally:
        ws.close()
    shown = weir("show", "quick__predictions", cwd=root).stdout
    assert "(prediction_log," in shown and "answers of quick v1" in shown
    assert "answers of quick v2" not in shown


def test_a_fraction_shadows_the_requests_its_hash_chooses_and_reads_the_challengers_field(
    project: Path,
) -> None:
    """v3 in staging at start: the request schema takes its sold_at, optionally."""
    promote(project, 3, "staging")
    configure(project, "{stage: staging, fraction: 0.1}")
    server = Server(project, "quick")
    sold = {"sold_at": "2025-03-15T12:00:00Z"}
    ids = [f"share-{i}" for i in range(200)]
    chosen = {i for i in ids if sampled(i, 0.1)}
    lacking = [i for i in (f"lacking-{n}" for n in range(100)) if sampled(i, 0.1)][:4]
    try:
        _, spec = call(server.port, "GET", "/openapi.json")
        schema = spec["components"]["schemas"]["QuickRow"]
        assert "sold_at" in schema["properties"] and "sold_at" not in schema["required"]
        for request_id, row in zip(ids, rows(200), strict=True):
            assert predict(server.port, row | sold, request_id)["version"] == 1
        for request_id, row in zip(lacking, rows(4), strict=True):
            predict(server.port, row, request_id)  # sampled, but without sold_at
        deadline = time.monotonic() + 10
        while metric(server.port, "weir_shadow_answers_total", version="3") < len(chosen):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert metric(server.port, "weir_shadow_answers_total", version="3") == len(chosen)
        assert metric(server.port, "weir_shadow_skipped_total", reason="missing_input") == 4
    finally:
        server.stop(signal.SIGTERM)
    assert 8 <= len(chosen) <= 35  # 20 expected
    logged = wait_for_log(project, {*ids, *lacking})
    assert {i for i in ids if logged[i][0]["shadow_version"] == 3} == chosen
    assert all(logged[i][0]["shadow_version"] is None for i in lacking)
    # the log keeps the champion's inputs: sold_at, which only the challenger takes, is not one
    assert "input_sold_at" not in DeltaTable(str(project / LOG)).schema().to_arrow().names


def test_a_challenger_that_cannot_be_loaded_changes_no_answer_and_is_counted(
    project: Path, plain: Server
) -> None:
    from weir.app import open_workspace
    from weir.project import load_project

    ws = open_workspace(load_project(project))
    try:
        relative, _ = ws.catalog.model_version("quick", 2).serving_spec().graph.as_tuple()
        graph = ws.artifacts.resolve(relative)
    finally:
        ws.close()
    graph.write_bytes(graph.read_bytes() + b"tampered")
    configure(project, "{stage: staging, fraction: 1.0}")
    server = Server(project, "quick")
    try:
        for i, row in enumerate(rows(6)):
            request_id = f"tampered-{i}"
            assert predict(server.port, row, request_id) == predict(plain.port, row, request_id)
        shadow = call(server.port, "GET", "/model")[1]["shadow"]
        assert shadow["version"] is None and "cannot answer in the shadow" in shadow["problem"]
        deadline = time.monotonic() + 10
        while metric(server.port, "weir_shadow_skipped_total", reason="no_challenger") < 6:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert metric(server.port, "weir_shadow_version") == 0
        problems = call(server.port, "GET", "/ready")[1]["problems"]
        assert not any("shadow" in p for p in problems), problems
    finally:
        server.stop(signal.SIGTERM)
    output = server.process.stdout.read() if server.process.stdout else ""
    assert output.count("cannot answer in the shadow") == 1  # said once, not per look
