"""The monitoring report's page: its sections as HTML, from the verdicts and alerts that
weir.app.monitor_history reads and, for the distributions, the rows in hand; the figures
are drawn by weir.monitor.plots. Every text is escaped; no value of a PII input is drawn
or named."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.app.monitor_data import VERSION, Judged, Reference, Window
from weir.app.monitor_history import (
    Alerts,
    History,
    drift_matrix,
    newest_drifted,
    performance_series,
    statuses,
)
from weir.app.monitor_types import DRIFT, PERFORMANCE
from weir.app.prediction_log import log_table
from weir.catalog import Measure, MonitorResultRecord
from weir.core.errors import WeirError
from weir.monitor import plots
from weir.monitor.alerts import Alert

DISTRIBUTIONS = 12  # distribution pictures at most (the most drifted columns first)
HEATMAP_COLUMNS = 60
LINE_COLUMNS = 8
ALERTS_SHOWN = 20


@dataclass(frozen=True)
class ReportRows:
    """The rows behind the distribution pictures: windows whose verdicts are in the
    catalog (the monitor hands in the closed windows it cut; the newest drifted one among
    them is drawn), and how to get the reference they were compared with. The reference is
    asked for only when there is a drifted window to draw (reading it means scoring the
    held-out rows): the monitor hands in its own lazily read one."""

    reference: Callable[[], Reference]
    windows: Sequence[Window]


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
class Page:
    """What every section shares, and what they add: pictures drawn, notes."""

    project: str
    watched: Judged
    history: History
    verdicts: list[MonitorResultRecord]  # the newest, for the table
    now: datetime
    pictures: int = 0
    notes: list[str] = field(default_factory=list)

    def figure(self, svg: str) -> str:
        self.pictures += 1
        return f"<div class='fig'>{svg}</div>"


def render(page: Page, rows: ReportRows | None, alerts: Alerts) -> str:
    """The whole HTML document."""
    watched = page.watched
    title = f"{watched.model} v{watched.version}: monitoring"
    sections = [
        f"<h1>{escape(title)}</h1>",
        f"<p class='sub'>project {escape(page.project)} · written "
        f"{page.now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC</p>",
        _glance(page, alerts),
        _timeline(page, alerts),
        _distributions(page, rows),
        _drift(page),
        _performance(page),
        _alerts(alerts),
        _verdicts(page),
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


def _glance(page: Page, alerts: Alerts) -> str:
    watched, history = page.watched, page.history
    rows = [
        ("model version", f"v{watched.version} ({watched.record.stage})"),
        ("reference", _reference_text(watched, history)),
        ("current data", _current_text(watched, history)),
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
    what = "table"
    if watched.config.reference == "training":
        what = f"training rows of v{newest.model_version or watched.version}"
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


def _timeline(page: Page, alerts: Alerts) -> str:
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


def _distributions(page: Page, rows: ReportRows | None) -> str:
    watched, history = page.watched, page.history
    html = "<h2>What drifted</h2>"
    if rows is None:
        return html + (
            "<p class='note'>Distribution pictures are drawn with the rows in hand: by "
            "<code>weir monitor</code> when it judges, and by <code>weir monitor MODEL "
            "--report</code> when the newest drifted window can be read again.</p>"
        )
    keys = [w.ref.key for w in rows.windows]
    verdict = newest_drifted(history, watched.version, keys)
    if verdict is None:
        return html + "<p>No window in hand drifted: nothing to draw.</p>"
    window = next(w for w in rows.windows if w.ref.key == verdict.window.key)
    try:
        reference = rows.reference()
    except WeirError as exc:
        page.notes.append(f"distributions not drawn: the reference cannot be read: {exc.message}")
        return html + "<p>Not drawn: the reference cannot be read (see the note above).</p>"
    html += _drifted_intro(history, verdict)
    drifted = _ranked_bad(verdict.measures)
    hidden = [c for c in drifted if c in watched.withheld]
    shown = [c for c in drifted if c not in watched.withheld][:DISTRIBUTIONS]
    figures = [_distribution(watched, reference, window, c) for c in shown]
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


def _drift(page: Page) -> str:
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


def _performance(page: Page) -> str:
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


def _verdicts(page: Page) -> str:
    records = page.verdicts
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


def _settings(page: Page) -> str:
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


def _how_to_read(page: Page) -> str:
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
