"""The `weir` command. Each command loads the project, asks the app layer, and renders."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from weir.cli import browse, deploy, render
from weir.cli import models as models_cli
from weir.cli import monitor as monitor_cli
from weir.cli import retrain as retrain_cli
from weir.cli import schedule as schedule_cli
from weir.cli.catalog import catalog_app
from weir.cli.common import (
    ProjectOption,
    console,
    debug,
    errors,
    handled,
    open_project_workspace,
    table_ref,
    unexpected,
)
from weir.cli.running import execute
from weir.core.version import __version__

app = typer.Typer(
    name="weir",
    help="Weir: from raw data to a deployed, monitored model, reproducibly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"weir {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
    debug_mode: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show the traceback of errors (for a bug report). Or WEIR_DEBUG=1."
        ),
    ] = False,
) -> None:
    """Weir: from raw data to a deployed, monitored model, reproducibly."""
    if debug_mode:
        debug.enabled = True


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path(),
    name: Annotated[
        str | None, typer.Option(help="Project name; default: the directory name.")
    ] = None,
) -> None:
    """Create a small project that runs as it is."""
    from weir.project import scaffold_project

    with handled():
        files = scaffold_project(directory, name)
    console.print(f"created a Weir project in {render.safe(directory.resolve())}:")
    for path in files:
        console.print(f"  {render.safe(path.relative_to(directory.resolve()))}")
    console.print(f"next: cd {render.safe(directory)} && weir run")


@app.command()
def validate(project: ProjectOption = Path()) -> None:
    """Check weir.yaml and the SQL models; list every problem with file, key and fix."""
    from weir.app import build_plan
    from weir.project import load_project

    with handled():
        loaded = load_project(project)
        plan = build_plan(loaded)
    console.print(f"[green]ok[/] {render.safe(loaded.file)}: {len(plan.pipeline)} steps")
    for step in plan.pipeline.order:
        after = f"  [dim]after {render.safe(', '.join(step.after))}[/]" if step.after else ""
        console.print(f"  {render.safe(step.name)}{after}")


@app.command()
def run(
    project: ProjectOption = Path(),
    force: Annotated[bool, typer.Option("--force", help="Run every step, cached or not.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would run and why; change nothing.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show each step's cache key and its parts.")
    ] = False,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Rebuild incremental models whole, and reload incremental sources from scratch.",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only failures and the summary.")
    ] = False,
    plain: Annotated[
        bool,
        typer.Option(
            "--plain", help="Log lines instead of a live status (the default off a terminal)."
        ),
    ] = False,
) -> None:
    """Run the pipeline: steps whose inputs, code or definition changed; skip the rest."""
    execute(
        project,
        force=force,
        dry_run=dry_run,
        explain=explain,
        full_refresh=full_refresh,
        quiet=quiet,
        plain=plain or not console.is_terminal,
    )


@app.command()
def tables(project: ProjectOption = Path()) -> None:
    """The current version of every table."""
    with handled():
        ws = open_project_workspace(project)
        try:
            browse.follow_logs(ws)
            console.print(render.tables_table(ws.catalog.tables()))
        finally:
            ws.close()


@app.command()
def show(
    table: Annotated[str, typer.Argument(help="TABLE or TABLE@VERSION")],
    project: ProjectOption = Path(),
    rows: Annotated[int, typer.Option("--rows", "-n", min=0, help="Sample rows to print.")] = 10,
) -> None:
    """A table version: schema, rows, lineage, and a sample."""
    with handled():
        name, version = table_ref(table)
        ws = open_project_workspace(project)
        try:
            browse.follow_logs(ws, name)
            record = ws.catalog.version(name, version)
            versions = ws.catalog.versions(name)
            console.print(
                f"[bold]{render.safe(record.table)}@{record.version}[/]  ({record.kind}, {record.row_count:,} rows)"
            )
            if record.description:
                console.print(render.cell(record.description))
            console.print(
                f"{f'made by run {record.run_id}' if record.run_id else 'recorded'} at "
                f"{record.created_at:%Y-%m-%d %H:%M:%S} UTC; "
                f"fingerprint {record.fingerprint[:16]}; versions: {', '.join(str(v.version) for v in versions)}"
            )
            parents = ws.catalog.parents(record.id)
            if parents:
                made_from = ", ".join(f"{p.table}@{p.version}" for p in parents)
                console.print(render.cell(f"made from: {made_from}"))
            answered = browse.answered_by_line(ws, record)
            if answered:
                console.print(render.cell(answered))
            schema = Table(title="Schema", title_justify="left")
            for column in ("column", "type", "nullable"):
                schema.add_column(column)
            for field in record.schema:
                schema.add_row(
                    render.cell(field["name"]),
                    render.cell(field["type"]),
                    "yes" if field["nullable"] else "no",
                )
            console.print(schema)
            if rows:
                sample = ws.lake.head(name, record.version, rows)
                grid = Table(title=f"First {sample.num_rows} rows", title_justify="left")
                for column in sample.column_names:
                    grid.add_column(render.cell(column), overflow="fold")
                for row in sample.to_pylist():
                    grid.add_row(*(render.cell(v) for v in row.values()))
                console.print(grid)
        finally:
            ws.close()


@app.command()
def profile(
    table: Annotated[str, typer.Argument(help="TABLE or TABLE@VERSION")],
    project: ProjectOption = Path(),
) -> None:
    """Column statistics of a table version: nulls, distinct values, range, moments, top values."""
    with handled():
        name, version = table_ref(table)
        ws = open_project_workspace(project)
        try:
            browse.follow_logs(ws, name)
            record = ws.catalog.version(name, version)
            from weir.app.inspect import table_profile

            stored = table_profile(ws, record)
            console.print(render.profile_table(record, stored))
        finally:
            ws.close()


@app.command()
def runs(
    run_id: Annotated[int | None, typer.Argument(help="Show this run's steps.")] = None,
    project: ProjectOption = Path(),
    limit: Annotated[int, typer.Option(min=1)] = 20,
) -> None:
    """Past runs, or one run's steps with why each ran or was skipped."""
    from weir.app.liveness import reap_dead_runs

    with handled():
        ws = open_project_workspace(project)
        try:
            reap_dead_runs(ws.catalog, lock_held=False, by="weir runs")
            if run_id is None:
                console.print(render.runs_table(ws.catalog.runs(limit)))
                return
            record = ws.catalog.run(run_id)
            console.print(render.runs_table([record]))
            steps = Table(title=f"Steps of run {record.id}", title_justify="left")
            for column in ("step", "status", "why", "seconds", "error"):
                steps.add_column(column, overflow="fold")
            for s in record.steps:
                style = render.STATUS_STYLE.get(s.status, "")
                seconds = (
                    f"{s.seconds:.1f}" if s.seconds is not None and s.status != "skipped" else ""
                )
                steps.add_row(
                    render.cell(s.step),
                    f"[{style}]{s.status}[/]",
                    render.cell(s.reason),
                    seconds,
                    render.cell((s.error or "").split("\n")[0]),
                )
            console.print(steps)
        finally:
            ws.close()


