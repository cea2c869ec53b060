"""The monitoring report from verdicts made here: which windows it shows and in which
order, what it draws of them, the alerts it finds, and a page that escapes every text and
names no value of a PII column even when it has the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from weir.app.monitor_data import Judged, Reference, Window
from weir.app.monitor_history import (
    SHOWN_WINDOWS,
    Alerts,
    History,
    drift_matrix,
    newest_drifted,
    performance_series,
    read_alerts,
    read_history,
    statuses,
    window_order,
)
from weir.app.monitor_report import KEEP_SNAPSHOTS, _prune, latest_path, snapshot_path
from weir.app.monitor_report_page import DISTRIBUTIONS, Page, ReportRows, render
from weir.catalog import (
    ArtifactRef,
    Catalog,
    Measure,
    ModelVersionRecord,
    MonitorResultRecord,
    ServingSpec,
    Status,
    WindowRef,
)
from weir.core.errors import MonitorError
from weir.monitor.alerts import Alert, AlertPolicy, alert_json
from weir.project.monitor_config import MonitorConfig

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def window(index: int, size: int = 150, timed: bool = True) -> WindowRef:
    start = T0 + timedelta(hours=index) if timed else None
    return WindowRef(f"rows {index * size}-{(index + 1) * size - 1}", start, start, size)


def drift_measure(name: str, value: float, threshold: float, test: str = "distribution") -> Measure:
    return Measure(
        name=name, test=test, statistic="s", value=value, threshold=threshold, bad=value > threshold
    )


def verdict(
    check: str,
    index: int,
    status: Status,
    measures: tuple[Measure, ...] = (),
    *,
    summary: str = "",
    version: int = 1,
    at: int = 0,
    timed: bool = True,
) -> MonitorResultRecord:
    return MonitorResultRecord(
        id=index * 10 + at,
        model="fraud",
        model_version=version,
        check=check,
        window=window(index, timed=timed),
        status=status,
        summary=summary or f"{check} {status}",
        measures=measures,
        data={"fraud__predictions": 3, "features": 2},
        report=None,
        created_at=T0 + timedelta(hours=index, minutes=at),
    )


def history_of(*records: MonitorResultRecord) -> History:
    drift = {r.window.key: r for r in records if r.check == "drift"}
    performance: dict[str, list[MonitorResultRecord]] = {}
    for record in sorted(records, key=lambda r: -r.id):
        if record.check == "performance":
            performance.setdefault(record.window.key, []).append(record)
    refs = {r.window.key: r.window for r in records}
    return History(
        tuple(sorted(refs.values(), key=window_order)),
        drift,
        {k: tuple(v) for k, v in performance.items()},
    )


# reading the history -----------------------------------------------------------------------


def test_windows_without_times_go_by_their_numbers_not_their_spelling() -> None:
    refs = [window(i, timed=False) for i in (10, 2, 1)]
    assert [w.key for w in sorted(refs, key=window_order)] == [
        "rows 150-299",
        "rows 300-449",
        "rows 1500-1649",
    ]


def test_the_report_reads_the_newest_windows_and_the_newest_verdict_of_each(
    sqlite_url: str,
) -> None:
    catalog = Catalog.open(sqlite_url)
    try:
        for index in range(SHOWN_WINDOWS + 5):
            catalog.record_monitor_result(
                model="fraud",
                model_version=1,
                check="drift",
                window=window(index),
                status="ok",
                summary="quiet",
                measures=(drift_measure("amount", 0.1, 1.0),),
                data={},
            )
        for status in ("undecided", "bad"):  # the newest window, judged again on labels
            catalog.record_monitor_result(
                model="fraud",
                model_version=1,
                check="performance",
                window=window(SHOWN_WINDOWS + 4),
                status=status,
                summary=status,
                measures=(),
                data={},
            )
        history = read_history(catalog, "fraud")
    finally:
        catalog.close()
    assert len(history.keys) == SHOWN_WINDOWS
    assert history.keys[0] == window(5).key and history.keys[-1] == window(SHOWN_WINDOWS + 4).key
    newest = history.newest("performance")
    assert newest is not None and newest.status == "bad"
    assert [r.status for r in history.performance[history.keys[-1]]] == ["bad", "undecided"]


def test_the_drift_matrix_takes_each_columns_worst_test_and_keeps_untested_cells_empty() -> None:
    history = history_of(
        verdict(
            "drift", 0, "ok", (drift_measure("amount", 0.5, 1.0), drift_measure("city", 0.1, 1.0))
        ),
        verdict(
            "drift",
            1,
            "bad",
            (
                drift_measure("amount", 0.2, 1.0, "null_rate"),
                drift_measure("amount", 3.0, 1.0),
                drift_measure("old", 0.0, float("inf")),
            ),
        ),
    )
    matrix = drift_matrix(history, ["city", "amount"])
    assert matrix.columns == ("city", "amount", "old")  # watched order, then an older column
    assert matrix.ratios[1].tolist() == [0.5, 3.0]
    assert np.isnan(matrix.ratios[0, 1]) and matrix.ratios[2, 1] == 0.0
    assert matrix.drifted.tolist() == [[False, False], [False, True], [False, False]]
    assert matrix.ever_drifted() == ["amount"]


def test_performance_shows_the_newest_estimate_and_realised_value_of_each_window() -> None:
    def measure(test: str, value: float, rows: int = 150, threshold: float = 0.7) -> Measure:
        return Measure(
            name="accuracy",
            test=test,
            statistic="accuracy",
            value=value,
            threshold=threshold,
            bad=False,
            low=value - 0.1 if test == "estimated" else None,
            high=value + 0.1 if test == "estimated" else None,
            rows=rows,
        )

    history = history_of(
        verdict("performance", 0, "ok", (measure("estimated", 0.80),), at=0),
        verdict("performance", 0, "ok", (measure("estimated", 0.82),), at=1),
        verdict("performance", 0, "ok", (measure("realised", 0.9, rows=120),), at=2),
        verdict("performance", 1, "undecided"),
        verdict(
            "performance",
            2,
            "ok",
            (measure("realised", 0.5, threshold=0.0),),
            summary="accuracy 0.5 realised on 150 rows; no test score to compare with",
        ),
    )
    series = performance_series(history)
    assert series is not None and series.metric == "accuracy"
    assert series.estimated[0] == 0.82 and series.low[0] == pytest.approx(0.72)
    assert series.realised[0] == 0.9 and series.labels[0] == 120
    assert np.isnan(series.estimated[1]) and np.isnan(series.realised[1])
    assert series.floor[0] == 0.7 and np.isnan(series.floor[2])  # no test score: no floor
    assert statuses(history)["performance"] == ["ok", "undecided", "ok"]
    assert performance_series(history_of(verdict("performance", 0, "undecided"))) is None


def test_the_newest_drifted_window_is_of_the_judged_version() -> None:
    history = history_of(
        verdict("drift", 0, "bad"), verdict("drift", 1, "bad", version=2), verdict("drift", 2, "ok")
    )
    found = newest_drifted(history, 1, history.keys)
    assert found is not None and found.window.key == window(0).key
    assert newest_drifted(history, 2, history.keys[:1]) is None


def _alert(model: str, event: str, index: int) -> Alert:
    return Alert(
        id=f"{model}-{index}.{event}",
        incident=f"{model}-{index}",
        check=f"{model}/drift",
        event=event,
        at=T0 + timedelta(hours=index),
        window=window(index).key,
        summary="s",
    )


def test_alerts_come_from_the_log_with_this_runs_and_a_bad_line_is_said(tmp_path: Path) -> None:
    log = tmp_path / "alerts.jsonl"
    lines = [
        alert_json(_alert("fraud", "opened", 1)),
        alert_json(_alert("other", "opened", 1)),  # another model's
        b'{"check":"fraud/drift", "not": "an alert"}',
    ]
    log.write_bytes(b"\n".join(lines) + b"\n")
    found = read_alerts(log, "fraud", history_of(), AlertPolicy(), [_alert("fraud", "resolved", 3)])
    assert [a.id for a in found.alerts] == ["fraud-1.opened", "fraud-3.resolved"]
    assert found.source == "the alerts log" and "1 line(s)" in found.notes[0]
    events = found.events("fraud", [window(i).key for i in range(4)])
    assert [(e.check, e.window, e.event) for e in events] == [
        ("drift", 1, "opened"),
        ("drift", 3, "resolved"),
    ]


def test_without_a_log_the_alerts_are_replayed_from_the_verdicts(tmp_path: Path) -> None:
    statuses_: list[Status] = ["ok", "bad", "bad", "undecided", "ok", "ok"]
    history = history_of(*(verdict("drift", i, s) for i, s in enumerate(statuses_)))
    found = read_alerts(tmp_path / "none.jsonl", "fraud", history, AlertPolicy(clear_after=2))
    assert found.source == "derived from the verdicts"
    assert [(a.event, a.window) for a in found.alerts] == [
        ("opened", window(1).key),
        ("resolved", window(5).key),
    ]


# the files ---------------------------------------------------------------------------------


def test_each_run_gets_its_own_copy_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    first = snapshot_path(tmp_path, "fraud", T0)
    first.parent.mkdir(parents=True)
    first.write_text("1")
    second = snapshot_path(tmp_path, "fraud", T0)  # the same second
    assert second != first and second.parent == first.parent
    assert latest_path(tmp_path, "fraud") == tmp_path / "reports" / "monitor" / "fraud.html"
    for index in range(KEEP_SNAPSHOTS + 3):
        (first.parent / f"{index:04d}.html").write_text(str(index))
    _prune(first.parent)
    kept = sorted(p.name for p in first.parent.glob("*.html"))
    assert len(kept) == KEEP_SNAPSHOTS and kept[-1] == f"{KEEP_SNAPSHOTS + 2:04d}.html"


# the page ----------------------------------------------------------------------------------

HOSTILE = "<script>alert('x')</script>"


def judged_model(columns: int = 2) -> Judged:
    names = ["amount", "city", *(f"f{i}" for i in range(columns - 2))]
    serving = ServingSpec(
        graph=ArtifactRef(path="g.onnx", sha256="0" * 64),
        quantized=False,
        task="classification",
        features={},
        inputs=dict.fromkeys(names, "number"),
        onnx_inputs={},
        classes=["0", "1"],
        threshold=0.5,
    )
    record = ModelVersionRecord(
        id=1,
        model="fraud",
        task="classification",
        version=1,
        stage="production",
        algorithm="lr",
        metrics={"accuracy": 0.9},
        params={},
        seed=1,
        features={},
        artifact_path="m",
        artifact_sha256="0" * 64,
        environment={},
        run_id=None,
        created_at=T0,
        trained_on=["features@2"],
    )
    kinds = {n: ("categorical" if n == "city" else "numeric") for n in names}
    return Judged(
        "fraud",
        MonitorConfig(),
        record,
        serving,
        kinds,
        (),
        (),
        {"city": "pii"},  # type: ignore[arg-type]
    )


def rows_for(watched: Judged, shift: float) -> tuple[Reference, Window]:
    rng = np.random.default_rng(0)
    table = {n: rng.normal(size=300) for n in watched.kinds if n != "city"}
    current = {n: rng.normal(shift, size=150) for n in watched.kinds if n != "city"}
    reference = pa.table({**table, "city": ["lyon", "nice", "brest"] * 100})
    now = pa.table({**current, "city": ["lyon", "paris", "brest"] * 50})
    return Reference(reference, pa.table({}), "features@2", {"features": 2}), Window(window(1), now)


def page_of(watched: Judged, history: History, verdicts: list[MonitorResultRecord]) -> Page:
    return Page("p", watched, history, verdicts, T0)


def test_the_page_escapes_every_text_and_draws_no_value_of_a_pii_column() -> None:
    watched = judged_model()
    bad = (drift_measure("amount", 5.0, 0.2), drift_measure("city", 0.3, 0.01, "new_categories"))
    records = [
        verdict("drift", 0, "ok", (drift_measure("amount", 0.1, 0.2),)),
        verdict("drift", 1, "bad", bad, summary=f"2 of 2 drifted {HOSTILE}"),
    ]
    reference, current = rows_for(watched, 3.0)
    alerts = Alerts((_alert("fraud", "opened", 1),), "the alerts log")
    page = page_of(watched, history_of(*records), records)
    html = render(page, ReportRows(lambda: reference, [current]), alerts)
    assert HOSTILE not in html and "&lt;script&gt;" in html and "<script" not in html
    assert "amount: reference vs window rows 150-299" in html  # drawn
    for city in ("lyon", "nice", "brest", "paris"):
        assert city not in html  # city drifted too, and has rows here: never drawn
    assert "city (pii)" in html
    assert page.pictures == 4  # timeline, one distribution, heatmap, lines; no performance yet
    assert "features@2 (training rows of v1)" in html and "fraud__predictions@3" in html
    assert "open incident" in html


def test_twenty_drifted_columns_draw_the_twelve_most_drifted() -> None:
    watched = judged_model(columns=22)
    bad = tuple(drift_measure(n, 1.0 + i, 0.5) for i, n in enumerate(watched.kinds) if n != "city")
    records = [verdict("drift", 1, "bad", bad)]
    reference, current = rows_for(watched, 3.0)
    page = page_of(watched, history_of(*records), records)
    html = render(page, ReportRows(lambda: reference, [current]), Alerts((), "the alerts log"))
    drawn = [n for n in watched.kinds if f"{n}: reference vs window" in html]
    assert len(drawn) == DISTRIBUTIONS and "f19" in drawn and "amount" not in drawn
    assert f"The {DISTRIBUTIONS} most drifted of 21 columns are drawn" in html


def test_without_rows_the_page_says_where_the_distributions_come_from() -> None:
    records = [verdict("drift", 1, "bad", (drift_measure("amount", 5.0, 0.2),))]
    watched = judged_model()
    html = render(page_of(watched, history_of(*records), records), None, Alerts((), "x"))
    assert "--report" in html and "reference vs window" not in html
    empty = render(page_of(watched, history_of(), []), None, Alerts((), "x"))
    assert "Nothing judged yet" in empty


def test_the_reference_is_read_only_for_a_drifted_window_and_a_failure_is_a_note() -> None:
    watched = judged_model()
    _, current = rows_for(watched, 0.0)
    asked: list[int] = []

    def lazily() -> Reference:
        asked.append(1)
        raise MonitorError("the training table's version 2 was vacuumed", fix="retrain")

    quiet = [verdict("drift", 1, "ok", (drift_measure("amount", 0.1, 0.2),))]
    render(
        page_of(watched, history_of(*quiet), quiet), ReportRows(lazily, [current]), Alerts((), "x")
    )
    assert asked == []  # nothing drifted: nothing to draw, nothing read
    drifted = [verdict("drift", 1, "bad", (drift_measure("amount", 5.0, 0.2),))]
    page = page_of(watched, history_of(*drifted), drifted)
    html = render(page, ReportRows(lazily, [current]), Alerts((), "x"))
    assert asked == [1] and "was vacuumed" in page.notes[0] and "was vacuumed" in html
