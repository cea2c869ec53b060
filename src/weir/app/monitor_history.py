"""What the monitoring report draws over time, read from the catalog and the alerts log:
the newest verdict of each check on each of the newest windows, their measures as arrays
for weir.monitor.plots, and the alerts raised on them.

Bounded reads: the report shows the newest `SHOWN_WINDOWS` windows, and asks the catalog
for only as many verdicts as can cover them (a window is judged for drift once, and for
performance once more per new version of its labels), so a year of hourly verdicts does
not make a report slow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from weir.app.monitor_types import DRIFT, PERFORMANCE
from weir.catalog import Catalog, Measure, MonitorResultRecord, Status, WindowRef
from weir.core.errors import MonitorError
from weir.ml import metrics as m
from weir.monitor.alerts import (
    Alert,
    AlertPolicy,
    IncidentState,
    Observation,
    advance,
    alert_from_json,
)
from weir.monitor.plots import BoolArray, FloatArray, PerformanceSeries, TimelineEvent, drift_ratio

SHOWN_WINDOWS = 60
_DRIFT_READ = 2 * SHOWN_WINDOWS  # drift judges a window once; room for a changed window scheme
_PERFORMANCE_READ = 20 * SHOWN_WINDOWS  # re-judged as labels arrive
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class History:
    """The newest windows judged (oldest first) and the verdicts on them."""

    windows: tuple[WindowRef, ...]
    drift: dict[str, MonitorResultRecord]  # window key -> newest drift verdict
    performance: dict[str, tuple[MonitorResultRecord, ...]]  # window key -> newest first

    @property
    def keys(self) -> list[str]:
        return [w.key for w in self.windows]

    def newest(self, check: str) -> MonitorResultRecord | None:
        """The newest verdict of `check` on the newest window it judged."""
        for key in reversed(self.keys):
            if check == DRIFT and key in self.drift:
                return self.drift[key]
            if check == PERFORMANCE and key in self.performance:
                return self.performance[key][0]
        return None


def read_history(catalog: Catalog, model: str) -> History:
    drift: dict[str, MonitorResultRecord] = {}
    for record in catalog.monitor_results(model, DRIFT, limit=_DRIFT_READ):
        drift.setdefault(record.window.key, record)
    performance: dict[str, list[MonitorResultRecord]] = {}
    for record in catalog.monitor_results(model, PERFORMANCE, limit=_PERFORMANCE_READ):
        performance.setdefault(record.window.key, []).append(record)
    refs = {r.window.key: r.window for r in drift.values()}
    refs |= {
        rs[0].window.key: rs[0].window
        for rs in performance.values()
        if rs[0].window.key not in refs
    }
    shown = sorted(refs.values(), key=window_order)[-SHOWN_WINDOWS:]
    keys = {w.key for w in shown}
    return History(
        tuple(shown),
        {k: r for k, r in drift.items() if k in keys},
        {k: tuple(rs) for k, rs in performance.items() if k in keys},
    )


def newest_drifted(
    history: History, version: int, keys: Sequence[str]
) -> MonitorResultRecord | None:
    """The newest bad drift verdict on model version `version` among the windows `keys`:
    the window whose distributions the report draws."""
    candidates = [
        history.drift[k]
        for k in keys
        if k in history.drift
        and history.drift[k].status == "bad"
        and history.drift[k].model_version == version
    ]
    return max(candidates, key=lambda r: window_order(r.window), default=None)


def window_order(window: WindowRef) -> tuple[datetime, list[int | str]]:
    """Oldest first: by start, then by the key's numbers as numbers ("rows 150-299" before
    "rows 1050-1199"), for windows of data without times."""
    natural: list[int | str] = [
        int(part) if part.isdigit() else part for part in re.split(r"(\d+)", window.key)
    ]
    return window.start or _EARLIEST, natural


# drift -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftMatrix:
    """Per column (rows) and window (columns): the largest statistic / threshold of the
    column's tests (NaN: not tested), and whether any of its tests said drift."""

    columns: tuple[str, ...]
    ratios: FloatArray
    drifted: BoolArray

    def select(self, columns: Sequence[str]) -> DriftMatrix:
        rows = [self.columns.index(c) for c in columns]
        return DriftMatrix(tuple(columns), self.ratios[rows], self.drifted[rows])

    def ever_drifted(self) -> list[str]:
        """Columns that drifted in a window shown, the most drifted first."""
        peak = np.nan_to_num(np.nanmax(self.ratios, axis=1, initial=0.0), nan=0.0)
        hit = [i for i in range(len(self.columns)) if self.drifted[i].any()]
        return [self.columns[i] for i in sorted(hit, key=lambda i: -peak[i])]


def drift_matrix(history: History, watched: Sequence[str]) -> DriftMatrix:
    """Columns in the order they are watched, then any an older setting watched."""
    verdicts = [history.drift.get(key) for key in history.keys]
    seen = [m.name for v in verdicts if v for m in v.measures]
    columns = tuple(dict.fromkeys([*(c for c in watched if c in seen), *seen]))
    ratios = np.full((len(columns), len(verdicts)), np.nan)
    drifted = np.zeros((len(columns), len(verdicts)), dtype=np.bool_)
    for w, verdict in enumerate(verdicts):
        for measure in verdict.measures if verdict else ():
            row = columns.index(measure.name)
            ratio = float(
                drift_ratio(np.asarray([measure.value]), np.asarray([measure.threshold]))[0]
            )
            ratios[row, w] = np.fmax(ratios[row, w], ratio)
            drifted[row, w] |= measure.bad
    return DriftMatrix(columns, ratios, drifted)


