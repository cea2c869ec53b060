"""Champion and challenger on the same rows, rows neither of them trained on.

Two comparisons, each scored by both versions' ONNX graphs (retraining_score):

- held-out: the challenger's test rows, split from its training table exactly as its
  training split them (with a time split, the newest rows). The champion may have trained
  on some of them (a random split of a table that grew keeps old rows in the new test
  set): those are left out, found by content (the same inputs and label as one of the
  champion's training rows).
- recent: the newest closed window of the prediction log (monitor.MODEL.window) with at
  least min_rows labelled answers left once rows a version may have trained on are out. A
  row logged after the challenger's training data was made cannot be in it; a row logged
  before may be (a training table fed by labelled traffic), so it counts only when no
  training row of either version has its inputs and label. Where that cannot be told (a
  column of another type), every row logged before is left out.

The recent window decides when it has enough rows: it is the world the model serves now.
Otherwise the held-out rows decide. Neither with enough rows: no decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.app.monitor_data import LOGGED_AT, windows
from weir.app.retraining_data import (
    ROW,
    LogRows,
    TrainingRows,
    join,
    read_labels,
    read_log,
    seen_in,
)
from weir.app.retraining_score import Scorer
from weir.app.workspace import Workspace
from weir.catalog import WindowRef
from weir.monitor.labels import LABEL_TRUE
from weir.project.monitor_config import MonitorConfig, WindowConfig

ComparisonKind = Literal["held-out", "recent"]


@dataclass(frozen=True)
class Comparison:
    """Two versions' `metric` on the same `rows` rows (None: not scored, `note` says why)."""

    kind: ComparisonKind
    metric: str
    needed: int
    rows: int = 0
    first: float | None = None  # the champion (in a rollback: the predecessor)
    second: float | None = None  # the challenger (in a rollback: the new champion)
    where: str = ""
    note: str = ""
    window: WindowRef | None = None
    data: dict[str, int] = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        scored = self.first is not None and self.second is not None
        return (
            self.rows >= self.needed
            and scored
            and math.isfinite(self.first or 0.0)
            and math.isfinite(self.second or 0.0)
        )

    def undecided_reason(self) -> str:
        if self.rows < self.needed:
            return f"{self.rows} rows, needs {self.needed} (retrain.min_rows)"
        if self.first is None or self.second is None:
            return self.note or "not scored"
        return f"{self.metric} is undefined on these rows (one class only, or unknown labels)"


@dataclass(frozen=True)
class Sides:
    """The two versions of a retrain and the rows they trained on."""

    champion: Scorer
    challenger: Scorer
    challenger_rows: TrainingRows
    champion_train: pa.Table | None  # None: not known (`champion_note` says why)
    champion_note: str = ""


def held_out(sides: Sides, metric: str, needed: int) -> Comparison:
    rows = sides.challenger_rows
    test, target = rows.test, rows.spec.target
    assert target is not None  # clustering is refused before
    where = f"{rows.source}: the held-out test rows of {sides.challenger.name}"
    base = Comparison(
        "held-out", metric, needed, where=where, data={rows.data.table: rows.data.version}
    )
    notes = []
    if sides.champion_train is None:
        notes.append(sides.champion_note)
    else:
        columns = [*sides.challenger.serving.inputs, target]
        seen = seen_in(test, columns, [sides.champion_train])
        if seen is None:
            notes.append(f"which of them {sides.champion.name} trained on cannot be told; all kept")
        elif seen.any():
            test = test.filter(pa.array(~seen))
            notes.append(f"{int(seen.sum())} rows {sides.champion.name} trained on left out")
    missing = sides.champion.missing(test)
    if missing:
        note = f"they lack {sides.champion.name}'s inputs {missing}"
        return replace(base, rows=test.num_rows, note="; ".join([*notes, note]))
    truth = test.column(target)
    return replace(
        base,
        rows=test.num_rows,
        first=sides.champion.score(test, truth, metric),
        second=sides.challenger.score(test, truth, metric),
        note="; ".join(n for n in notes if n),
    )


@dataclass(frozen=True)
class LabelledLog:
    """The log, its labelled answers (with `label_true` and ROW), what was read."""

    log: LogRows
    labelled: pa.Table
    data: dict[str, int]
    note: str = ""


def labelled_log(
    ws: Workspace, model: str, config: MonitorConfig, target: str, *, record: bool
) -> LabelledLog | None:
    """None when monitor.MODEL has no labels: (nothing in the log has a known truth)."""
    if config.labels is None:
        return None
    log = read_log(ws, model, record=record)
    if ws.catalog.current_version(config.labels.table) is None:
        empty = log.rows.slice(0, 0)
        return LabelledLog(log, empty, {}, f"labels table '{config.labels.table}' has no rows yet")
    labels = read_labels(ws, model, config, target)
    assert labels is not None
    data = {labels.table: labels.version}
    if log.version is None:
        return LabelledLog(log, log.rows, data, f"{log.table} holds no answers yet")
    data[log.table] = log.version
    joined = join(log, labels, config, target)
    note = f"{joined.labelled} of {joined.log_rows} logged answers labelled"
    return LabelledLog(log, joined.joined, data, note)


