"""`weir catalog`: search the project's tables (the default), or rebuild a lost catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from weir.cli import browse, render
from weir.cli.common import ProjectOption, console, errors, handled


class _SearchByDefault(TyperGroup):
    """`weir catalog [QUERY] [--tag T]` searches, as it always did; `weir catalog rebuild`
    is a command of its own."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own Context
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["search", *args]
        return super().parse_args(ctx, args)


catalog_app = typer.Typer(
    cls=_SearchByDefault,
    help="The project's tables: search them (the default), or rebuild a lost catalog.",
    add_completion=False,
)
catalog_app.command(name="search")(browse.catalog)


@catalog_app.command()
def rebuild(
    project: ProjectOption = Path(),
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace a catalog that can still be read (it is kept beside the new one).",
        ),
    ] = False,
) -> None:
    """Rebuild a lost or damaged catalog from the lake's commits: tables, versions, lineage."""
    from weir.app.rebuild import rebuild_catalog
    from weir.project import load_project

    with handled():
        loaded = load_project(project)
        with console.status("reading the lake ...") as status:
            result = rebuild_catalog(
                loaded, force=force, progress=lambda text: status.update(f"reading {text} ...")
            )
    console.print(f"rebuilt the catalog at {render.safe(result.catalog)} from the lake")
    if result.kept_aside:
        console.print(f"the old catalog is kept as {render.safe(result.kept_aside)}")
    console.print(_tables(result.tables))
    runs = ", ".join(str(r) for r in result.runs) or "none"
    console.print(
        f"runs: {runs} (status 'rebuilt'); lineage: {result.lineage_edges} edge(s) between versions"
    )
    if result.not_recovered:
        errors.print("[yellow]not in the lake, so not rebuilt:[/]")
        for line in result.not_recovered:
            errors.print(f"  - {line}", markup=False, soft_wrap=True)
    console.print("next: 'weir run' (every step runs once, then the cache works as before)")


def _tables(tables: list[Any]) -> Table:
    grid = Table(title="Tables rebuilt", title_justify="left")
    for column in ("table", "kind", "versions", "rows now", "notes"):
        grid.add_column(column, overflow="fold")
    for t in tables:
        versions = ", ".join(str(v) for v in t.versions) or "-"
        rows = f"{t.rows:,}" if t.rows is not None else "-"
        grid.add_row(Text(t.name), Text(t.kind), versions, rows, Text("; ".join(t.notes)))
    return grid
