"""`weir retrain MODEL`: retrain when the policy says so, compare, promote or refuse, and
say why at each step. Exit 0 whatever the decision (not due, promoted, refused, undecided:
each is the policy working); 1 when the challenger could not be trained or on an error."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from weir.cli import render
from weir.cli.common import ProjectOption, console, debug, handled, open_project_workspace
from weir.cli.display import RunDisplay
from weir.cli.render import visible

if TYPE_CHECKING:
    from weir.app.retraining import RetrainOutcome
    from weir.app.retraining_compare import Comparison
    from weir.app.retraining_rollback import RollbackDecision

_DECISION = {"promoted": "bold green", "refused": "yellow", "undecided": "yellow"}
_GATE = {True: "[green]passed[/]", False: "[bold red]failed[/]", None: "[yellow]undecided[/]"}


def retrain(
    model: Annotated[
        str, typer.Argument(help="The model to retrain (monitor.MODEL.retrain in weir.yaml).")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Retrain even when no trigger of retrain.when fired.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Say whether a retrain is due and what would run; change nothing."
        ),
    ] = False,
    project: ProjectOption = Path(),
) -> None:
    """Train a challenger when a retrain is due, compare it with the champion on rows
    neither trained on, and promote it only if it wins by the margin and passes the gates.
    Also judges, once, a champion an earlier retrain promoted (and rolls it back if worse)."""
    from weir.app.monitor_lock import monitor_lock
    from weir.app.retraining import RunHooks
    from weir.app.retraining import retrain as run_retrain

    with handled():
        ws = open_project_workspace(project)
        try:
            with monitor_lock(ws.project.workspace, model):
                display = RunDisplay(
                    quiet=False, plain=not console.is_terminal, explain=False, debug=debug.enabled
                )
                hooks = RunHooks(
                    display.started, display.report, display.progress, display.notice, _show_due
                )
                with display:
                    outcome = run_retrain(ws, model, force=force, dry_run=dry_run, hooks=hooks)
            _show(outcome)
        finally:
            ws.close()
    if outcome.decision == "failed":
        raise typer.Exit(1)


def _show_due(outcome: RetrainOutcome) -> None:
    """Before any training: what the rollback check did, and whether a retrain is due."""
    _show_rollback(outcome.rollback)
    head = f"[bold]{visible(outcome.model)}[/]: champion v{outcome.champion}"
    if not outcome.due.due:
        console.print(f"{head}; not due: {visible(outcome.due.text())}")
        return
    console.print(f"{head}; due: {visible(outcome.due.text())}")


def _show(outcome: RetrainOutcome) -> None:
    if not outcome.due.due:
        console.print("nothing trained (--force retrains anyway)")
        return
    if outcome.decision == "dry run":
        assert outcome.run is not None
        console.print("dry run: would train a challenger with these steps; nothing changed")
        for report in outcome.run.reports:
            console.print(render.step_line(report))
        return
    if outcome.challenger is None:
        console.print(f"[bold red]no challenger[/]: {visible(outcome.reason, lines=True)}")
        console.print(f"v{outcome.champion} stays in production")
        return
    console.print(f"challenger v{outcome.challenger} in staging")
    console.print(f"compared on {visible(outcome.metric)}:")
    for compared in outcome.comparisons:
        console.print(f"  {_comparison(compared, outcome.champion, outcome.challenger)}")
    console.print("gates:")
    for gate in outcome.gates:
        console.print(f"  {gate.name:<12} {_GATE[gate.passed]} {visible(gate.detail)}")
    style = _DECISION[outcome.decision]
    console.print(
        f"[{style}]{outcome.decision}[/] v{outcome.challenger}: {visible(outcome.reason)}"
    )
    for move in outcome.moves:
        console.print(
            f"  v{move.version} {move.from_stage} -> {move.to_stage}: {visible(move.reason)}"
        )


def _comparison(compared: Comparison, champion: int, challenger: int) -> str:
    line = f"{compared.kind:<9} {compared.rows} rows"
    if compared.where:
        line += f" ({visible(compared.where)})"
    if compared.first is not None and compared.second is not None:
        line += f": champion v{champion} {compared.first:.4f}, challenger v{challenger} {compared.second:.4f}"
    if not compared.decided:
        line += f"; cannot decide: {visible(compared.undecided_reason())}"
    if compared.note:
        line += f"; {visible(compared.note)}"
    return line


def _show_rollback(decision: RollbackDecision) -> None:
    if decision.action in ("off", "none"):
        return
    action = f"would be {decision.action}" if decision.dry_run else decision.action
    if decision.rolled_back:
        action = f"[bold red]{action}[/]"
    console.print(f"rollback check: {action}: {visible(decision.reason)}")
    for move in decision.moves:
        console.print(
            f"  v{move.version} {move.from_stage} -> {move.to_stage}: {visible(move.reason)}"
        )
