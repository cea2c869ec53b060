"""`weir catalog` and `weir describe`: what the project's tables are, and all about one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from weir.cli import render
from weir.cli.common import ProjectOption, console, handled, open_project_workspace
from weir.cli.render import cell, safe
from weir.core.errors import ConfigError

if TYPE_CHECKING:
    from weir.app.workspace import Workspace
    from weir.catalog import VersionRecord


def catalog(
    query: Annotated[
        str | None,
        typer.Argument(help="Text to find in names, descriptions, owners, tags or columns."),
    ] = None,
    project: ProjectOption = Path(),
    tag: Annotated[
        str | None, typer.Option("--tag", "-t", help="Only tables with this tag.")
    ] = None,
) -> None:
    """List and search the project's tables with their docs and current versions."""
    from weir.app import build_plan
    from weir.app.catalog_view import search, table_entries

    with handled():
        ws = open_project_workspace(project)
        try:
            entries = search(table_entries(ws.project, build_plan(ws.project)), query, tag)
            grid = Table(title=f"Catalog ({len(entries)} tables)", title_justify="left")
            for column in ("table", "kind", "version", "rows", "owner", "tags", "description"):
                grid.add_column(column, overflow="fold")
            for entry in entries:
                current = ws.catalog.current_version(entry["name"])
                docs = entry["docs"]
                grid.add_row(
                    cell(entry["name"]),
                    entry["kind"],
                    str(current.version) if current else "-",
                    f"{current.row_count:,}" if current else "not built",
                    cell(docs.get("owner") or ""),
                    cell(", ".join(docs.get("tags", []))),
                    cell(docs.get("description") or ""),
                )
            console.print(grid)
        finally:
            ws.close()


def describe(
    table: Annotated[str, typer.Argument(help="The table to describe.")],
    project: ProjectOption = Path(),
) -> None:
    """Everything known about one table: docs, maker, versions, columns, lineage, checks, models."""
    from weir.app import build_plan
    from weir.app.catalog_view import describe as describe_table

    with handled():
        ws = open_project_workspace(project)
        try:
            found = describe_table(ws, build_plan(ws.project), table)
            entry, docs = found.entry, found.entry["docs"]
            console.print(
                f"[bold]{safe(entry['name'])}[/]  ({entry['kind']}, made by {safe(entry['made_by'])})"
            )
            if docs.get("description"):
                console.print(cell(docs["description"]))
            if docs.get("owner") or docs.get("tags"):
                owner, tags = docs.get("owner") or "-", ", ".join(docs.get("tags", [])) or "-"
                console.print(cell(f"owner: {owner}   tags: {tags}"))
            if found.current is None:
                console.print("not built yet: run 'weir run'")
            else:
                current = found.current
                console.print(
                    f"current version {current.version} of {found.versions}: {current.row_count:,} rows, "
                    f"made by run {current.run_id} at {current.created_at:%Y-%m-%d %H:%M:%S} UTC"
                )
            console.print(
                cell(
                    f"reads: {', '.join(entry['reads']) or '-'}   read by: {', '.join(found.readers) or '-'}"
                )
            )
            if found.models:
                console.print(cell(f"models trained on it: {', '.join(found.models)}"))
            grid = Table(title="Columns", title_justify="left")
            for column in ("column", "type", "class (policy)", "nulls", "distinct~", "description"):
                grid.add_column(column, overflow="fold")
            for c in found.columns:
                nulls = "" if c["null_fraction"] is None else f"{c['null_fraction']:.1%}"
                distinct = "" if c["distinct"] is None else f"{c['distinct']:,}"
                grid.add_row(
                    cell(c["name"]),
                    cell(c["type"]),
                    cell(c["class"]),
                    nulls,
                    distinct,
                    cell(c["description"]),
                )
            console.print(grid)
            if found.checks:
                checks = Table(title="Checks (latest)", title_justify="left")
                for column in ("check", "severity", "result", "failing", "detail"):
                    checks.add_column(column, overflow="fold")
                for r in found.checks:
                    checks.add_row(
                        cell(r.check),
                        r.severity,
                        render.check_result(r.passed, r.severity),
                        f"{r.failing:,}",
                        cell(r.detail),
                    )
                console.print(checks)
        finally:
            ws.close()


