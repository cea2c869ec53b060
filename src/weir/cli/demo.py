"""`weir demo`: data, project, run, and the summary a newcomer wants to see."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from weir.cli import render


def prepare_demo(console: Console, directory: Path, rows: int, seed: int) -> None:
    """Generate data unless the same rows and seed are already there; write the project."""
    from weir.demo import generate, write_demo_project

    data_dir = directory / "data"
    marker = data_dir / ".generated.json"
    wanted = {"rows": rows, "seed": seed}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        console.print(f"demo data in {render.safe(data_dir)} is current (rows={rows}, seed={seed})")
    else:
        with console.status(f"generating {rows:,} transactions (seed {seed}) ..."):
            data = generate(data_dir, rows=rows, seed=seed)
        marker.write_text(json.dumps(wanted))
        console.print(
            f"generated {data.customer_rows:,} customers and {data.transaction_rows:,} transaction lines "
            f"({data.duplicate_rows} re-sent duplicates, {data.malformed_lines} malformed lines) in {render.safe(data_dir)}"
        )
    write_demo_project(directory)
    console.print(f"demo project: {render.safe(directory.resolve() / 'weir.yaml')}\n")


def summarise(console: Console, directory: Path) -> None:
    from weir.app import open_workspace
    from weir.app.kinds import TableSummary, stored_summary
    from weir.project import load_project

    project = load_project(directory)
    ws = open_workspace(project)
    try:
        console.print()
        console.print(render.tables_table(ws.catalog.tables()))
        checks = Table(title="Checks (latest)", title_justify="left")
        for column in ("table", "passed", "warned", "quarantined rows", "failed", "notes"):
            checks.add_column(column)
        for table in project.config.checks:
            results = ws.catalog.latest_checks(table)
            passed = sum(r.passed for r in results)
            warned = [r for r in results if not r.passed and r.severity == "warn"]
            failed = [r for r in results if not r.passed and r.severity == "error"]
            diverted = [r for r in results if not r.passed and r.severity == "quarantine"]
            notes = "; ".join(f"{r.check}: {r.detail}" for r in warned + diverted + failed)
            quarantined = sum(r.failing for r in diverted)
            checks.add_row(
                table, str(passed), str(len(warned)), f"{quarantined:,}", str(len(failed)), notes
            )
        console.print(checks)
        cleaning = Table(
            title="Cleaning and governance (last run of each clean step)", title_justify="left"
        )
        for column in ("table", "rule", "rows removed", "values changed", "details"):
            cleaning.add_column(column, overflow="fold")
        for raw, target in project.cleaned_tables().items():
            record = ws.catalog.last_success(f"clean:{raw}")
            summary = stored_summary(record.kind, record.summary) if record else None
            rules = summary.rules if isinstance(summary, TableSummary) else None
            for rule in rules or ():
                details = ", ".join(f"{k}: {v}" for k, v in rule.stats.items())
                cleaning.add_row(
                    f"{raw} -> {target}",
                    rule.label,
                    f"{rule.removed_rows:,}",
                    f"{rule.changed_values:,}",
                    details,
                )
        console.print(cleaning)
        versions = ws.catalog.model_versions()
        console.print(render.models_table(versions))
        latest = {record.model: record for record in versions}
        for version in latest.values():
            report = version.details.report
            if report:
                path = ws.artifacts.resolve(report.path)
                console.print(
                    f"report of {version.model} v{version.version}: {path}", soft_wrap=True
                )
        console.print("\n".join(render.where_lines(ws)))
        console.print(
            "\nexplore: weir tables | weir show transactions__quarantine | weir runs | "
            f"weir models fraud | weir train --reproduce fraud@1   (add -p {directory})"
        )
    finally:
        ws.close()


def serve_sample(console: Console, directory: Path, model: str = "fraud", count: int = 3) -> None:
    """Promote the latest version if none is in production, serve it, answer a few real
    requests (the latest transactions), and shut down."""
    from weir.app import open_workspace
    from weir.project import load_project
    from weir.serve.run import BackgroundServer

    ws = open_workspace(load_project(directory))
    try:
        if ws.catalog.in_stage(model, "production") is None:
            latest = ws.catalog.model_version(model)
            ws.catalog.set_stage(
                model, latest.version, "production", "the demo serves its first model"
            )
        record = ws.catalog.in_stage(model, "production")
        assert record is not None
        onnx, serving = record.details.onnx, record.serving_spec()
        assert onnx is not None  # a version with a serving spec has its graph's record
        console.print(
            f"\n[bold]Serving {model} v{record.version}[/] (ONNX, parity with scikit-learn: max difference "
            f"{onnx.parity.max_difference:.1e} on {onnx.parity.rows:,} test rows)"
        )
        inputs = list(serving.inputs)
        table = record.trained_on[0].partition("@")[0]
        current = ws.catalog.version(table)
        latest_rows = ws.lake.read(table, current.version, [*inputs, "is_fraud"])
        # a SQL model's rows come in no fixed order (DuckDB's threads): sorted, and taken
        # evenly spaced, the same ordinary rows are sent on every machine
        ordered = latest_rows.sort_by([(c, "ascending") for c in latest_rows.column_names])
        step = ordered.num_rows // (count + 1)
        sample = ordered.take([step * (i + 1) for i in range(count)]).to_pylist()
        with BackgroundServer(ws, model) as server:
            for row in sample:
                truth = row.pop("is_fraud")
                answer = server.post("/predict", row)
                console.print(
                    f"  POST /predict amount={row['amount']:.2f} channel={row['channel']} -> label {answer['label']} "
                    f"(p={answer['probability']:.3f}, actual {truth}) v{answer['version']}"
                )
            batch = server.post("/predict/batch", {"rows": sample})
            answers = batch["predictions"]
            assert isinstance(answers, list)
            console.print(f"  POST /predict/batch ({len(sample)} rows) -> {len(answers)} answers")
        from weir.app.prediction_log import log_table

        console.print(
            f"  server stopped; every answer is in the table {log_table(model)} "
            f"(weir show {log_table(model)})"
        )
    finally:
        ws.close()
