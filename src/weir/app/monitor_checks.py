"""The two checks of a monitor, window by window: drift of the inputs and answers against
the reference, and performance (realised on labels, estimated before them).

Drift is one family of tests per window with a false-alarm budget; the inputs are compared
with the version's training rows and its answers with its answers to held-out rows (see
monitor_data.Reference), so the budget is split between the two comparisons in proportion
to their columns (Bonferroni across the two, Holm within each), and the window's
family-wise false-alarm rate stays within the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.app.monitor_data import (
    PREDICTION,
    PROBABILITY,
    VERSION,
    Current,
    Judged,
    Reference,
    Window,
)
from weir.app.monitor_types import DRIFT, PERFORMANCE, Outcome
from weir.app.workspace import Workspace
from weir.catalog import Measure, Status
from weir.core.errors import MonitorError
from weir.ml import metrics as m
from weir.monitor.drift import DriftReference, DriftResult, DriftSettings, FeatureDrift
from weir.monitor.drift_settings import EffectFloors
from weir.monitor.labels import LABEL_TRUE, comparable_labels, join_labels
from weir.monitor.performance import PerformanceEstimator
from weir.project.monitor_config import DriftConfig

Progress = Callable[[str], None]


class LazyReference:
    """The reference is read (and the version's answers to it computed) only when a
    window is due: an invocation with nothing to do reads no training table."""

    def __init__(self, load: Callable[[], Reference], progress: Progress | None) -> None:
        self._load, self._progress = load, progress
        self.value: Reference | None = None

    def get(self) -> Reference:
        if self.value is None:
            if self._progress:
                self._progress("reading the reference and scoring it")
            self.value = self._load()
        return self.value


# drift -------------------------------------------------------------------------------------


def drift_outcomes(
    ws: Workspace,
    watched: Judged,
    data: Current,
    closed: Sequence[Window],
    lazy: LazyReference,
) -> list[Outcome]:
    judged_before = ws.catalog.judged_windows(watched.model, DRIFT)
    due = [w for w in closed if w.ref.key not in judged_before][-watched.config.max_windows :]
    if not due:
        return []
    ref = lazy.get()
    fitted = _fit(watched, ref)
    versions = {**ref.data, **({data.table: data.version} if data.version is not None else {})}
    return [_drift_outcome(watched, fitted, window, versions) for window in due]


def _fit(watched: Judged, ref: Reference) -> list[tuple[DriftReference, tuple[str, ...]]]:
    """One fitted reference per comparison (inputs, answers), each with its share of the
    budget."""
    config = watched.config.drift
    groups = [(ref.inputs, watched.inputs), (ref.answers, watched.outputs)]
    total = sum(len(columns) for _, columns in groups)
    fitted = []
    for rows, columns in groups:
        if not columns:
            continue
        settings = _settings(config, config.budget * len(columns) / total)
        kinds = {c: watched.kinds[c] for c in columns}
        fitted.append((DriftReference.fit(rows, kinds, settings), columns))
    return fitted


def _settings(config: DriftConfig, budget: float) -> DriftSettings:
    floors = EffectFloors(**config.min_effect)
    if config.resamples is None:
        return DriftSettings(budget=budget, seed=config.seed, min_effect=floors)
    return DriftSettings(
        budget=budget, resamples=config.resamples, seed=config.seed, min_effect=floors
    )


def _drift_outcome(
    watched: Judged,
    fitted: Sequence[tuple[DriftReference, tuple[str, ...]]],
    window: Window,
    versions: dict[str, int],
) -> Outcome:
    results: list[DriftResult] = []
    for reference, columns in fitted:
        rows = window.rows
        if columns == watched.outputs:
            rows = _answered_by(rows, watched.version)
        results.append(reference.compare(rows.select(list(columns))))
    tests = [t for r in results for t in r.tests]
    measures = tuple(_measure(t, watched.withheld) for t in tests)
    undecided = [r.reason for r in results if not r.decided and r.reason]
    drifted = sorted({t.feature for t in tests if t.drifted})
    if drifted:
        status: Status = "bad"
        named = ", ".join(_named(t, watched.withheld) for t in tests if t.drifted)
        summary = f"{len(drifted)} of {len(watched.kinds)} watched columns drifted: {named}"
    elif undecided:
        status, summary = "undecided", "; ".join(undecided)
    else:
        status = "ok"
        summary = f"no drift in {len(watched.kinds)} watched columns ({len(tests)} tests)"
    return Outcome(DRIFT, window.ref, status, summary, measures, versions)


def _answered_by(rows: pa.Table, version: int) -> pa.Table:
    """The rows the judged version answered (a log spanning a promotion holds answers of
    two versions; the other's answers are not this version's)."""
    if VERSION not in rows.schema.names:
        return rows
    return rows.filter(pc.equal(rows.column(VERSION), version))


def _named(test: FeatureDrift, withheld: Mapping[str, str]) -> str:
    if test.test == "distribution" or test.feature in withheld:
        return f"{test.feature} ({test.statistic} {test.value:.3g} > {test.threshold:.3g})"
    return f"{test.feature} ({test.detail})"


def _measure(test: FeatureDrift, withheld: Mapping[str, str]) -> Measure:
    """A test as the catalog keeps it. The detail of a PII input names no values (new
    categories, the shares that moved): verdicts reach the catalog, the terminal and
    alerts, where the values of a governed column may not go."""
    detail = test.detail
    if test.feature in withheld:
        detail = f"values of this {withheld[test.feature]} column are not shown"
    return Measure(
        name=test.feature,
        test=test.test,
        statistic=test.statistic,
        value=test.value,
        threshold=test.threshold,
        bad=test.drifted,
        p_value=test.p_value,
        rows=test.current_rows,
        detail=detail,
    )


# performance -------------------------------------------------------------------------------


def performance_outcomes(
    ws: Workspace,
    watched: Judged,
    data: Current,
    closed: Sequence[Window],
    lazy: LazyReference,
) -> tuple[list[Outcome], list[str]]:
    """Realised metrics where a window has enough labels; else, for a binary classifier,
    the estimate; else undecided. A window is judged again when its labels table changed."""
    config, labels = watched.config.performance, watched.config.labels
    metric = _metric(watched)
    labels_table, labels_version = _labels(ws, watched)
    before = ws.catalog.judged_windows(watched.model, PERFORMANCE)
    due = [
        w
        for w in closed
        if w.ref.key not in before
        or (labels is not None and before[w.ref.key].data.get(labels.table) != labels_version)
    ][-watched.config.max_windows :]
    if not due:
        return [], []
    if labels is None and not (config.estimate and watched.binary):
        return [], [
            f"performance of {watched.model} is not watched: no labels: section, and "
            "an estimate needs a binary classifier"
        ]
    estimator, no_estimate = None, ""
    if config.estimate and watched.binary:
        estimator, no_estimate = _estimator(watched, lazy)
    versions = {**({data.table: data.version} if data.version is not None else {})}
    if labels is not None and labels_version is not None:
        versions[labels.table] = labels_version
    floor = _floor(watched, metric)
    found = [
        _performance_outcome(watched, window, labels_table, estimator, metric, floor, versions)
        for window in due
    ]
    return found, [no_estimate] if no_estimate else []


def _metric(watched: Judged) -> str:
    config = watched.record.details.config or {}
    tune = config.get("tune") or {}
    classes = len(watched.serving.classes)
    chosen = watched.config.performance.metric or tune.get("metric")
    chosen = chosen or m.default_metric(watched.serving.task, classes)
    return m.check_metric(
        str(chosen), watched.serving.task, classes, f"monitor.{watched.model}.performance.metric"
    )


def _labels(ws: Workspace, watched: Judged) -> tuple[pa.Table | None, int | None]:
    labels = watched.config.labels
    if labels is None:
        return None, None
    record = ws.catalog.current_version(labels.table)
    if record is None:  # no label has arrived yet (or the table was never loaded)
        return None, None
    column = labels.column or _target(watched)
    table = ws.lake.read(labels.table, record.version)
    for name in (labels.key, column):
        if name not in table.schema.names:
            raise MonitorError(
                f"labels table '{labels.table}' has no column '{name}'",
                fix=f"set monitor.{watched.model}.labels (key, column); it has "
                f"{', '.join(table.schema.names)}",
            )
    return table.select([labels.key, column]), record.version


def _target(watched: Judged) -> str:
    target = (watched.record.details.config or {}).get("target")
    if not target:
        raise MonitorError(
            f"{watched.model} has no recorded target to read labels by",
            fix=f"set monitor.{watched.model}.labels.column",
        )
    return str(target)


def _estimator(watched: Judged, lazy: LazyReference) -> tuple[PerformanceEstimator | None, str]:
    """The CBPE estimator calibrated on the version's held-out rows, or why there is none
    (windows then wait for their labels)."""
    ref = lazy.get()
    if ref.scores is None or ref.truth is None:
        return None, "no estimate: the reference has no labelled held-out rows"
    positive = str(watched.serving.classes[1])  # the reference's labels are text too
    try:
        fitted = PerformanceEstimator.fit(
            ref.scores, ref.truth, positive=positive, threshold=watched.serving.threshold
        )
    except MonitorError as exc:
        return None, f"no estimate: {exc.message}"
    return fitted, ""


def _floor(watched: Judged, metric: str) -> tuple[float, float] | None:
    """(the version's own test score, the allowed drop), if the version has that score."""
    score = watched.record.metrics.get(metric)
    if score is None or not np.isfinite(score):
        return None
    return float(score), watched.config.performance.max_drop


def _performance_outcome(
    watched: Judged,
    window: Window,
    labels_table: pa.Table | None,
    estimator: PerformanceEstimator | None,
    metric: str,
    floor: tuple[float, float] | None,
    versions: dict[str, int],
) -> Outcome:
    rows = _answered_by(window.rows, watched.version)
    measure, why = _realised(watched, rows, labels_table, metric)
    if measure is None and estimator is not None and rows.num_rows:
        measure, why = _estimated(estimator, rows, metric, why)
    if measure is None:
        return Outcome(PERFORMANCE, window.ref, "undecided", why, (), versions)
    measure = _judge(measure, metric, floor)
    status: Status = "bad" if measure.bad else "ok"
    how = "realised on" if measure.test == "realised" else "estimated (CBPE) over"
    summary = f"{metric} {measure.value:.3f} {how} {measure.rows} rows" + (
        f"; floor {measure.threshold:.3f}" if floor else "; no test score to compare with"
    )
    return Outcome(PERFORMANCE, window.ref, status, summary, (measure,), versions)


def _realised(
    watched: Judged, rows: pa.Table, labels_table: pa.Table | None, metric: str
) -> tuple[Measure | None, str]:
    labels = watched.config.labels
    if labels is None:
        return None, "no labels: section"
    if labels_table is None:
        return None, f"labels table '{labels.table}' has no version yet ('weir run' loads it)"
    column = labels.column or _target(watched)
    joined = join_labels(
        rows,
        labels_table,
        log_key=labels.log_key,
        labels_key=labels.key,
        label_column=column,
        labels_where=f"labels table '{labels.table}'",
    )
    needed = watched.config.performance.min_labels
    if joined.labelled < needed:
        return None, f"{joined.labelled} of {rows.num_rows} answers labelled (needs {needed})"
    value = _metric_value(watched, joined.joined, metric)
    detail = f"{joined.labelled} of {joined.log_rows} answers labelled"
    if joined.unknown_keys:
        detail += f"; {joined.unknown_keys} labels match no answer"
    return Measure(
        name=metric,
        test="realised",
        statistic=metric,
        value=value,
        threshold=0.0,
        bad=False,
        rows=joined.labelled,
        detail=detail,
    ), detail


def _metric_value(watched: Judged, joined: pa.Table, metric: str) -> float:
    if watched.serving.task == "regression":
        truth_values = joined.column(LABEL_TRUE).to_numpy(zero_copy_only=False)
        predicted = joined.column(PREDICTION).to_numpy(zero_copy_only=False).astype(np.float64)
        return m.regression_metrics(truth_values.astype(np.float64), predicted)[metric]
    # the log keeps labels as text, a labels table as the target's type: one form for both
    where = f"labels of {watched.model}"
    truth_column = joined.column(LABEL_TRUE)
    predicted_arrow, truth_arrow = comparable_labels(
        joined.column(PREDICTION), truth_column, where=where
    )
    classes_arrow, _ = comparable_labels(
        pa.array([str(c) for c in watched.serving.classes]), truth_column, where=where
    )
    # numpy arrays of the labels' own type (an object array of ints is "unknown" to sklearn)
    truth = truth_arrow.to_numpy(zero_copy_only=False)
    predicted = predicted_arrow.to_numpy(zero_copy_only=False)
    classes = classes_arrow.to_numpy(zero_copy_only=False)
    if watched.binary:
        p = joined.column(PROBABILITY).to_numpy(zero_copy_only=False).astype(np.float64)
        probabilities = np.column_stack([1.0 - p, p])
    else:
        probabilities = np.eye(len(classes))[[list(classes).index(v) for v in predicted]]
    return m.classification_metrics(truth, predicted, probabilities, classes)[metric]


def _estimated(
    estimator: PerformanceEstimator, rows: pa.Table, metric: str, why: str
) -> tuple[Measure | None, str]:
    scores = rows.column(PROBABILITY).to_numpy(zero_copy_only=False).astype(np.float64)
    try:
        estimate = estimator.estimate(scores, [metric])[0]
    except MonitorError as exc:
        return None, f"{why}; {exc.message}"
    return Measure(
        name=metric,
        test="estimated",
        statistic=metric,
        value=estimate.value,
        threshold=0.0,
        bad=False,
        low=estimate.low,
        high=estimate.high,
        rows=estimate.rows,
        detail=f"{why}; estimated from confidence",
    ), why


def _judge(measure: Measure, metric: str, floor: tuple[float, float] | None) -> Measure:
    if floor is None:
        return measure
    score, drop = floor
    lower_better = m.direction(metric) == "minimize"
    threshold = score + drop if lower_better else score - drop
    bad = measure.value > threshold if lower_better else measure.value < threshold
    return measure.model_copy(update={"threshold": threshold, "bad": bad})
