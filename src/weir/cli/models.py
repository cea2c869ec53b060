"""`weir models ...` and `weir train`: the registry's stages, comparisons, reports, retraining."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from weir.cli import render
from weir.cli.common import ProjectOption, console, handled, open_project_workspace
from weir.cli.running import run_steps
from weir.core.errors import ConfigError
from weir.core.secrets import display_url

if TYPE_CHECKING:
    from weir.catalog import ModelVersionRecord


class _NameOrCommand(TyperGroup):
    """`weir models NAME` stays short for `weir models show NAME`, and `-p DIR` may come
    before or after the subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        position = 0
        while position < len(args) and args[position].startswith("-"):
            takes_value = args[position] in ("-p", "--project")
            position += 2 if takes_value else 1
        if position < len(args):  # a subcommand: it takes the options given before it
            command = [] if args[position] in self.commands else ["show"]
            args = [*command, *args[position:], *args[:position]]
        return super().parse_args(ctx, args)


models_app = typer.Typer(
    cls=_NameOrCommand,
    help="Registered model versions: list, show, promote, roll back, compare, report.",
    invoke_without_command=True,
)


def model_ref(text: str, need_version: bool = True) -> tuple[str, int | None]:
    name, _, wanted = text.partition("@")
    if (wanted and not wanted.isdigit()) or (need_version and not wanted):
        raise ConfigError(
            f"'{text}': say which version, as MODEL@VERSION", fix="e.g. fraud@3; see 'weir models'"
        )
    return name, int(wanted) if wanted else None


@models_app.callback()
def models_list(ctx: typer.Context, project: ProjectOption = Path()) -> None:
    """Registered model versions with their held-out metrics and stages."""
    if ctx.invoked_subcommand is not None:
        return
    with handled():
        ws = open_project_workspace(project)
        try:
            console.print(render.models_table(ws.catalog.model_versions()))
        finally:
            ws.close()


@models_app.command("show")
def show(
    model: Annotated[str, typer.Argument(help="MODEL or MODEL@VERSION (default: the latest).")],
    project: ProjectOption = Path(),
) -> None:
    """One model's versions, and the details of one version."""
    with handled():
        name, version = model_ref(model, need_version=False)
        ws = open_project_workspace(project)
        try:
            records = ws.catalog.model_versions(name)
            console.print(render.models_table(records))
            record = ws.catalog.model_version(name, version)
            console.print(
                f"[bold]{render.safe(record.model)} v{record.version}[/] ({record.stage}) metrics on test rows:"
            )
            console.print_json(json.dumps(record.metrics))
            for label, value in _facts(ws, record):
                console.print(render.cell(f"{label}: {value}"))
        finally:
            ws.close()


def _facts(ws: Any, record: ModelVersionRecord) -> list[tuple[str, str]]:
    details = record.details
    facts = [("trained on", ", ".join(record.trained_on)), ("seed", str(record.seed))]
    if details.cv:
        facts.append(
            (
                "cross-validation",
                ", ".join(f"{k} {v.mean:.4f}±{v.std:.4f}" for k, v in details.cv.items()),
            )
        )
    if details.tuning:
        t = details.tuning
        facts.append(
            (
                "tuning",
                f"{t.method} on {t.metric}: {t.trials} trials ({t.pruned} pruned), best {t.best_value:.4f}",
            )
        )
    if details.resolved_params:
        facts.append(("hyper-parameters", json.dumps(details.resolved_params)))
    facts.append(("artifact", f"{record.artifact_path} (sha256 {record.artifact_sha256[:16]})"))
    if details.report:
        facts.append(("report", ws.display_path(ws.artifacts.resolve(details.report.path))))
    if details.mlflow:
        facts.append(
            (
                "mlflow run",
                f"{details.mlflow.run_id} at {display_url(details.mlflow.tracking_uri)}",
            )
        )
    return facts


@models_app.command("promote")
def promote(
    model: Annotated[str, typer.Argument(help="MODEL@VERSION")],
    stage: Annotated[
        str, typer.Option(help="candidate, staging, production or archived")
    ] = "production",
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
    project: ProjectOption = Path(),
) -> None:
    """Move a version to a stage; the version it replaces in staging/production is archived."""
    with handled():
        name, version = model_ref(model)
        assert version is not None
        ws = open_project_workspace(project)
        try:
            _print_moves(name, ws.catalog.set_stage(name, version, stage, reason))
        finally:
            ws.close()