# performance -------------------------------------------------------------------------------


def performance_series(history: History) -> PerformanceSeries | None:
    """The newest estimate and the newest realised value of each window, of the metric the
    newest verdict judged; None when no window has a metric yet."""
    newest = next(
        (
            r.measures[0]
            for key in reversed(history.keys)
            for r in history.performance.get(key, ())
            if r.measures
        ),
        None,
    )
    if newest is None:
        return None
    metric, count = newest.name, len(history.keys)
    columns = {name: np.full(count, np.nan) for name in ("est", "low", "high", "real", "floor")}
    labels = np.zeros(count, dtype=np.int64)
    for w, key in enumerate(history.keys):
        verdicts = history.performance.get(key, ())
        estimate = _first(verdicts, metric, "estimated")
        realised = _first(verdicts, metric, "realised")
        if estimate is not None:
            columns["est"][w], columns["low"][w], columns["high"][w] = _interval(estimate)
        if realised is not None:
            columns["real"][w], labels[w] = realised.value, realised.rows or 0
        columns["floor"][w] = _floor(verdicts, metric)
    return PerformanceSeries(
        metric,
        columns["est"],
        columns["low"],
        columns["high"],
        columns["real"],
        labels,
        columns["floor"],
        lower_is_better=m.direction(metric) == "minimize",
    )


def _first(verdicts: Iterable[MonitorResultRecord], metric: str, test: str) -> Measure | None:
    for verdict in verdicts:
        for measure in verdict.measures:
            if measure.name == metric and measure.test == test:
                return measure
    return None


def _interval(measure: Measure) -> tuple[float, float, float]:
    low = measure.low if measure.low is not None else np.nan
    high = measure.high if measure.high is not None else np.nan
    return measure.value, low, high


def _floor(verdicts: Sequence[MonitorResultRecord], metric: str) -> float:
    """The floor the newest verdict with a metric was judged against; NaN when the version
    had no test score to compare with (its measure then carries threshold 0 and says so
    in the summary: "no test score to compare with")."""
    for verdict in verdicts:
        for measure in verdict.measures:
            if measure.name == metric:
                return measure.threshold if "no test score" not in verdict.summary else np.nan
    return np.nan


def statuses(history: History) -> dict[str, list[Status | None]]:
    """check -> the newest verdict's status per window shown (None: not judged)."""
    drift = [history.drift[k].status if k in history.drift else None for k in history.keys]
    performance = [
        history.performance[k][0].status if k in history.performance else None for k in history.keys
    ]
    found = {DRIFT: drift, PERFORMANCE: performance}
    return {check: values for check, values in found.items() if any(values)}


# alerts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alerts:
    """The model's alerts, oldest first, and where they came from."""

    alerts: tuple[Alert, ...]
    source: str  # "the alerts log" | "derived from the verdicts"
    notes: tuple[str, ...] = ()

    def events(self, model: str, keys: Sequence[str]) -> list[TimelineEvent]:
        index = {key: i for i, key in enumerate(keys)}
        return [
            TimelineEvent(a.check.removeprefix(f"{model}/"), index[a.window], a.event)
            for a in self.alerts
            if a.window in index
        ]


def read_alerts(
    log: Path, model: str, history: History, policy: AlertPolicy, fresh: Sequence[Alert] = ()
) -> Alerts:
    """From the alerts log where there is one, with `fresh` (alerts of this run a failed
    log write may have missed); else the incidents the verdicts shown imply."""
    if not log.exists():
        return Alerts(tuple(_derived(model, history, policy)), "derived from the verdicts")
    found: dict[str, Alert] = {}
    unreadable = 0
    with log.open("rb") as lines:
        for line in lines:
            if f'"check":"{model}/'.encode() not in line:
                continue  # another model's alert: not parsed
            try:
                alert = alert_from_json(line)
            except MonitorError:
                unreadable += 1
                continue
            if alert.check.startswith(f"{model}/"):
                found[alert.id] = alert
    found |= {a.id: a for a in fresh}
    notes = (
        (f"{unreadable} line(s) of {log.name} could not be read as alerts",) if unreadable else ()
    )
    return Alerts(tuple(sorted(found.values(), key=lambda a: a.at)), "the alerts log", notes)


def _derived(model: str, history: History, policy: AlertPolicy) -> list[Alert]:
    """Replays the incidents (weir.monitor.alerts.advance) over the newest verdict of each
    window shown, oldest first, stamped with the verdict's time: the alerts the monitor
    raised, unless a window was judged again after a later one (labels arriving late)."""
    raised: list[Alert] = []
    for check, by_window in (
        (DRIFT, history.drift),
        (PERFORMANCE, {k: v[0] for k, v in history.performance.items()}),
    ):
        state: IncidentState | None = None
        for key in history.keys:
            verdict = by_window.get(key)
            if verdict is None:
                continue
            observation = Observation(
                f"{model}/{check}", key, verdict.status, verdict.summary, report=verdict.report
            )
            state, alert = advance(state, observation, policy, verdict.created_at)
            if alert is not None:
                raised.append(alert)
    return sorted(raised, key=lambda a: a.at)