@app.command()
def checks(
    table: Annotated[
        str | None, typer.Argument(help="One table; default: every checked table.")
    ] = None,
    project: ProjectOption = Path(),
    history: Annotated[
        int, typer.Option("--history", min=0, help="Also show this many earlier check runs.")
    ] = 0,
) -> None:
    """The latest data-quality results, and with --history N the N before them."""
    from weir.project import load_project

    with handled():
        loaded = load_project(project)
        ws = open_project_workspace(project)
        try:
            names = [table] if table else list(loaded.config.checks)
            grid = Table(title="Checks", title_justify="left")
            for column in ("run", "table", "check", "severity", "result", "failing", "detail"):
                grid.add_column(column, overflow="fold")
            for name in names:
                records = (
                    ws.catalog.check_history(name, history + 1)
                    if history
                    else ws.catalog.latest_checks(name)
                )
                for c in records:
                    grid.add_row(
                        str(c.run_id),
                        render.cell(f"{c.table}@{c.version}"),
                        render.cell(c.check),
                        c.severity,
                        render.check_result(c.passed, c.severity),
                        f"{c.failing:,}",
                        render.cell(c.detail),
                    )
            console.print(grid)
        finally:
            ws.close()


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to put the demo project.")] = Path(
        "demo"
    ),
    rows: Annotated[int, typer.Option(min=1000, help="Transactions to generate.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed of the data generator.")] = 7,
    run_it: Annotated[
        bool, typer.Option("--run/--no-run", help="Run the project after writing it.")
    ] = True,
) -> None:
    """Generate the fraud demo data, write the demo project, run it, and summarise."""
    from weir.cli.demo import prepare_demo, serve_sample, summarise

    with handled():
        prepare_demo(console, directory, rows, seed)
    if not run_it:
        return
    execute(directory)
    with handled():
        summarise(console, directory)
        serve_sample(console, directory)


app.add_typer(catalog_app, name="catalog")
app.add_typer(models_cli.models_app, name="models")
app.command(name="train")(models_cli.train)
app.command(name="serve")(deploy.serve)
app.command(name="predict")(deploy.predict)
app.add_typer(deploy.api_key_app, name="api-key")
app.command(name="describe")(browse.describe)
app.command(name="lineage")(browse.lineage)
app.command(name="monitor")(monitor_cli.monitor)
app.command(name="retrain")(retrain_cli.retrain)
app.command(name="schedule")(schedule_cli.schedule)


def main() -> None:
    """Entry point of the `weir` script. No traceback reaches the user without --debug: an
    error Weir did not expect is one line, and the process exits 1."""
    try:
        app()
    except KeyboardInterrupt:
        errors.print("interrupted; completed steps are recorded and will not re-run")
        sys.exit(130)
    except SystemExit:
        raise
    except BaseException as exc:  # a library's panic (pyo3's PanicException) included
        unexpected(exc)
        sys.exit(1)
