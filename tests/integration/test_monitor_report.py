"""The monitoring report end to end: a served model answers a normal and a shifted window,
`weir monitor` judges them and writes the report, labels land late and the next run redraws
it with realised metrics, and `weir monitor quick --report` rewrites it from the catalog
in a subprocess, as a user would. The project declares `city` PII: no city may be named."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.integration import test_monitoring as monitored
from tests.integration.sources import run
from tests.integration.test_monitoring import CITIES, WINDOW, Receiver, _traffic

from weir.app import Workspace
from weir.app.monitor_report import latest_path
from weir.app.monitoring import monitor
from weir.app.prediction_log import log_table

SHIFTED = f"rows {WINDOW}-{2 * WINDOW - 1}"
# the monitored project of test_monitoring: trained once here, served, with a webhook
trained, receiver, ws = monitored.trained, monitored.receiver, monitored.ws


def _self_contained(html: str) -> None:
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"url\(\s*['\"]?(?!#)", html)  # only the figures' own clip paths
    assert "@import" not in html and "<link" not in html.lower()


def _no_city(html: str) -> None:
    for city in [*CITIES, "paris"]:
        assert city not in html, f"the PII value {city!r} is in the report"


def _label_everything(ws: Workspace) -> None:
    log = log_table("quick")
    rows = ws.lake.read(log, ws.catalog.current_version(log).version).to_pylist()
    labels = "\n".join(f"{r['request_id']},{int(r['input_v'] > 0)}" for r in rows)
    (ws.project.root / "labels.csv").write_text("rid,y\n" + labels + "\n")
    run(ws.project.root)


def test_the_report_shows_the_evidence_and_every_verdict_and_alert_link_to_it(
    ws: Workspace, receiver: Receiver
) -> None:
    _traffic(ws, 0.0, 0.0, 0, WINDOW)
    _traffic(ws, 1.5, 0.05, WINDOW, WINDOW)
    first = monitor(ws, "quick")
    assert first.report is not None and first.report.is_file()
    assert first.report.parent == ws.project.workspace / "reports" / "monitor" / "quick"
    assert {r.report for r in first.recorded} == {str(first.report)}
    hooks = [b for b in receiver.bodies if b.get("check") == "quick/drift"]
    assert [h["report"] for h in hooks] == [str(first.report)]  # the alert links to it
    html = first.report.read_text()
    assert latest_path(ws.project.workspace, "quick").read_text() == html
    _self_contained(html)
    _no_city(html)
    assert f"v: reference vs window {SHIFTED}" in html  # the drifted feature, drawn
    assert "city: reference vs" not in html  # drifted too, but PII: named, not drawn
    assert "Drifted, not drawn (their values may not be shown): city (pii)" in html
    for picture in ("Drift per column and window", "Drifted columns over time"):
        assert picture in html
    assert "Performance over time: accuracy" in html and "estimated (CBPE)" in html
    assert "Verdicts and alerts" in html and f"rows 0-{WINDOW - 1}" in html
    assert "quick/drift" in html and "opened" in html  # the alert, in the alerts table

    _label_everything(ws)  # labels arrive late: the windows are judged again
    second = monitor(ws, "quick")
    assert second.report is not None and second.report != first.report
    assert first.report.is_file()  # the first run's copy stays for its alert's link
    assert {r.report for r in second.recorded} == {str(second.report)}
    assert all(r.check == "performance" for r in second.recorded)
    html = second.report.read_text()
    _no_city(html)
    assert "realised on 150 rows" in html and ">realised<" in html
    assert f"v: reference vs window {SHIFTED}" in html  # still the newest drifted window


def _weir(root: Path, *args: str) -> str:
    environment = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "weir", *args, "-p", str(root)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_weir_monitor_report_rewrites_it_from_the_catalog(ws: Workspace) -> None:
    _traffic(ws, 0.0, 0.0, 0, WINDOW)
    _traffic(ws, 1.5, 0.05, WINDOW, WINDOW)
    assert monitor(ws, "quick").report is not None
    latest = latest_path(ws.project.workspace, "quick")
    latest.unlink()
    said = _weir(ws.project.root, "monitor", "quick", "--report")
    assert "report: .weir/reports/monitor/quick.html" in said
    html = latest.read_text()
    _self_contained(html)
    _no_city(html)
    assert f"v: reference vs window {SHIFTED}" in html  # the rows were read again
    assert "Drift per column and window" in html and f"rows 0-{WINDOW - 1}" in html
    assert len(ws.catalog.monitor_results("quick")) == 4  # --report judged nothing
