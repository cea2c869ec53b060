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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.app.monitor_data import (
    VERSION,
    Judged,
    Reference,
    Window,
    current,
    judged,
    reference,
    windows,
)
from weir.app.monitor_history import (
    Alerts,
    History,
    drift_matrix,
    performance_series,
    read_alerts,
    read_history,
    statuses,
    window_order,
)
from weir.app.monitor_types import DRIFT, PERFORMANCE
from weir.app.prediction_log import log_table
from weir.app.workspace import Workspace
from weir.catalog import Measure, MonitorResultRecord
from weir.core.errors import WRITE_FIXES, MonitorError, WeirError
from weir.monitor import plots
from weir.monitor.alerts import Alert, AlertPolicy

REPORTS = "reports/monitor"
ALERTS_LOG = "logs/alerts.jsonl"
KEEP_SNAPSHOTS = 100
DISTRIBUTIONS = 12  # distribution pictures at most (the most drifted columns first)
HEATMAP_COLUMNS = 60
LINE_COLUMNS = 8
VERDICTS_SHOWN = 30
ALERTS_SHOWN = 20


@dataclass(frozen=True)
class ReportRows:
    """The rows behind the distribution pictures: the reference the windows were compared
    with, and windows whose verdicts are in the catalog (the monitor hands in the closed
    windows it cut; the newest drifted one among them is drawn)."""

    reference: Reference
    windows: Sequence[Window]


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
    reference_text: str | None = None,
    current_text: str | None = None,
) -> MonitorReport:
    """Write the model's report from the catalog (and `rows`, for distributions): to
    `snapshot` and the latest when a run judged something, else to the latest alone."""
    history = read_history(ws.catalog, watched.model)
    page = _Page(watched, history, now, reference_text, current_text)
    found = read_alerts(
        ws.project.workspace / ALERTS_LOG,
        watched.model,
        history,
        AlertPolicy(watched.config.alerts.raise_after, watched.config.alerts.clear_after),
        alerts,
    )
    page.notes += found.notes
    content = render(ws, page, rows, found).encode()
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
    rows, texts, notes = _reread(ws, watched, read_history(ws.catalog, model), now)
    written = write_report(
        ws, watched, now=now, rows=rows, reference_text=texts[0], current_text=texts[1]
    )
    return MonitorReport(written.path, written.latest, written.pictures, (*notes, *written.notes))


def _reread(
    ws: Workspace, watched: Judged, history: History, now: datetime
) -> tuple[ReportRows | None, tuple[str | None, str | None], list[str]]:
    wanted = _newest_drifted(watched, history, history.keys)
    if wanted is None:
        return None, (None, None), []
    try:
        data = current(ws, watched)
        closed, _ = windows(data.rows, watched.config.window, now)
        found = [w for w in closed if w.ref.key == wanted.window.key]
        if not found:
            return (
                None,
                (None, None),
                [
                    f"window {wanted.window.key} is no longer in {data.table}: its distributions "
                    "are not drawn"
                ],
            )
        ref = reference(ws, watched)
    except WeirError as exc:
        return None, (None, None), [f"distributions not drawn: {exc.message}"]
    where = f"{data.table}@{data.version}" if data.version is not None else data.table
    return ReportRows(ref, found), (ref.source, where), []


def _newest_drifted(
    watched: Judged, history: History, keys: Sequence[str]
) -> MonitorResultRecord | None:
    """The newest bad drift verdict of the judged version among the windows `keys`."""
    candidates = [
        history.drift[k]
        for k in keys
        if k in history.drift
        and history.drift[k].status == "bad"
        and history.drift[k].model_version == watched.version
    ]
    return max(candidates, key=lambda r: window_order(r.window), default=None)


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


