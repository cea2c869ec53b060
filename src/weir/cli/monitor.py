"""`weir monitor MODEL`: judge the windows that are due and show the verdicts; `--history`
shows what was judged before; `--report` writes the HTML report from what was judged."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from weir.cli.common import ProjectOption, console, handled, open_project_workspace
from weir.cli.render import visible

if TYPE_CHECKING:
    from weir.app.monitoring import MonitorRun
    from weir.catalog import MonitorResultRecord

_STATUS = {"ok": "green", "bad": "bold red", "undecided": "yellow"}


def monitor(
    model: Annotated[
        str, typer.Argument(help="The model to watch (a key of monitor: in weir.yaml).")
    ],
    history: Annotated[
        bool, typer.Option("--history", help="Show recorded verdicts instead of judging.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="With --history: newest verdicts shown.")] = 30,
    report: Annotated[
        bool,
        typer.Option(
            "--report",
            help="Write the HTML monitoring report from the recorded verdicts, judging nothing.",
        ),
    ] = False,
    project: ProjectOption = Path(),
) -> None:
    """Judge the windows of MODEL's current data that are due (drift, performance), record
    the verdicts, raise or resolve alerts, show them, and write the HTML report."""
    from weir.app.monitor_lock import monitor_lock
    from weir.app.monitor_report import latest_path, report_from_catalog
    from weir.app.monitoring import monitor as run_monitor

    with handled():
        ws = open_project_workspace(project)
        try:
            if history:
                _show_history(ws.catalog.monitor_results(model, limit=limit))
                return
            if report:
                written = report_from_catalog(ws, model)
                for note in written.notes:
                    console.print(f"  note: {visible(note)}")
                console.print(f"report: {visible(ws.display_path(written.latest))}")
                return
            with monitor_lock(ws.project.workspace, model):
                done = run_monitor(ws, model, progress=lambda text: console.print(f"  {text}"))
            _show_run(done)
            if done.report is not None:
                latest = latest_path(ws.project.workspace, model)
                console.print(
                    f"report: {visible(ws.display_path(latest))} (this run's copy, which its "
                    f"verdicts and alerts link to: {visible(ws.display_path(done.report))})"
                )
        finally:
            ws.close()


def _show_run(done: MonitorRun) -> None:
    console.print(
        f"[bold]{visible(done.model)}[/] v{done.version}: {visible(done.current)} against "
        f"{visible(done.reference)}"
    )
    if not done.recorded:
        console.print("  nothing due: every closed window was judged before")
    for record in done.recorded:
        _show_result(record)
    for alert in done.alerts:
        style = "bold red" if alert.event == "opened" else "green"
        console.print(
            f"[{style}]alert {alert.event}[/]: {visible(alert.check)}: {visible(alert.summary)}"
        )
    if done.delivery is not None:
        for line in done.delivery.lines():
            console.print(f"  {visible(line)}")
    if done.rollback is not None and done.rollback.action not in ("off", "none"):
        style = "bold red" if done.rollback.rolled_back else "bold"
        console.print(
            f"[{style}]rollback check[/]: {done.rollback.action}: {visible(done.rollback.reason)}"
        )
    for note in done.notes:
        console.print(f"  note: {visible(note)}")


def _show_result(record: MonitorResultRecord) -> None:
    style = _STATUS.get(record.status, "")
    console.print(
        f"{record.check} [{style}]{record.status}[/] {visible(record.window.key)} "
        f"({record.window.rows} rows): {visible(record.summary)}"
    )
    if not record.measures:
        return
    table = Table("column / metric", "test", "statistic", "value", "threshold", "drifted / low?")
    for measure in record.measures:
        value = f"{measure.value:.4g}"
        if measure.low is not None and measure.high is not None:
            value += f" [{measure.low:.3g}, {measure.high:.3g}]"
        table.add_row(
            visible(measure.name),
            measure.test,
            measure.statistic,
            value,
            f"{measure.threshold:.4g}",
            "[bold red]yes[/]" if measure.bad else "no",
        )
    console.print(table)


def _show_history(records: list[MonitorResultRecord]) -> None:
    if not records:
        console.print("no verdicts recorded yet: run 'weir monitor MODEL'")
        return
    table = Table("judged", "check", "version", "window", "rows", "status", "summary")
    for record in records:
        style = _STATUS.get(record.status, "")
        table.add_row(
            f"{record.created_at:%Y-%m-%d %H:%M}",
            record.check,
            str(record.model_version or ""),
            visible(record.window.key),
            str(record.window.rows),
            f"[{style}]{record.status}[/]",
            visible(record.summary),
        )
    console.print(table)
