"""What every command shares: the consoles, how errors are shown, opening a workspace."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console

from weir.cli.render import safe
from weir.core.errors import ConfigError, WeirError
from weir.core.secrets import Secrets


def _width() -> int | None:
    """Rich assumes 80 columns off a terminal; logs and CI read better wider."""
    if sys.stdout.isatty():
        return None
    return int(os.environ.get("COLUMNS", "140"))


# emoji=False: a ':skull:' in data is printed as written, not as a picture
console = Console(highlight=False, emoji=False, width=_width())
errors = Console(stderr=True, highlight=False, emoji=False, width=_width())

ProjectOption = Annotated[
    Path,
    typer.Option(
        "--project", "-p", help="Project directory (or its weir.yaml).", show_default=False
    ),
]


@contextmanager
def handled() -> Iterator[None]:
    """Turn WeirError into a clear message and exit code: 2 for config, 1 for the rest."""
    try:
        yield
    except WeirError as exc:
        # messages quote values, names and paths from data: shown, never read as markup;
        # and they may quote a URL or a setting: shown without the project's secrets
        message, fix = masked(exc.message), masked(exc.fix or "")
        errors.print(f"[bold red]error:[/] {safe(message, lines=True)}", soft_wrap=True)
        if fix:
            errors.print(f"[yellow]fix:[/] {safe(fix, lines=True)}", soft_wrap=True)
        raise typer.Exit(2 if isinstance(exc, ConfigError) else 1) from None


def masked(text: str) -> str:
    """`text` fit for the terminal: without a secret of the project the command was given
    (every form of each, see weir.core.secrets) or any credential found by its place (a
    URL's password, `?token=`, `password=`, `Authorization:`). Every error a command prints
    goes through here, those met outside a run too (loading the project, opening the
    catalog), and so must a traceback shown for debugging."""
    return command_secrets().redact(text)


def masked_traceback(error: BaseException) -> str:
    """The traceback of an error Weir did not expect, for `--debug`: code and exception
    messages (never local variables), masked as every other error is."""
    import traceback

    return masked("".join(traceback.format_exception(error)))


def command_secrets() -> Secrets:
    """The secrets of the project the running command was pointed at (`--project`, or the
    current directory), or none when there is none or its file does not load (the loader
    then shows no value taken from the environment)."""
    context = click.get_current_context(silent=True)
    while context is not None and not isinstance(context.params.get("project"), Path):
        context = context.parent
    if context is None:
        return Secrets()
    from weir.project import load_project
    from weir.project.secrets import project_secrets

    try:
        return project_secrets(load_project(context.params["project"]).config)
    except WeirError:
        return Secrets()


def open_project_workspace(project: Path) -> Any:
    from weir.app import open_workspace
    from weir.project import load_project

    return open_workspace(load_project(project))


def table_ref(text: str) -> tuple[str, int | None]:
    """TABLE or TABLE@VERSION."""
    name, _, wanted = text.partition("@")
    if wanted and not wanted.isdigit():
        raise ConfigError(f"'{text}': the version after @ must be a number", fix="e.g. orders@3")
    return name, int(wanted) if wanted else None
