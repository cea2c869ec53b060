"""Automatic rollback: a champion a retrain promoted is judged once against its
predecessor, on the first closed window of its own answers after the promotion that has
retrain.min_rows labels; worse by more than retrain.rollback_margin (default: the size of
margin), production goes back to the predecessor.

Both versions answer the same logged inputs through their ONNX graphs (the champion's
graph gives the answers it served). No row there can be one either trained on: both were
trained before the promotion, and the rows were logged after it.

Once per promotion: the verdict is recorded as a monitor result of check "rollback" whose
window key names the promotion, and a promotion with a verdict is not judged again. While
no window has enough labels, nothing is recorded and the next call looks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.app.monitor_data import LOGGED_AT, VERSION
from weir.app.retraining_compare import Comparison, closed_windows, labelled_log
from weir.app.retraining_policy import (
    ROLLBACK,
    Promotion,
    last_promotion,
    monitor_config,
)
from weir.app.retraining_record import comparison_measures
from weir.app.retraining_score import Scorer, comparison_metric, gain
from weir.app.workspace import Workspace
from weir.catalog import MonitorResultRecord, StageMove, WindowRef
from weir.monitor.labels import LABEL_TRUE
from weir.project.monitor_config import MonitorConfig, RetrainConfig

RollbackAction = Literal["off", "none", "waiting", "kept", "rolled back", "decided before"]


@dataclass(frozen=True)
class RollbackDecision:
    """What a rollback check found and did. With `dry_run`, `action` is what it would do
    and nothing was changed or recorded."""

    model: str
    action: RollbackAction
    reason: str
    champion: int | None = None
    predecessor: int | None = None
    comparison: Comparison | None = None
    moves: tuple[StageMove, ...] = ()
    recorded: MonitorResultRecord | None = None
    dry_run: bool = False

    @property
    def rolled_back(self) -> bool:
        return self.action == "rolled back"


def check_rollback(
    ws: Workspace, model: str, *, now: datetime | None = None, dry_run: bool = False
) -> RollbackDecision:
    """Judge the production version of `model` against its predecessor if a retrain
    promoted it and it has not been judged; roll back if it is worse (see the module)."""
    config = monitor_config(ws, model)
    retrain = config.retrain
    if retrain is None or not retrain.rollback:
        return RollbackDecision(model, "off", f"monitor.{model}.retrain.rollback is off")
    if config.labels is None:
        why = f"monitor.{model} has no labels: section, so no champion's answers are judged"
        return RollbackDecision(model, "off", why)
    champion = ws.catalog.in_stage(model, "production")
    if champion is None:
        return RollbackDecision(model, "none", "no version is in production")
    promotion = last_promotion(ws.catalog.stage_history(model), champion.version)
    skipped = _not_judged(ws, model, champion.version, promotion)
    if skipped is not None:
        return skipped
    assert promotion is not None and promotion.predecessor is not None
    found = _first_window(ws, model, config, retrain, promotion, now or datetime.now(UTC), dry_run)
    if isinstance(found, str):
        return RollbackDecision(
            model, "waiting", found, promotion.version, promotion.predecessor, dry_run=dry_run
        )
    return _decide(ws, model, retrain, promotion, found, dry_run)


def _not_judged(
    ws: Workspace, model: str, version: int, promotion: Promotion | None
) -> RollbackDecision | None:
    """The decision when there is nothing to judge (None: judge it)."""
    if promotion is None or not promotion.by_retrain:
        how = f"'{promotion.reason}'" if promotion and promotion.reason else "by hand"
        return RollbackDecision(
            model, "none", f"v{version} was not promoted by a retrain ({how})", version
        )
    if promotion.predecessor is None:
        return RollbackDecision(
            model, "none", f"v{version} replaced no version in production", version
        )
    before = ws.catalog.judged_windows(model, ROLLBACK).get(promotion.key)
    if before is not None:
        return RollbackDecision(
            model,
            "decided before",
            f"judged at {before.created_at:%Y-%m-%d %H:%M}Z: {before.summary}",
            version,
            promotion.predecessor,
            recorded=before,
        )
    return None


def _first_window(
    ws: Workspace,
    model: str,
    config: MonitorConfig,
    retrain: RetrainConfig,
    promotion: Promotion,
    now: datetime,
    dry_run: bool,
) -> Comparison | str:
    """Both versions on the champion's first closed window after its promotion with
    enough labels and a defined metric; or why there is none yet."""
    assert promotion.predecessor is not None
    champion = Scorer.load(ws, ws.catalog.model_version(model, promotion.version))
    predecessor = Scorer.load(ws, ws.catalog.model_version(model, promotion.predecessor))
    target = str((champion.record.details.config or {}).get("target") or "")
    read = labelled_log(ws, model, config, target, record=not dry_run)
    assert read is not None  # check_rollback returned before without labels:
    metric = comparison_metric(model, config, champion.record)
    usable = _answered_since(read.labelled, promotion)
    most = 0
    for ref, rows in closed_windows(read.log, usable, config.window, now):
        most = max(most, rows.num_rows)
        if rows.num_rows < retrain.min_rows or champion.missing(rows) or predecessor.missing(rows):
            continue
        truth = rows.column(LABEL_TRUE)
        compared = Comparison(
            "recent",
            metric,
            retrain.min_rows,
            rows=rows.num_rows,
            first=predecessor.score(rows, truth, metric),
            second=champion.score(rows, truth, metric),
            where=f"{read.log.table}@{read.log.version} window {ref.key}",
            window=ref,
            data=read.data,
        )
        if compared.decided:
            return compared
    return (
        f"no closed window of v{promotion.version}'s answers since its promotion has "
        f"{retrain.min_rows} labels with a defined {metric} yet (most: {most})"
    )


def _answered_since(labelled: pa.Table, promotion: Promotion) -> pa.Table:
    if labelled.num_rows == 0:
        return labelled
    times = pc.cast(labelled.column(LOGGED_AT), pa.timestamp("us", tz="UTC"))
    after = pc.greater_equal(times, pa.scalar(promotion.at, pa.timestamp("us", tz="UTC")))
    mine = pc.equal(labelled.column(VERSION), promotion.version)
    keep = np.asarray(pc.fill_null(pc.and_(after, mine), False).to_numpy(zero_copy_only=False))
    return labelled.filter(pa.array(keep.astype(bool)))


def _decide(
    ws: Workspace,
    model: str,
    retrain: RetrainConfig,
    promotion: Promotion,
    compared: Comparison,
    dry_run: bool,
) -> RollbackDecision:
    assert compared.first is not None and compared.second is not None
    assert promotion.predecessor is not None
    worse_by = -gain(compared.metric, compared.first, compared.second)
    figures = (
        f"{compared.metric} {compared.second:.4f} for v{promotion.version} against "
        f"{compared.first:.4f} for v{promotion.predecessor} on {compared.rows} labelled "
        f"answers ({compared.where})"
    )
    back = worse_by > retrain.tolerance
    if back:
        summary = f"rolled back: {figures}, worse by {worse_by:.4f} > {retrain.tolerance:.4f}"
    else:
        summary = f"kept: {figures}, not worse by more than {retrain.tolerance:.4f}"
    action: RollbackAction = "rolled back" if back else "kept"
    decision = RollbackDecision(
        model, action, summary, promotion.version, promotion.predecessor, compared, dry_run=dry_run
    )
    if dry_run:
        return decision
    moves = tuple(ws.catalog.rollback(model, reason=f"rollback: {summary}")) if back else ()
    recorded = _record(ws, model, promotion, compared, retrain, summary, back)
    return RollbackDecision(
        model, action, summary, promotion.version, promotion.predecessor, compared, moves, recorded
    )


def _record(
    ws: Workspace,
    model: str,
    promotion: Promotion,
    compared: Comparison,
    retrain: RetrainConfig,
    summary: str,
    back: bool,
) -> MonitorResultRecord:
    assert compared.window is not None and promotion.predecessor is not None
    window = WindowRef(promotion.key, compared.window.start, compared.window.end, compared.rows)
    ws.catalog.record_monitor_result(
        model=model,
        model_version=promotion.version,
        check=ROLLBACK,
        window=window,
        status="bad" if back else "ok",
        summary=summary,
        measures=comparison_measures(
            compared, f"v{promotion.predecessor}", f"v{promotion.version}", -retrain.tolerance
        ),
        data=compared.data,
    )
    return ws.catalog.monitor_results(model, ROLLBACK, limit=1)[0]
