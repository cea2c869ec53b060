"""OpenLineage events, to a file and to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from weir.app import open_workspace, run_project
from weir.project import load_project, scaffold_project


@pytest.fixture
def lineage_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/lineage", received
    finally:
        server.shutdown()


def configure(root: Path, url: str) -> None:
    scaffold_project(root, name="shop")
    with (root / "weir.yaml").open("a") as config:
        config.write(
            f"\nopenlineage:\n  file: .weir/openlineage.ndjson\n  url: {url}\n  namespace: shop\n"
        )


def run(root: Path) -> Any:
    ws = open_workspace(load_project(root))
    try:
        return run_project(ws)
    finally:
        ws.close()


def test_each_step_that_runs_emits_start_and_complete_with_column_lineage(
    tmp_path: Path, lineage_server: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = lineage_server
    configure(tmp_path, url)
    result = run(tmp_path)
    assert result.ok and result.warnings == []
    written = [
        json.loads(line)
        for line in (tmp_path / ".weir" / "openlineage.ndjson").read_text().splitlines()
    ]
    assert written == received and len(received) == 2 * 5
    by_job = {(e["job"]["name"], e["eventType"]): e for e in received}
    complete = by_job[("shop.sql:customer_totals", "COMPLETE")]
    assert by_job[("shop.sql:customer_totals", "START")]["run"]["runId"] == complete["run"]["runId"]
    assert sorted(d["name"] for d in complete["inputs"]) == ["customers", "orders"]
    [output] = complete["outputs"]
    assert output["namespace"] == "shop" and output["name"] == "customer_totals"
    lineage = output["facets"]["columnLineage"]["fields"]
    assert lineage["spend"]["inputFields"] == [
        {"namespace": "shop", "name": "orders", "field": "amount"}
    ]
    assert {f["name"] for f in output["facets"]["schema"]["fields"]} == {
        "customer_id",
        "country",
        "orders",
        "spend",
    }
    assert all(e["schemaURL"].startswith("https://openlineage.io/spec/") for e in received)
    received.clear()
    assert run(tmp_path).ok and received == []  # skipped steps did not run, so no events


def test_a_failed_step_sends_fail_with_the_error(
    tmp_path: Path, lineage_server: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = lineage_server
    configure(tmp_path, url)
    totals = tmp_path / "sql" / "customer_totals.sql"
    totals.write_text(totals.read_text().replace("c.country,", "c.nope,", 1))
    run(tmp_path)
    [failed] = [e for e in received if e["eventType"] == "FAIL"]
    assert failed["job"]["name"] == "shop.sql:customer_totals" and failed["outputs"] == []
    assert "nope" in failed["run"]["facets"]["errorMessage"]["message"]


def test_an_unreachable_server_warns_and_the_run_goes_on(tmp_path: Path) -> None:
    configure(tmp_path, "http://127.0.0.1:9/lineage")
    result = run(tmp_path)
    assert result.ok and result.warnings and "not delivered" in result.warnings[0]
    assert len((tmp_path / ".weir" / "openlineage.ndjson").read_text().splitlines()) == 10