@models_app.command("rollback")
def rollback(
    model: Annotated[str, typer.Argument(help="MODEL")],
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
    project: ProjectOption = Path(),
) -> None:
    """Put the previous production version back in production."""
    with handled():
        ws = open_project_workspace(project)
        try:
            _print_moves(model, ws.catalog.rollback(model, reason))
        finally:
            ws.close()


@models_app.command("history")
def history(
    model: Annotated[str, typer.Argument(help="MODEL")], project: ProjectOption = Path()
) -> None:
    """Every stage change of a model's versions, oldest first."""
    with handled():
        ws = open_project_workspace(project)
        try:
            table = Table(title=f"Stage changes of {render.safe(model)}", title_justify="left")
            for column in ("when", "version", "from", "to", "reason"):
                table.add_column(column)
            for move in ws.catalog.stage_history(model):
                table.add_row(
                    move.at.strftime("%Y-%m-%d %H:%M:%S"),
                    str(move.version),
                    move.from_stage,
                    move.to_stage,
                    render.cell(move.reason),
                )
            console.print(table)
        finally:
            ws.close()


@models_app.command("compare")
def compare(
    first: Annotated[str, typer.Argument(help="MODEL@VERSION")],
    second: Annotated[str, typer.Argument(help="MODEL@VERSION, or VERSION of the same model")],
    project: ProjectOption = Path(),
) -> None:
    """Two versions side by side: metrics, CV, data, hyper-parameters, settings."""
    with handled():
        name_a, version_a = model_ref(first)
        name_b, version_b = model_ref(second if "@" in second else f"{name_a}@{second}")
        ws = open_project_workspace(project)
        try:
            a = ws.catalog.model_version(name_a, version_a)
            b = ws.catalog.model_version(name_b, version_b)
            console.print(render.comparison(a, b))
        finally:
            ws.close()


@models_app.command("report")
def report(
    model: Annotated[str, typer.Argument(help="MODEL or MODEL@VERSION (default: the latest)")],
    project: ProjectOption = Path(),
) -> None:
    """Print the absolute path of a version's HTML report (checked against its checksum)."""
    with handled():
        name, version = model_ref(model, need_version=False)
        ws = open_project_workspace(project)
        try:
            record = ws.catalog.model_version(name, version)
            found = record.details.report
            if not found:
                raise ConfigError(
                    f"{name} v{record.version} has no report",
                    fix="retrain it with 'weir train --force'",
                )
            path = ws.artifacts.verified(found.path, found.sha256)
            console.print(render.cell(path), soft_wrap=True)
        finally:
            ws.close()


def _print_moves(name: str, moves: list[Any]) -> None:
    if not moves:
        console.print("nothing to do: the version is already in that stage")
    for move in moves:
        console.print(
            f"{render.safe(name)} v{move.version}: {move.from_stage} -> [bold]{move.to_stage}[/]"
            + (f" ({render.safe(move.reason)})" if move.reason else "")
        )


def train(
    models: Annotated[
        list[str] | None, typer.Argument(help="Models to train (default: all).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Retrain even if nothing changed.")
    ] = False,
    reproduce: Annotated[
        str | None,
        typer.Option(
            "--reproduce", help="MODEL@VERSION: retrain it from its record and compare predictions."
        ),
    ] = None,
    project: ProjectOption = Path(),
) -> None:
    """Train models (and build what they read), or reproduce a recorded version."""
    if reproduce is None:
        run_steps(project, models or None, force)
        return
    from weir.app.training import reproduce as retrain

    with handled():
        name, version = model_ref(reproduce)
        assert version is not None
        ws = open_project_workspace(project)
        try:
            with console.status("", spinner="dots") as status:
                result = retrain(ws, name, version, progress=lambda text: status.update(text))
        finally:
            ws.close()
    render.reproduction(console, result)
    if not result.identical:
        raise typer.Exit(1)
