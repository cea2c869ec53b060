"""The monitoring report's cost, against the judging it reports on, in the same run.

A model watched on 20 columns (16 numeric, 4 categorical), 30 windows judged, every column
drifted in the newest one (so the report draws its cap of distribution pictures), with
verdicts, estimates and realised metrics on every window. Timed, interleaved:
- weir: rendering the whole report page (timeline, 12 distributions, drift heatmap and
  lines, performance) from those verdicts and the rows in hand;
- baseline: the drift checks that made the verdicts: fitting the reference and comparing
  the 30 windows (what `weir monitor` does before it writes a report).
The ratio says what share of a monitor run the report adds. Absolute times are printed
too (this machine is shared and noisy: only the ratio is evidence).

    python bench/monitor_report.py [--rounds 3] [--rows 10000] [--reference 100000]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from harness import compare

WINDOWS, NUMERIC, CATEGORICAL = 30, 16, 4
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def tables(rows: int, reference_rows: int) -> tuple[pa.Table, list[pa.Table]]:
    rng = np.random.default_rng(0)

    def draw(size: int, shift: float) -> pa.Table:
        columns: dict[str, Any] = {f"n{i}": rng.normal(shift, size=size) for i in range(NUMERIC)}
        for i in range(CATEGORICAL):
            columns[f"c{i}"] = rng.choice([f"v{k}" for k in range(int(20 + 10 * shift))], size)
        return pa.table(columns)

    windows = [draw(rows, 0.0) for _ in range(WINDOWS - 1)] + [draw(rows, 1.0)]
    return draw(reference_rows, 0.0), windows


def judged() -> Any:
    from weir.app.monitor_data import Judged
    from weir.catalog import ArtifactRef, ModelVersionRecord, ServingSpec
    from weir.project.monitor_config import MonitorConfig

    kinds = {f"n{i}": "numeric" for i in range(NUMERIC)}
    kinds |= {f"c{i}": "categorical" for i in range(CATEGORICAL)}
    serving = ServingSpec(
        graph=ArtifactRef(path="g", sha256="0" * 64),
        quantized=False,
        task="classification",
        features={},
        inputs=dict.fromkeys(kinds, "number"),
        onnx_inputs={},
        classes=["0", "1"],
        threshold=0.5,
    )
    record = ModelVersionRecord(
        id=1,
        model="m",
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
        trained_on=["t@1"],
    )
    return Judged("m", MonitorConfig(), record, serving, kinds, (), (), {})


def judge(reference: pa.Table, windows: list[pa.Table], kinds: dict[str, str]) -> list[Any]:
    from weir.monitor.drift import DriftReference

    fitted = DriftReference.fit(reference, kinds)  # type: ignore[arg-type]
    return [fitted.compare(window) for window in windows]


def verdicts(results: list[Any], rows: int) -> list[Any]:
    from weir.catalog import Measure, MonitorResultRecord, WindowRef

    found = []
    for index, result in enumerate(results):
        ref = WindowRef(f"rows {index * rows}-{(index + 1) * rows - 1}", None, None, rows)
        created = T0 + timedelta(hours=index)
        drift = tuple(
            Measure(
                name=t.feature,
                test=t.test,
                statistic=t.statistic,
                value=t.value,
                threshold=t.threshold,
                bad=t.drifted,
                rows=t.current_rows,
            )
            for t in result.tests
        )
        status = "bad" if result.drifted else "ok"
        estimate = Measure(
            name="accuracy",
            test="estimated",
            statistic="accuracy",
            value=0.85,
            threshold=0.8,
            bad=False,
            low=0.8,
            high=0.9,
            rows=rows,
        )
        realised = Measure(
            name="accuracy",
            test="realised",
            statistic="accuracy",
            value=0.86,
            threshold=0.8,
            bad=False,
            rows=rows // 2,
        )
        for number, (check, measures, state) in enumerate(
            [
                ("drift", drift, status),
                ("performance", (estimate,), "ok"),
                ("performance", (realised,), "ok"),
            ]
        ):
            found.append(
                MonitorResultRecord(
                    index * 3 + number,
                    "m",
                    1,
                    check,
                    ref,
                    state,  # type: ignore[arg-type]
                    f"{check} {state}",
                    measures,
                    {},
                    None,
                    created,
                )
            )
    return found


def render(watched: Any, records: list[Any], reference: pa.Table, windows: list[pa.Table]) -> str:
    from weir.app.monitor_data import Reference, Window
    from weir.app.monitor_history import Alerts, History, window_order
    from weir.app.monitor_report_page import Page, ReportRows, render

    drift = {r.window.key: r for r in records if r.check == "drift"}
    performance: dict[str, list[Any]] = {}
    for record in sorted(records, key=lambda r: -r.id):
        if record.check == "performance":
            performance.setdefault(record.window.key, []).append(record)
    refs = sorted({r.window.key: r.window for r in records}.values(), key=window_order)
    history = History(tuple(refs), drift, {k: tuple(v) for k, v in performance.items()})
    fitted = Reference(reference, pa.table({}), "t@1", {"t": 1})
    rows = ReportRows(lambda: fitted, [Window(refs[-1], windows[-1])])
    page = Page("bench", watched, history, records[::-1][:30], T0)
    html = render(page, rows, Alerts((), "the alerts log"))
    assert page.pictures >= 12 + 3, page.pictures
    return html


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--reference", type=int, default=100_000)
    args = parser.parse_args()
    reference, windows = tables(args.rows, args.reference)
    watched = judged()
    records = verdicts(judge(reference, windows, watched.kinds), args.rows)
    html = render(watched, records, reference, windows)  # warm: matplotlib's first import
    print(
        f"{WINDOWS} windows x {len(watched.kinds)} columns, {args.rows:,} rows per window, "
        f"reference {args.reference:,} rows; report {len(html) / 1e6:.2f} MB"
    )
    result = compare(
        "monitoring report vs the drift checks it reports on",
        lambda: render(watched, records, reference, windows) and None,
        lambda: judge(reference, windows, watched.kinds) and None,
        rounds=args.rounds,
    )
    print(result.report())


if __name__ == "__main__":
    main()
