"""What every command shares: the consoles, how errors are shown, opening a workspace."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from weir.cli.render import safe
from weir.core.errors import ConfigError, WeirError
from weir.core.secrets import Secrets

if TYPE_CHECKING:
    from weir.app import Workspace


def _width() -> int | None:
    """Rich assumes 80 columns off a terminal; logs and CI read better wider."""
    if sys.stdout.isatty():
        return None
    return int(os.environ.get("COLUMNS", "140"))


# emoji=False: a ':skull:' in data is printed as written, not as a picture
console = Console(highlight=False, emoji=False, width=_width())
errors = Console(stderr=True, highlight=False, emoji=False, width=_width())


class _Debug:
    """`weir --debug ...` (or WEIR_DEBUG=1): tracebacks are shown; otherwise never."""

    enabled = os.environ.get("WEIR_DEBUG", "") not in ("", "0")


debug = _Debug()

_project: ContextVar[Path | None] = ContextVar("weir_cli_project", default=None)


def _remember_project(value: Path) -> Path:
    """The --project of the running command, kept so that any error it ends in can be shown
    without that project's secrets (`command_secrets`), even after the command has left."""
    _project.set(value)
    return value


ProjectOption = Annotated[
    Path,
    typer.Option(
        "--project",
        "-p",
        help="Project directory (or its weir.yaml).",
        show_default=False,
        callback=_remember_project,
    ),
]


@contextmanager
def handled() -> Iterator[None]:
    """Turn WeirError into a clear message and exit code: 2 for config, 1 for the rest; an
    error Weir did not expect is one line (the traceback with --debug), exit 1."""
    try:
        yield
    except WeirError as exc:
        # messages quote values, names and paths from data: shown, never read as markup;
        # and they may quote a URL or a setting: shown without the project's secrets
        if debug.enabled:
            errors.print(masked_traceback(exc), markup=False, end="")
        message, fix = masked(exc.message), masked(exc.fix or "")
        errors.print(f"[bold red]error:[/] {safe(message, lines=True)}", soft_wrap=True)
        if fix:
            errors.print(f"[yellow]fix:[/] {safe(fix, lines=True)}", soft_wrap=True)
        raise typer.Exit(2 if isinstance(exc, ConfigError) else 1) from None
    except (KeyboardInterrupt, SystemExit, typer.Exit, typer.Abort):
        raise
    except BaseException as exc:  # a library's panic (pyo3's PanicException) included
        # shown here, where the command's project (and so its secrets) is still known
        unexpected(exc)
        raise typer.Exit(1) from None


def unexpected(error: BaseException) -> None:
    """An error no Weir code expected: one line and how to get the traceback (with --debug,
    the traceback itself), both masked as every other error is."""
    if debug.enabled:
        errors.print(masked_traceback(error), markup=False, end="")
    text = masked(" ".join(str(error).split()))
    errors.print("[bold red]error:[/] ", end="")
    errors.print(f"unexpected {type(error).__name__}: {text[:500]}", markup=False, soft_wrap=True)
    errors.print(
        "[yellow]fix:[/] run again with --debug for the traceback; if it repeats, report it with that",
        soft_wrap=True,
    )


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
    project = _project.get()
    if project is None:
        return Secrets()
    from weir.project import load_project
    from weir.project.secrets import project_secrets

    try:
        return project_secrets(load_project(project).config)
    except WeirError:
        return Secrets()


def open_project_workspace(project: Path) -> Workspace:
    from weir.app import open_workspace
    from weir.project import load_project

    return open_workspace(load_project(project))


def table_ref(text: str) -> tuple[str, int | None]:
    """TABLE or TABLE@VERSION."""
    name, _, wanted = text.partition("@")
    if wanted and not wanted.isdigit():
        raise ConfigError(f"'{text}': the version after @ must be a number", fix="e.g. orders@3")
    return name, int(wanted) if wanted else None
