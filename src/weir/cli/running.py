"""Running the pipeline from the command line, for `weir run`, `weir train` and `weir demo`."""

from __future__ import annotations

from pathlib import Path

import typer

from weir.cli import render
from weir.cli.common import console, debug, handled, open_project_workspace
from weir.cli.display import RunDisplay


def execute(
    project: Path,
    *,
    force: bool | set[str] = False,
    dry_run: bool = False,
    explain: bool = False,
    full_refresh: bool = False,
    only: set[str] | None = None,
    quiet: bool = False,
    plain: bool = False,
) -> None:
    """Run the project (only the steps `only`, when given) with a live display, then its
    summary; exit 1 when a step failed."""
    from weir.app import run_project

    with handled():
        ws = open_project_workspace(project)
        try:
            display = RunDisplay(quiet=quiet, plain=plain, explain=explain, debug=debug.enabled)
            with display:
                result = run_project(
                    ws,
                    force=force,
                    full_refresh=full_refresh,
                    dry_run=dry_run,
                    on_start=display.started,
                    on_report=display.report,
                    on_progress=display.progress,
                    on_notice=display.notice,
                    only=only,
                )
            if dry_run and not quiet:
                for report in result.reports:
                    console.print(render.step_line(report, explain))
            for warning in result.warnings:
                console.print(f"[yellow]warning: {render.safe(warning, lines=True)}[/]")
            render.run_footer(console, result)
        finally:
            ws.close()
    if not result.ok:
        raise typer.Exit(1)


def run_steps(project: Path, models: list[str] | None, force: bool) -> None:
    """Train `models` (all when None): their train steps and every step they need."""
    from weir.app.run import train_steps
    from weir.project import load_project

    with handled():
        targets, needed = train_steps(load_project(project), models)
    execute(project, force=set(targets) if force else False, only=needed)
