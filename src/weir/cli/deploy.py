"""`weir serve`, `weir predict` and `weir api-key`: the model as a service and in batch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from weir.cli import render
from weir.cli.common import ProjectOption, console, handled, open_project_workspace

api_key_app = typer.Typer(
    help="API keys for weir serve (stored as SHA-256 hashes).", no_args_is_help=True
)


def serve(
    model: Annotated[
        str,
        typer.Argument(
            help="MODEL (its version in serve.stage, production by default) or MODEL@VERSION"
        ),
    ],
    host: Annotated[str | None, typer.Option(help="Default: serve.host (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default: serve.port (8080).")] = None,
    project: ProjectOption = Path(),
) -> None:
    """Serve a model's ONNX graph over HTTP: /predict, /predict/batch, /model, /health, /ready, /metrics."""
    from weir.serve.run import serve as run_server

    with handled():
        name, _, wanted = model.partition("@")
        ws = open_project_workspace(project)
        try:
            config = ws.project.config.serve
            what = f"{name}{'@' + wanted if wanted else ' (' + config.stage + ')'}"

            def announce(bound: str, at: int) -> None:
                where = f"[{bound}]" if ":" in bound else bound
                console.print(
                    f"serving {what} on http://{where}:{at}  (docs at /docs; Ctrl-C stops)",
                    markup=False,
                )

            run_server(
                ws,
                name,
                host=host,
                port=port,
                version=int(wanted) if wanted else None,
                announce=announce,
            )
        finally:
            ws.close()


def predict(
    model: Annotated[str, typer.Argument(help="MODEL (production, else latest) or MODEL@VERSION")],
    input: Annotated[
        str, typer.Option("--input", "-i", help="A table name, or a .parquet/.csv/.json file.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="A new table name, or a .parquet/.csv file.")
    ],
    batch_rows: Annotated[int, typer.Option(min=1, help="Rows per batch.")] = 65_536,
    project: ProjectOption = Path(),
) -> None:
    """Score a table or file in batches; write the rows with their predictions."""
    from weir.app.scoring import score

    with handled():
        ws = open_project_workspace(project)
        try:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("scoring", total=None)
                result = score(
                    ws,
                    model,
                    input,
                    output,
                    batch_rows=batch_rows,
                    progress=lambda rows: bar.update(task, description=f"scored {rows:,} rows"),
                )
        finally:
            ws.close()
    where = (
        f"table {result.output}@{result.output_version}"
        if result.output_version is not None
        else result.output
    )
    console.print(
        f"scored {result.rows:,} rows with {result.model} v{result.version} -> {where}",
        soft_wrap=True,
    )


@api_key_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Who uses the key, e.g. checkout-service.")],
    role: Annotated[str, typer.Option(help="predict or admin")] = "predict",
    project: ProjectOption = Path(),
) -> None:
    """Make a key; only its hash is stored. The key is printed once."""
    from weir.project import load_project
    from weir.serve.auth import add_key

    with handled():
        loaded = load_project(project)
        config = loaded.config.serve
        file = (
            loaded.root / config.api_keys_file
            if config.api_keys_file
            else loaded.workspace / "api_keys"
        )
        key = add_key(file, name, role)
    console.print(f"{name} ({role}): {key}", soft_wrap=True, markup=False)
    console.print(
        f"stored as a hash in {render.safe(file)}; send it as 'Authorization: Bearer KEY'"
    )
