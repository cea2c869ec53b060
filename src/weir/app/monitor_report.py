"""The monitoring report: one self-contained HTML file per model that says what the monitor
found, with pictures — for the person an alert wakes, who must decide whether the model
still deserves its traffic.

Where: WORKSPACE/reports/monitor/MODEL.html is the latest (rewritten by every `weir
monitor` that judged something, and by `weir monitor MODEL --report`); each judging run
also keeps its own copy, WORKSPACE/reports/monitor/MODEL/<UTC time>.html, which its
verdicts (`report`) and its alerts name: an alert's link shows the evidence of the run that
raised it, even after later runs. The newest KEEP_SNAPSHOTS copies are kept (a scheduler
judging every hour would otherwise fill the disk); the latest keeps the whole timeline.

What: the verdicts and alerts on a timeline; per drifted column of the newest drifted
window, its distribution against the reference (this needs the rows, so it is drawn when
the caller hands them in: the monitor passes the reference and the windows it judged, and
`--report` reads them again the way the monitor does, one read of each); drift and
performance over the newest windows; the newest verdicts; the settings; how to read it.

Safe to open: no script, no external resource (figures are inline SVG), every text
escaped; no value of a PII input anywhere (its drift is drawn as a statistic over time,
never as a distribution, and its verdicts already name no values).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from weir.app.monitor_data import Judged, current, judged, reference, windows
from weir.app.monitor_history import History, newest_drifted, read_alerts, read_history
from weir.app.monitor_report_page import Page, ReportRows, render
from weir.app.workspace import Workspace
from weir.core.errors import WRITE_FIXES, MonitorError, WeirError
from weir.monitor.alerts import Alert, AlertPolicy

__all__ = [
    "ALERTS_LOG",
    "MonitorReport",
    "ReportRows",
    "latest_path",
    "report_from_catalog",
    "snapshot_path",
    "write_report",
]

REPORTS = "reports/monitor"
ALERTS_LOG = "logs/alerts.jsonl"
KEEP_SNAPSHOTS = 100
VERDICTS_SHOWN = 30


@dataclass(frozen=True)
class MonitorReport:
    """What was written: `path` is the file the verdicts name (this run's copy, or the
    latest for `--report`), `latest` the model's latest report."""

    path: Path
    latest: Path
    pictures: int
    notes: tuple[str, ...] = ()


def latest_path(workspace: Path, model: str) -> Path:
    return workspace / REPORTS / f"{model}.html"


def snapshot_path(workspace: Path, model: str, now: datetime) -> Path:
    """Where the report of a run judged at `now` will be: known before the verdicts are
    recorded, so they (and the alerts) can name it. A second run in the same second gets
    its own file."""
    folder = workspace / REPORTS / model
    stamp = f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    path, number = folder / f"{stamp}.html", 2
    while path.exists():
        path, number = folder / f"{stamp}-{number}.html", number + 1
    return path


def write_report(
    ws: Workspace,
    watched: Judged,
    *,
    now: datetime,
    snapshot: Path | None = None,
    rows: ReportRows | None = None,
    alerts: Sequence[Alert] = (),
) -> MonitorReport:
    """Write the model's report from the catalog (and `rows`, for distributions): to
    `snapshot` and the latest when a run judged something, else to the latest alone."""
    history = read_history(ws.catalog, watched.model)
    verdicts = ws.catalog.monitor_results(watched.model, limit=VERDICTS_SHOWN)
    page = Page(ws.project.config.name, watched, history, verdicts, now)
    found = read_alerts(
        ws.project.workspace / ALERTS_LOG,
        watched.model,
        history,
        AlertPolicy(watched.config.alerts.raise_after, watched.config.alerts.clear_after),
        alerts,
    )
    page.notes += found.notes
    content = render(page, rows, found).encode()
    latest = latest_path(ws.project.workspace, watched.model)
    for target in (snapshot, latest):
        if target is not None:
            _write_atomic(target, content)
    if snapshot is not None:
        _prune(snapshot.parent)
    return MonitorReport(snapshot or latest, latest, page.pictures, tuple(page.notes))


def report_from_catalog(ws: Workspace, model: str, *, now: datetime | None = None) -> MonitorReport:
    """`weir monitor MODEL --report`: the latest report, judging nothing. The distribution
    pictures need the newest drifted window's rows and the reference: they are read again
    as the monitor reads them (one read of each, and the version's answers to its held-out
    rows); when that fails (a table version was vacuumed), the report says so and is
    written without them."""
    now = now or datetime.now(UTC)
    watched = judged(ws, model)
    rows, notes = _reread(ws, watched, read_history(ws.catalog, model), now)
    written = write_report(ws, watched, now=now, rows=rows)
    return MonitorReport(written.path, written.latest, written.pictures, (*notes, *written.notes))


def _reread(
    ws: Workspace, watched: Judged, history: History, now: datetime
) -> tuple[ReportRows | None, list[str]]:
    """The newest drifted window's rows, cut from the current data as the monitor cut them
    (a closed window's rows do not change), and the reference, read when drawn."""
    wanted = newest_drifted(history, watched.version, history.keys)
    if wanted is None:
        return None, []
    try:
        data = current(ws, watched)
    except WeirError as exc:
        return None, [f"distributions not drawn: the current data cannot be read: {exc.message}"]
    closed, _ = windows(data.rows, watched.config.window, now)
    found = [w for w in closed if w.ref.key == wanted.window.key]
    if not found:
        return None, [
            f"distributions not drawn: window {wanted.window.key} is no longer in {data.table}"
        ]
    return ReportRows(lambda: reference(ws, watched), found), []


def _write_atomic(path: Path, content: bytes) -> None:
    """Whole or not at all: a browser (or an alert's reader) never opens half a report."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
        temporary = None
    except OSError as exc:
        raise MonitorError(
            f"monitoring report {path}: cannot be written ({exc.strerror or exc})",
            fix=WRITE_FIXES.get(exc.errno or -1, f"check that {path.parent} can be written"),
        ) from None
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def _prune(folder: Path) -> None:
    """Keep the newest KEEP_SNAPSHOTS copies of a model's report."""
    copies = sorted(folder.glob("*.html"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    for old in copies[:-KEEP_SNAPSHOTS]:
        old.unlink(missing_ok=True)