def lineage(
    column: Annotated[str, typer.Argument(help="TABLE.COLUMN")],
    project: ProjectOption = Path(),
    up: Annotated[bool, typer.Option("--up", help="Only where it comes from.")] = False,
    down: Annotated[bool, typer.Option("--down", help="Only what it feeds.")] = False,
    format: Annotated[str, typer.Option("--format", "-f", help="text, svg or html.")] = "text",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File for svg/html; default: standard output."),
    ] = None,
) -> None:
    """Where a column comes from (down to source columns) and what it feeds (up to models)."""
    from rich.tree import Tree

    from weir.app import build_plan
    from weir.app.lineage import build_graph, parse_column

    with handled():
        ws = open_project_workspace(project)
        try:
            graph = build_graph(ws.project, ws.catalog, build_plan(ws.project))
            start = parse_column(column, graph)
            if format not in ("text", "svg", "html"):
                raise ConfigError(f"--format {format}: not a format", fix="use text, svg or html")
            if format != "text":
                from weir.app.lineage_draw import lineage_html, lineage_svg

                drawing = (
                    lineage_svg(graph, start)
                    if format == "svg"
                    else lineage_html(graph, start, ws.project.name)
                )
                if output is None:
                    typer.echo(drawing)
                else:
                    output.write_text(drawing, encoding="utf-8")
                    console.print(f"wrote {safe(output)}")
                return
            directions = (
                ["up"] if up and not down else ["down"] if down and not up else ["up", "down"]
            )
            for direction in directions:
                title = "comes from" if direction == "up" else "feeds"
                tree = Tree(f"[bold]{safe(start[0])}.{safe(start[1])}[/] {title}")
                branches = {0: tree}
                steps = graph.walk(start, direction)
                for depth, node in steps:
                    label = (
                        f"{safe(node[0])}.{safe(node[1])}"
                        if not node[0].startswith("model:")
                        else f"[bold]{safe(node[0])}[/] feature {safe(node[1])}"
                    )
                    if node in graph.notes:
                        label += f"  [yellow]({safe(graph.notes[node])})[/]"
                    if node in graph.unknown:
                        label += "  [red](lineage unknown)[/]"
                    branches[depth] = branches[depth - 1].add(label)
                if not steps:
                    note = graph.notes.get(start) if direction == "down" else None
                    tree.add(f"[dim]{'nothing' + (f' ({safe(note)})' if note else '')}[/]")
                console.print(tree)
        finally:
            ws.close()


def follow_logs(ws: Workspace, table: str | None = None) -> None:
    """Record in the catalog what the prediction logs in the lake hold and it does not yet
    (the log of `table`'s model if it is one; with no table, every log), and print what the
    user should know (a log moved into the lake, versions not recorded)."""
    from weir.app.prediction_log import model_of, record_prediction_log, record_prediction_logs

    if table is None:
        done = record_prediction_logs(ws)
    elif (model := model_of(table)) is not None:
        done = [record_prediction_log(ws, model, wait_seconds=10.0)]
    else:
        return
    for result in done:
        for note in result.notes:
            console.print(cell(f"prediction log: {note}"), style="yellow")


def answered_by_line(ws: Workspace, record: VersionRecord) -> str | None:
    """`weir show` of a prediction log version: the model versions whose answers it added."""
    from weir.app.prediction_log import KIND, answered_by, model_of

    model = model_of(record.table)
    if record.kind != KIND or model is None:
        return None
    # the catalog's links; after a rebuild (the registry is gone) the commits still say
    versions = [v for _, v in ws.catalog.answers_of(record.id)] or answered_by(ws, record)
    shown = ", ".join(f"v{v}" for v in versions) or "unknown versions"
    return f"answers of {model} {shown} (since the version recorded before it)"