def closed_windows(
    log: LogRows, usable: pa.Table, config: WindowConfig, now: datetime
) -> list[tuple[WindowRef, pa.Table]]:
    """The log's closed windows (monitor.MODEL.window, oldest first), each with the rows of
    `usable` (labelled answers) that fall in it."""
    if log.rows.num_rows == 0:
        return []
    found, _ = windows(log.rows, config, now)
    cut = []
    for window in found:
        ids = window.rows.column(ROW).combine_chunks()
        cut.append((window.ref, usable.filter(pc.is_in(usable.column(ROW), value_set=ids))))
    return cut


def recent(
    ws: Workspace,
    model: str,
    config: MonitorConfig,
    sides: Sides,
    metric: str,
    needed: int,
    *,
    now: datetime,
    record: bool,
) -> Comparison:
    target = sides.challenger_rows.spec.target
    assert target is not None
    base = Comparison("recent", metric, needed)
    read = labelled_log(ws, model, config, target, record=record)
    if read is None:
        return replace(base, note=f"monitor.{model} has no labels: section")
    usable, left_out = _not_trained_on(read.labelled, sides, target)
    notes = [read.note, *([left_out] if left_out else [])]
    cut = closed_windows(read.log, usable, config.window, now)
    with_rows = [(ref, rows) for ref, rows in cut if rows.num_rows]
    enough = [(ref, rows) for ref, rows in with_rows if rows.num_rows >= base.needed]
    if not enough:
        most = max((rows.num_rows for _, rows in with_rows), default=0)
        notes.append(f"no closed window has {base.needed} usable labelled answers (most: {most})")
        return replace(base, rows=most, data=read.data, where=read.log.table, note="; ".join(notes))
    ref, rows = enough[-1]
    where = f"{read.log.table}@{read.log.version} window {ref.key}"
    placed = replace(base, rows=rows.num_rows, where=where, window=ref, data=read.data)
    return _scored(placed, sides, rows, notes)


def _scored(placed: Comparison, sides: Sides, rows: pa.Table, notes: list[str]) -> Comparison:
    """Both versions' metric on `rows` (labelled: `label_true`), unless the log lacks an
    input one of them reads."""
    for scorer in (sides.champion, sides.challenger):
        missing = scorer.missing(rows)
        if missing:
            said = [*notes, f"the log lacks {scorer.name}'s inputs {missing}"]
            return replace(placed, note="; ".join(said))
    truth = rows.column(LABEL_TRUE)
    return replace(
        placed,
        first=sides.champion.score(rows, truth, placed.metric),
        second=sides.challenger.score(rows, truth, placed.metric),
        note="; ".join(notes),
    )


def _not_trained_on(labelled: pa.Table, sides: Sides, target: str) -> tuple[pa.Table, str]:
    trained = [sides.challenger_rows.train]
    if sides.champion_train is not None:
        trained.append(sides.champion_train)
    return not_trained_on(
        labelled,
        list(sides.challenger.serving.inputs),
        target,
        made=sides.challenger_rows.data.created_at,
        trained=trained,
        source=sides.challenger_rows.source,
    )


def not_trained_on(
    labelled: pa.Table,
    inputs: Sequence[str],
    target: str,
    *,
    made: datetime,
    trained: Sequence[pa.Table],
    source: str,
) -> tuple[pa.Table, str]:
    """The labelled answers no version may have trained on, and what was left out: rows
    logged before `made` (when the newest training data, `source`, was made) count only
    when no row of the `trained` tables has their inputs and label; where that cannot be
    told, none of them counts."""
    if labelled.num_rows == 0:
        return labelled, ""
    times = pc.cast(labelled.column(LOGGED_AT), pa.timestamp("us", tz="UTC"))
    before = pc.less(times, pa.scalar(made, pa.timestamp("us", tz="UTC")))
    early = np.asarray(pc.fill_null(before, True).to_numpy(zero_copy_only=False), dtype=bool)
    if not early.any():
        return labelled, ""
    probe = _as_training_rows(labelled, inputs, target)
    seen = seen_in(probe, [*inputs, target], trained)
    if seen is None:
        said = (
            f"{int(early.sum())} labelled answers logged before {source} was made left out "
            "(a version may have trained on them; their values cannot be compared with the "
            "training rows)"
        )
        return labelled.filter(pa.array(~early)), said
    dropped = early & seen
    said = (
        f"{int(dropped.sum())} labelled answers a version trained on left out"
        if dropped.any()
        else ""
    )
    return labelled.filter(pa.array(~dropped)), said


def _as_training_rows(labelled: pa.Table, inputs: Sequence[str], target: str) -> pa.Table:
    """The logged inputs and their label under the training table's names."""
    present = [c for c in inputs if c in labelled.column_names]
    columns = {c: labelled.column(c) for c in present}
    columns[target] = labelled.column(LABEL_TRUE)
    return pa.table(columns)