# the page ----------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:28px auto;max-width:1180px;color:#222;line-height:1.4}
h1{margin-bottom:0}.sub{color:#666;margin-top:4px}
table{border-collapse:collapse;margin:8px 0 18px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.figs{display:flex;flex-wrap:wrap;gap:12px}.figs>div{border:1px solid #eee;padding:6px}
.fig{border:1px solid #eee;padding:6px;margin:6px 0;overflow-x:auto}
.ok{color:#2e7d32;font-weight:600}.bad{color:#c0392b;font-weight:600}.undecided{color:#a07800;font-weight:600}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:6px 10px;margin:6px 0}
.note{color:#555}code{background:#f6f6f6;padding:1px 4px}
"""


@dataclass
class _Page:
    """What every section shares, and what they add: pictures drawn, notes."""

    watched: Judged
    history: History
    now: datetime
    reference_text: str | None
    current_text: str | None
    pictures: int = 0
    notes: list[str] = field(default_factory=list)

    def figure(self, svg: str) -> str:
        self.pictures += 1
        return f"<div class='fig'>{svg}</div>"


def render(ws: Workspace, page: _Page, rows: ReportRows | None, alerts: Alerts) -> str:
    watched = page.watched
    title = f"{watched.model} v{watched.version}: monitoring"
    sections = [
        f"<h1>{escape(title)}</h1>",
        f"<p class='sub'>project {escape(ws.project.config.name)} · written "
        f"{page.now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC</p>",
        _glance(page, alerts),
        _timeline(page, alerts),
        _distributions(page, rows),
        _drift(page),
        _performance(page),
        _alerts(alerts),
        _verdicts(ws, page),
        _settings(page),
        _how_to_read(page),
    ]
    notes = "".join(f"<div class='warn'>{escape(n)}</div>" for n in page.notes)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{sections[0]}{sections[1]}{notes}"
        f"{''.join(sections[2:])}</body></html>"
    )


def _status(status: str) -> str:
    return f"<span class='{escape(status)}'>{escape(status)}</span>"


def _glance(page: _Page, alerts: Alerts) -> str:
    watched, history = page.watched, page.history
    rows = [
        ("model version", f"v{watched.version} ({watched.record.stage})"),
        ("reference", page.reference_text or _reference_text(watched, history)),
        ("current data", page.current_text or _current_text(watched, history)),
    ]
    html = "<h2>At a glance</h2>" + _table(["", ""], rows, header=False)
    items = []
    for check in (DRIFT, PERFORMANCE):
        newest = history.newest(check)
        if newest is not None:
            items.append(
                f"<li>{escape(check)}: {_status(newest.status)} on window "
                f"<code>{escape(newest.window.key)}</code> ({newest.window.rows:,} rows): "
                f"{escape(newest.summary)}</li>"
            )
    open_incidents = _open_incidents(alerts)
    for alert in open_incidents:
        items.append(
            f"<li><span class='bad'>open incident</span> {escape(alert.check)} since window "
            f"<code>{escape(alert.window)}</code> ({alert.at:%Y-%m-%d %H:%M} UTC)</li>"
        )
    if not items:
        return html + "<p>Nothing judged yet: run <code>weir monitor MODEL</code>.</p>"
    return html + "<ul>" + "".join(items) + "</ul>"


def _open_incidents(alerts: Alerts) -> list[Alert]:
    last: dict[str, Alert] = {}
    for alert in alerts.alerts:
        last[alert.incident] = alert
    return [a for a in last.values() if a.event == "opened"]


def _reference_text(watched: Judged, history: History) -> str:
    """From the catalog alone: the tables a verdict rests on, other than the current data
    and the labels."""
    newest = history.newest(DRIFT) or history.newest(PERFORMANCE)
    if newest is None:
        return watched.config.reference
    others = _data_tables(watched)
    tables = [f"{t}@{v}" for t, v in newest.data.items() if t not in others]
    what = "training rows" if watched.config.reference == "training" else "table"
    return (", ".join(tables) or watched.config.reference) + f" ({what})"


def _current_text(watched: Judged, history: History) -> str:
    table = _current_table(watched)
    newest = history.newest(DRIFT) or history.newest(PERFORMANCE)
    if newest is not None and table in newest.data:
        return f"{table}@{newest.data[table]}"
    return table


def _current_table(watched: Judged) -> str:
    if watched.config.current == "predictions":
        return log_table(watched.model)
    return watched.config.current


def _data_tables(watched: Judged) -> set[str]:
    labels = watched.config.labels
    return {_current_table(watched), *([labels.table] if labels else [])}


# sections ----------------------------------------------------------------------------------


def _timeline(page: _Page, alerts: Alerts) -> str:
    history = page.history
    if not history.windows:
        return ""
    found = statuses(history)
    events = alerts.events(page.watched.model, history.keys)
    figure = plots.status_timeline(history.keys, found, events)
    return (
        f"<h2>Timeline</h2><p>The newest {len(history.keys)} windows judged, oldest first: "
        f"the newest verdict of each check on each window, and the alerts ({escape(alerts.source)}).</p>"
        + page.figure(figure)
    )


def _distributions(page: _Page, rows: ReportRows | None) -> str:
    watched, history = page.watched, page.history
    html = "<h2>What drifted</h2>"
    if rows is None:
        return html + (
            "<p class='note'>Distribution pictures are drawn with the rows in hand: by "
            "<code>weir monitor</code> when it judges, and by <code>weir monitor MODEL "
            "--report</code> when the newest drifted window can be read again.</p>"
        )
    keys = [w.ref.key for w in rows.windows]
    verdict = _newest_drifted(watched, history, keys)
    if verdict is None:
        return html + "<p>No window in hand drifted: nothing to draw.</p>"
    window = next(w for w in rows.windows if w.ref.key == verdict.window.key)
    html += _drifted_intro(history, verdict)
    drifted = _ranked_bad(verdict.measures)
    hidden = [c for c in drifted if c in watched.withheld]
    shown = [c for c in drifted if c not in watched.withheld][:DISTRIBUTIONS]
    figures = [_distribution(watched, rows.reference, window, c) for c in shown]
    html += "<div class='figs'>" + "".join(page.figure(f) for f in figures if f) + "</div>"
    if hidden:
        classes = ", ".join(f"{c} ({watched.withheld[c]})" for c in hidden)
        html += f"<p>Drifted, not drawn (their values may not be shown): {escape(classes)}.</p>"
    if len(drifted) - len(hidden) > DISTRIBUTIONS:
        html += f"<p class='note'>The {DISTRIBUTIONS} most drifted of {len(drifted) - len(hidden)} columns are drawn.</p>"
    return html


def _drifted_intro(history: History, verdict: MonitorResultRecord) -> str:
    text = (
        f"<p>Window <code>{escape(verdict.window.key)}</code> ({verdict.window.rows:,} rows, "
        f"judged {verdict.created_at:%Y-%m-%d %H:%M} UTC): {escape(verdict.summary)}.</p>"
    )
    newest = history.newest(DRIFT)
    if newest is not None and newest.window.key != verdict.window.key:
        text += (
            f"<p class='note'>The newest window judged, <code>{escape(newest.window.key)}</code>, "
            f"is {_status(newest.status)}; the pictures are of the newest window that drifted.</p>"
        )
    return text


def _ranked_bad(measures: Sequence[Measure]) -> list[str]:
    """Columns with a drifted test, the most drifted (statistic / threshold) first."""
    peak: dict[str, float] = {}
    for measure in measures:
        if measure.bad:
            ratio = plots.drift_ratio(np.asarray([measure.value]), np.asarray([measure.threshold]))
            peak[measure.name] = max(peak.get(measure.name, 0.0), float(ratio[0]))
    return sorted(peak, key=lambda c: -peak[c])


def _distribution(watched: Judged, ref: Reference, window: Window, column: str) -> str:
    """One column's reference and current distribution; answers are compared over the
    rows the judged version answered, as the drift check compares them."""
    side = ref.answers if column in watched.outputs else ref.inputs
    rows = window.rows
    if column in watched.outputs and VERSION in rows.schema.names:
        rows = rows.filter(pc.equal(rows.column(VERSION), watched.version))
    if column not in side.schema.names or column not in rows.schema.names:
        return ""
    title = f"{column}: reference vs window {window.ref.key}"
    if watched.kinds.get(column) == "numeric":
        return plots.numeric_distribution(
            _floats(side.column(column)), _floats(rows.column(column)), title=title
        )
    return plots.category_distribution(
        _counts(side.column(column)), _counts(rows.column(column)), title=title
    )


def _decoded(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _floats(column: pa.ChunkedArray) -> plots.FloatArray:
    values = pc.cast(_decoded(column), pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float64)


def _counts(column: pa.ChunkedArray) -> dict[str, int]:
    """Rows per category as text; nulls (and NaN) as plots.MISSING."""
    counted = pc.value_counts(_decoded(column)).flatten()
    found: dict[str, int] = {}
    for value, count in zip(counted[0].to_pylist(), counted[1].to_pylist(), strict=True):
        missing = value is None or (isinstance(value, float) and value != value)
        name = plots.MISSING if missing else str(value)
        found[name] = found.get(name, 0) + int(count)
    return found


def _drift(page: _Page) -> str:
    watched, history = page.watched, page.history
    matrix = drift_matrix(history, list(watched.kinds))
    if not matrix.columns:
        return "<h2>Drift over time</h2><p>No drift verdict with measures yet.</p>"
    drifted = matrix.ever_drifted()
    order = list(dict.fromkeys([*drifted, *matrix.columns]))[:HEATMAP_COLUMNS]
    kept = matrix.select([c for c in matrix.columns if c in order])
    html = "<h2>Drift over time</h2>" + page.figure(
        plots.drift_heatmap(history.keys, kept.columns, kept.ratios, kept.drifted)
    )
    if len(matrix.columns) > HEATMAP_COLUMNS:
        html += f"<p class='note'>{HEATMAP_COLUMNS} of {len(matrix.columns)} columns shown (the drifted first).</p>"
    if drifted:
        lines = matrix.select(drifted[:LINE_COLUMNS])
        html += page.figure(
            plots.drift_lines(history.keys, lines.columns, lines.ratios, lines.drifted)
        )
    return html


def _performance(page: _Page) -> str:
    series = performance_series(page.history)
    html = "<h2>Performance over time</h2>"
    if series is None:
        newest = page.history.newest(PERFORMANCE)
        why = f" The newest verdict: {escape(newest.summary)}." if newest else ""
        return html + f"<p>No window has an estimated or realised metric yet.{why}</p>"
    return html + page.figure(plots.performance_over_time(page.history.keys, series))


def _alerts(alerts: Alerts) -> str:
    html = f"<h2>Alerts</h2><p class='note'>From {escape(alerts.source)}.</p>"
    if not alerts.alerts:
        return html + "<p>No alert.</p>"
    newest = list(reversed(alerts.alerts))[:ALERTS_SHOWN]
    rows = [
        (f"{a.at:%Y-%m-%d %H:%M}", a.check, a.event, a.window, a.incident, a.summary)
        for a in newest
    ]
    return html + _table(["at (UTC)", "check", "event", "window", "incident", "summary"], rows)


def _verdicts(ws: Workspace, page: _Page) -> str:
    records = ws.catalog.monitor_results(page.watched.model, limit=VERDICTS_SHOWN)
    html = "<h2>Newest verdicts</h2>"
    if not records:
        return html + "<p>None yet.</p>"
    rows = [
        (
            f"{r.created_at:%Y-%m-%d %H:%M}",
            r.check,
            str(r.model_version or ""),
            r.window.key,
            f"{r.window.rows:,}",
            _status(r.status),
            r.summary,
        )
        for r in records
    ]
    html += _table(
        ["judged (UTC)", "check", "version", "window", "rows", "status", "summary"], rows, raw=5
    )
    for check in (DRIFT, PERFORMANCE):
        newest = page.history.newest(check)
        if newest is not None and newest.measures:
            html += (
                f"<h3>{escape(check)} on window <code>{escape(newest.window.key)}</code></h3>"
                + _measures(newest.measures)
            )
    return html


def _measures(measures: Sequence[Measure]) -> str:
    rows = []
    for m in measures:
        value = f"{m.value:.4g}"
        if m.low is not None and m.high is not None:
            value += f" [{m.low:.3g}, {m.high:.3g}]"
        rows.append(
            (
                m.name,
                m.test,
                m.statistic,
                value,
                f"{m.threshold:.4g}",
                "yes" if m.bad else "no",
                "" if m.rows is None else f"{m.rows:,}",
                m.detail,
            )
        )
    headers = ["column / metric", "test", "statistic", "value", "threshold", "drifted / low?"]
    return _table([*headers, "rows", "detail"], rows)


def _settings(page: _Page) -> str:
    config, watched = page.watched.config, page.watched
    window = config.window
    cut = (
        f"{window.rows:,} rows each"
        if window.rows
        else f"every {window.every or '1d'} of {window.column}"
    )
    rows = [
        ("windows", f"{cut}; at most {config.max_windows} judged per check and run"),
        (
            "drift",
            f"{'on' if config.drift.enabled else 'off'}; false-alarm budget "
            f"{config.drift.budget:g} per window (Holm across its tests); answers watched: "
            f"{'yes' if config.drift.output else 'no'}",
        ),
        ("watched columns", ", ".join(f"{c} ({k})" for c, k in watched.kinds.items()) or "none"),
        ("not watched", ", ".join(watched.skipped) or "none"),
        (
            "values not shown (PII)",
            ", ".join(f"{c} ({k})" for c, k in watched.withheld.items()) or "none",
        ),
        (
            "performance",
            f"{'on' if config.performance.enabled else 'off'}; metric "
            f"{config.performance.metric or 'its own (tuning or default)'}; bad below the version's test "
            f"score minus {config.performance.max_drop:g}; realised from "
            f"{config.performance.min_labels} labels; estimated before: "
            f"{'yes' if config.performance.estimate else 'no'}",
        ),
        (
            "labels",
            f"{config.labels.table} (key {config.labels.key} = {config.labels.log_key})"
            if config.labels
            else "none",
        ),
        (
            "alerts",
            f"opened after {config.alerts.raise_after} bad window(s) in a row, resolved "
            f"after {config.alerts.clear_after} ok; log: {'on' if config.alerts.log else 'off'}; "
            f"webhook: {'yes' if config.alerts.webhook else 'no'}",
        ),
    ]
    return "<h2>Settings</h2>" + _table(["", ""], rows, header=False)


def _how_to_read(page: _Page) -> str:
    budget = page.watched.config.drift.budget
    return f"""<h2>How to read this</h2>
<p><b>Drift.</b> Each watched column of a window is tested against the reference (the
inputs against the version's training rows, its answers against its answers to held-out
rows). A test's <i>threshold</i> is learned from the reference at the window's own size,
so <i>statistic / threshold</i> above 1 means drift, at a hundred rows as at ten million. The
tests of one window share a <b>false-alarm budget of {budget:.0%}</b>: when nothing changed
at all, a window is flagged with a chance of at most {budget:.0%}, however many columns
are watched. About one quiet window in {round(1 / budget)} may still be flagged: one red
cell alone is weak evidence, a run of them is not. With large windows, tiny changes can be
proven: the statistic's size says whether a change matters.</p>
<p><b>Performance.</b> Realised values (black) are the model's own metric on the labels
that have arrived; the number above each is how many labels it rests on. Before labels
arrive, binary classifiers get an estimate from their calibrated confidence (CBPE; the band
is its interval). A window is bad when its metric falls more than the allowed drop below
the version's test score (the dashed floor).</p>
<p><b>Alerts.</b> An incident opens after enough bad windows in a row and resolves after
enough ok ones (see Settings); undecided windows (too few rows or labels) do neither.</p>
<p><b>Privacy.</b> Columns whose values may not be shown (PII) appear only as statistics
over time, never as distributions or category names.</p>"""


def _table(
    headers: list[str], rows: Sequence[tuple[str, ...]], header: bool = True, raw: int = -1
) -> str:
    """Every cell escaped, but column `raw` (already-escaped markup made here)."""
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>" if header else ""
    body = "".join(
        "<tr>"
        + "".join(f"<td>{cell if i == raw else escape(cell)}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"
