"""`weir retrain MODEL`: when the policy says a retrain is due, train a challenger with the
model's own spec on the latest data, compare it with the champion on rows neither trained
on, and promote it only if it wins by the margin and passes the gates; record why.

    check_rollback            a champion a retrain promoted, judged once on its labels
    champion                  the version in production (none: nothing to retrain)
    due?                      --force, or a trigger of retrain.when      (retraining_due)
    train the challenger      the train step and what it reads, as 'weir train --force'
    challenger -> staging     where a shadow server serves it beside the champion
    compare                   held-out rows and the recent window     (retraining_compare)
    gates                     margin, ONNX parity, no new PII warning   (retraining_gates)
    promote or refuse         the stage change says why; a refused challenger stays in
                              staging (a shadow keeps comparing it; a person may promote it;
                              the next challenger replaces it there)
    record                    a monitor result of check "retrain" with the figures

No champion: a first version is promoted by a person (`weir models promote`), since a
challenger proves itself against a champion, and with none there is nothing to prove.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from weir.app.kinds.summaries import TrainSummary
from weir.app.retraining_compare import Comparison, Sides, held_out, labelled_log, recent
from weir.app.retraining_data import training_rows
from weir.app.retraining_due import Due, is_due
from weir.app.retraining_gates import (
    Gate,
    deciding,
    margin_gate,
    parity_gate,
    pii_gate,
    verdict,
)
from weir.app.retraining_policy import (
    RETRAIN,
    RETRAIN_REASON,
    RetrainState,
    load_state,
    retrain_config,
    save_state,
)
from weir.app.retraining_record import all_measures
from weir.app.retraining_rollback import RollbackDecision, check_rollback
from weir.app.retraining_score import Scorer, comparison_metric
from weir.app.run import RunResult, run_project, train_steps
from weir.app.workspace import Workspace
from weir.catalog import ModelVersionRecord, MonitorResultRecord, StageMove, Status, WindowRef
from weir.core.errors import LakeError, MonitorError, NotFoundError
from weir.dag import Step, StepReport
from weir.project.monitor_config import MonitorConfig, RetrainConfig

Decision = Literal["not due", "dry run", "failed", "promoted", "refused", "undecided"]
_STATUS: dict[Decision, Status] = {
    "promoted": "ok",
    "refused": "bad",
    "failed": "bad",
    "undecided": "undecided",
}


@dataclass(frozen=True)
class RunHooks:
    """Where the training run reports its steps (the CLI's live display)."""

    on_start: Callable[[Step], None] | None = None
    on_report: Callable[[StepReport], None] | None = None
    on_progress: Callable[[str], None] | None = None
    on_notice: Callable[[str], None] | None = None
    # told whether a retrain is due (and what the rollback check did) before any training
    on_due: Callable[[RetrainOutcome], None] | None = None


@dataclass(frozen=True)
class RetrainOutcome:
    """What one `weir retrain` found and did."""

    model: str
    rollback: RollbackDecision
    champion: int
    due: Due
    decision: Decision
    reason: str
    metric: str
    challenger: int | None = None
    run: RunResult | None = None
    comparisons: tuple[Comparison, ...] = ()
    gates: tuple[Gate, ...] = ()
    moves: tuple[StageMove, ...] = ()
    recorded: MonitorResultRecord | None = None


def retrain(
    ws: Workspace,
    model: str,
    *,
    force: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
    hooks: RunHooks | None = None,
) -> RetrainOutcome:
    """See the module. With `dry_run`, say what would be done and change nothing."""
    now = now or datetime.now(UTC)
    config, policy = retrain_config(ws, model)
    rolled = check_rollback(ws, model, now=now, dry_run=dry_run)
    champion = _champion(ws, model)
    metric = comparison_metric(model, config, champion)
    state = load_state(ws, model)
    due = is_due(ws, model, config, champion, state, force=force, record=not dry_run)
    base = RetrainOutcome(model, rolled, champion.version, due, "not due", due.text(), metric)
    hooks = hooks or RunHooks()
    if hooks.on_due:
        hooks.on_due(base)
    if not due.due:
        return base
    targets, needed = train_steps(ws.project, [model])
    _preflight(ws, model, config, champion, record=not dry_run)
    if dry_run:
        planned = run_project(ws, force=set(targets), only=needed, dry_run=True)
        return replace(base, decision="dry run", reason=f"due: {due.text()}", run=planned)
    result, challenger, error = _train(ws, targets, needed, hooks)
    if challenger is None:
        recorded = _record_failure(ws, model, champion, error)
        return replace(base, decision="failed", reason=error, run=result, recorded=recorded)
    return _challenge(ws, base, config, policy, champion, challenger, state, now, result)


def _challenge(
    ws: Workspace,
    base: RetrainOutcome,
    config: MonitorConfig,
    policy: RetrainConfig,
    champion: ModelVersionRecord,
    challenger: ModelVersionRecord,
    state: RetrainState,
    now: datetime,
    result: RunResult,
) -> RetrainOutcome:
    """The challenger to staging, compared, gated, promoted or not, recorded."""
    model = base.model
    moves = ws.catalog.set_stage(
        model,
        challenger.version,
        "staging",
        reason=f"challenger of v{champion.version}, trained by a retrain ({base.due.text()})",
    )
    judged = _judge(ws, model, config, policy, champion, challenger, base.metric, now)
    if judged.decision == "promoted":
        reason = f"{RETRAIN_REASON}beat v{champion.version}: {judged.reason}"
        moves += ws.catalog.set_stage(model, challenger.version, "production", reason=reason)
    recorded = _record(ws, model, policy, champion, challenger, judged)
    save_state(ws, model, state.after(base.due.incidents, now))
    return replace(
        base,
        decision=judged.decision,
        reason=judged.reason,
        run=result,
        challenger=challenger.version,
        comparisons=judged.comparisons,
        gates=judged.gates,
        moves=tuple(moves),
        recorded=recorded,
    )


def _champion(ws: Workspace, model: str) -> ModelVersionRecord:
    found = ws.catalog.in_stage(model, "production")
    if found is None:
        versions = ws.catalog.model_versions(model)  # NotFoundError for an unknown model
        raise MonitorError(
            f"{model} has no version in production: a retrain replaces a champion, and "
            "a first version is deployed by a person",
            fix=f"promote one: weir models promote {model}@{versions[-1].version}",
        )
    return found


def _preflight(
    ws: Workspace,
    model: str,
    config: MonitorConfig,
    champion: ModelVersionRecord,
    *,
    record: bool,
) -> None:
    """What the comparison will need, read before training, so that a champion whose graph
    cannot be loaded, or a labels table the join refuses (a key labelled twice,
    differently), stops the retrain before a challenger exists."""
    Scorer.load(ws, champion)
    target = str((champion.details.config or {}).get("target") or "")
    labelled_log(ws, model, config, target, record=record)


def _train(
    ws: Workspace, targets: list[str], needed: set[str], hooks: RunHooks
) -> tuple[RunResult, ModelVersionRecord | None, str]:
    """Run the train step (forced) and every step it needs (as their caches say), exactly
    as 'weir train MODEL --force' does; the registered version, or why there is none."""
    result = run_project(
        ws,
        force=set(targets),
        only=needed,
        on_start=hooks.on_start,
        on_report=hooks.on_report,
        on_progress=hooks.on_progress,
        on_notice=hooks.on_notice,
    )
    report = next((r for r in result.reports if r.step.name == targets[0]), None)
    if (
        report is not None
        and report.status == "succeeded"
        and isinstance(report.summary, TrainSummary)
    ):
        model = report.summary.model
        return result, ws.catalog.model_version(model, report.summary.version), ""
    failed = [
        f"{r.step.name}: {r.error or r.reason}" for r in result.reports if r.status == "failed"
    ]
    if report is not None and report.status not in ("succeeded", "failed"):
        failed.append(f"{report.step.name} {report.status}: {report.reason}")
    return result, None, "; ".join(failed) or f"{targets[0]} did not run"


def _sides(ws: Workspace, champion: ModelVersionRecord, challenger: ModelVersionRecord) -> Sides:
    first, second = Scorer.load(ws, champion), Scorer.load(ws, challenger)
    rows = training_rows(ws, challenger, extra=first.serving.inputs)
    try:
        trained = training_rows(ws, champion).train
    except (MonitorError, LakeError, NotFoundError) as exc:
        note = f"which rows v{champion.version} trained on is not known ({exc.message}); all kept"
        return Sides(first, second, rows, None, note)
    return Sides(first, second, rows, trained)


@dataclass(frozen=True)
class _Judged:
    decision: Decision
    reason: str
    comparisons: tuple[Comparison, ...]
    gates: tuple[Gate, ...]


def _judge(
    ws: Workspace,
    model: str,
    config: MonitorConfig,
    policy: RetrainConfig,
    champion: ModelVersionRecord,
    challenger: ModelVersionRecord,
    metric: str,
    now: datetime,
) -> _Judged:
    """Compare, pass the gates, decide (not yet acted on)."""
    sides = _sides(ws, champion, challenger)
    comparisons = (
        held_out(sides, metric, policy.min_rows),
        recent(ws, model, config, sides, metric, policy.min_rows, now=now, record=True),
    )
    gates = (
        margin_gate(comparisons, policy.margin),
        parity_gate(challenger.version, challenger.details),
        pii_gate(champion.features, challenger.features),
    )
    decision, reason = verdict(gates)
    return _Judged(decision, reason, comparisons, gates)


def _record(
    ws: Workspace,
    model: str,
    policy: RetrainConfig,
    champion: ModelVersionRecord,
    challenger: ModelVersionRecord,
    judged: _Judged,
) -> MonitorResultRecord:
    chosen = deciding(judged.comparisons)
    rows = chosen.rows if chosen else max((c.rows for c in judged.comparisons), default=0)
    start = chosen.window.start if chosen and chosen.window else None
    end = chosen.window.end if chosen and chosen.window else None
    data: dict[str, int] = {}
    for compared in judged.comparisons:
        data |= compared.data
    ws.catalog.record_monitor_result(
        model=model,
        model_version=challenger.version,
        check=RETRAIN,
        window=WindowRef(
            f"challenger v{challenger.version} vs champion v{champion.version}", start, end, rows
        ),
        status=_STATUS[judged.decision],
        summary=f"{judged.decision} v{challenger.version}: {judged.reason}",
        measures=all_measures(
            judged.comparisons,
            f"v{champion.version} (champion)",
            f"v{challenger.version} (challenger)",
            policy.margin,
        ),
        data=data,
    )
    return ws.catalog.monitor_results(model, RETRAIN, limit=1)[0]


def _record_failure(
    ws: Workspace, model: str, champion: ModelVersionRecord, error: str
) -> MonitorResultRecord:
    """A challenger that did not train is recorded too (the loop's history shows the
    attempt); the incidents it was for stay unanswered, so the next retrain tries again."""
    ws.catalog.record_monitor_result(
        model=model,
        model_version=champion.version,
        check=RETRAIN,
        window=WindowRef(
            f"challenger (not trained) vs champion v{champion.version}", None, None, 0
        ),
        status="bad",
        summary=f"no challenger: {error}; v{champion.version} stays in production",
        measures=(),
        data={},
    )
    return ws.catalog.monitor_results(model, RETRAIN, limit=1)[0]


__all__ = ["RetrainOutcome", "RetrainState", "RunHooks", "check_rollback", "retrain"]
