"""`weir monitor MODEL`: judge the windows of a model's current data that are due, record
each verdict in the catalog, and raise or resolve alerts.

Due: a window that closed since the last invocation (drift: a closed window's rows do not
change, so it is judged once), and for performance also a judged window whose labels table
has a new version since (labels arrive late: a window first judged on an estimate is judged
again on its labels). At most `max_windows` windows per check, the newest.

The statistics are weir.monitor's; what is compared with what is weir.app.monitor_data's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from weir.app.monitor_checks import LazyReference, drift_outcomes, performance_outcomes
from weir.app.monitor_data import Judged, current, judged, reference, windows
from weir.app.monitor_report import ALERTS_LOG, ReportRows, snapshot_path, write_report
from weir.app.monitor_types import Outcome
from weir.app.retraining_rollback import RollbackDecision, check_rollback
from weir.app.workspace import Workspace
from weir.catalog import MonitorResultRecord
from weir.core.errors import WeirError
from weir.monitor.alerts import Alert, AlertPolicy, Finding, IncidentState, Observation, advance
from weir.monitor.delivery import DeliveryReport, LogSink, Sink, deliver_all
from weir.monitor.webhook import WebhookSink
from weir.project.monitor_config import AlertsConfig

Progress = Callable[[str], None]
OUTBOX = "monitor/outbox.jsonl"


@dataclass(frozen=True)
class MonitorRun:
    """What one `weir monitor` did: the verdicts it recorded, the alerts it raised and where
    they went, and what a user should know (an open window, a note on the data)."""

    model: str
    version: int
    reference: str
    current: str
    recorded: list[MonitorResultRecord] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    delivery: DeliveryReport | None = None
    notes: list[str] = field(default_factory=list)
    report: Path | None = None  # the monitoring report this run wrote
    rollback: RollbackDecision | None = None  # of a champion a retrain promoted


def monitor(
    ws: Workspace, model: str, *, now: datetime | None = None, progress: Progress | None = None
) -> MonitorRun:
    now = now or datetime.now(UTC)
    watched = judged(ws, model)
    data = current(ws, watched)
    closed, open_note = windows(data.rows, watched.config.window, now)
    notes = [*data.notes, *([open_note] if open_note else [])]
    where = f"{data.table}@{data.version}" if data.version is not None else data.table
    lazy = LazyReference(lambda: reference(ws, watched), progress)
    outcomes: list[Outcome] = []
    if watched.config.drift.enabled:
        outcomes += drift_outcomes(ws, watched, data, closed, lazy)
    if watched.config.performance.enabled:
        performance, said = performance_outcomes(ws, watched, data, closed, lazy)
        outcomes += performance
        notes += said
    planned = snapshot_path(ws.project.workspace, model, now) if outcomes else None
    recorded = [_record(ws, watched, outcome, planned) for outcome in outcomes]
    alerts = _advance(ws, watched.model, watched.config.alerts, outcomes, now, planned)
    delivery = _deliver(ws, watched.config.alerts, alerts)
    report = None
    if planned is not None:
        rows = ReportRows(lazy.get, closed)
        report, said = _report(ws, watched, planned, rows, alerts, now)
        notes += said
    rollback = _rollback(ws, watched, now)
    source = lazy.value.source if lazy.value else "(not read: no window was due)"
    return MonitorRun(
        model, watched.version, source, where, recorded, alerts, delivery, notes, report, rollback
    )


def _rollback(ws: Workspace, watched: Judged, now: datetime) -> RollbackDecision | None:
    """A champion that a retrain promoted is judged against its predecessor on the first
    labelled window of its own answers (once; see weir.app.retraining_rollback): the
    monitor is what reads new labels, so it is where a bad promotion is undone."""
    retrain = watched.config.retrain
    if retrain is None or not retrain.rollback:
        return None
    return check_rollback(ws, watched.model, now=now)


def _report(
    ws: Workspace,
    watched: Judged,
    planned: Path,
    rows: ReportRows,
    alerts: Sequence[Alert],
    now: datetime,
) -> tuple[Path | None, list[str]]:
    """The run's report, written after the alerts went out (a report that cannot be
    drawn or written must not hold an alert back); failing, it is a note."""
    try:
        written = write_report(ws, watched, now=now, snapshot=planned, rows=rows, alerts=alerts)
    except WeirError as exc:
        return None, [f"the monitoring report was not written: {exc.message} ({exc.fix})"]
    return written.path, list(written.notes)


def _record(
    ws: Workspace, watched: Judged, outcome: Outcome, report: Path | None
) -> MonitorResultRecord:
    ws.catalog.record_monitor_result(
        model=watched.model,
        model_version=watched.version,
        check=outcome.check,
        window=outcome.window,
        status=outcome.status,
        summary=outcome.summary,
        measures=outcome.measures,
        data=outcome.data,
        report=str(report) if report else None,
    )
    return ws.catalog.monitor_results(watched.model, outcome.check, limit=1)[0]


def _state_key(model: str, check: str) -> str:
    return f"incident:{model}:{check}"


def _advance(
    ws: Workspace,
    model: str,
    config: AlertsConfig,
    outcomes: Sequence[Outcome],
    now: datetime,
    report: Path | None,
) -> list[Alert]:
    """Each check's incident moves window by window, oldest first (hysteresis: see
    weir.monitor.alerts); its state is kept in the catalog between invocations."""
    policy = AlertPolicy(raise_after=config.raise_after, clear_after=config.clear_after)
    raised: list[Alert] = []
    for check in dict.fromkeys(o.check for o in outcomes):
        key = _state_key(model, check)
        stored = ws.catalog.monitor_state(key)
        state = IncidentState.from_json(stored) if stored else None
        for outcome in sorted((o for o in outcomes if o.check == check), key=_window_order):
            state, alert = advance(state, _observation(model, outcome, report), policy, now)
            if alert is not None:
                raised.append(alert)
        if state is not None:
            ws.catalog.set_monitor_state(key, state.to_json())
    return raised


def _window_order(outcome: Outcome) -> tuple[datetime, str]:
    start = outcome.window.start or datetime.min.replace(tzinfo=UTC)
    return start, outcome.window.key


def _observation(model: str, outcome: Outcome, report: Path | None) -> Observation:
    return Observation(
        check=f"{model}/{outcome.check}",
        window=outcome.window.key,
        status=outcome.status,
        summary=outcome.summary,
        details=tuple(
            Finding(name=m.name, value=m.value, threshold=m.threshold, statistic=m.statistic)
            for m in outcome.measures
            if m.bad
        ),
        report=str(report) if report else None,
    )


def _deliver(ws: Workspace, config: AlertsConfig, alerts: Sequence[Alert]) -> DeliveryReport:
    """To the alerts log and the webhook; what a webhook could not take waits in the
    outbox and goes first next time (so this runs even when nothing new was raised)."""
    root = ws.project.workspace
    sinks: list[Sink] = []
    if config.log:
        sinks.append(LogSink(root / ALERTS_LOG))
    if config.webhook is not None:
        hook = config.webhook
        sinks.append(
            WebhookSink(
                hook.url,
                headers=hook.headers,
                secret=hook.secret,
                timeout_seconds=hook.timeout_seconds,
                attempts=hook.attempts,
            )
        )
    return deliver_all(alerts, sinks, root / OUTBOX)
