"""What every command shares: the consoles, how errors are shown, opening a workspace."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from weir.cli.render import safe
from weir.core.errors import ConfigError, WeirError


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
        if debug.enabled:
            errors.print_exception()
        # messages quote values, names and paths from data: shown, never read as markup
        errors.print(f"[bold red]error:[/] {safe(exc.message, lines=True)}", soft_wrap=True)
        if exc.fix:
            errors.print(f"[yellow]fix:[/] {safe(exc.fix, lines=True)}", soft_wrap=True)
        raise typer.Exit(2 if isinstance(exc, ConfigError) else 1) from None


def unexpected(error: BaseException) -> None:
    """An error no Weir code expected: one line and how to get the traceback (with --debug,
    the traceback itself)."""
    if debug.enabled:
        import traceback

        errors.print("".join(traceback.format_exception(error)), markup=False, end="")
    text = " ".join(str(error).split())
    errors.print("[bold red]error:[/] ", end="")
    errors.print(f"unexpected {type(error).__name__}: {text[:500]}", markup=False, soft_wrap=True)
    errors.print(
        "[yellow]fix:[/] run again with --debug for the traceback; if it repeats, report it with that",
        soft_wrap=True,
    )


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
