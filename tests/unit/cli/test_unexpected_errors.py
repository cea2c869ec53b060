"""An error Weir did not expect: one masked line (a masked traceback with --debug), exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from weir.cli import common
from weir.cli.common import ProjectOption, handled

SECRET = "s3cr3t-Pa55@/#"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def boom(project: ProjectOption = Path()) -> None:
        with handled():
            # a driver's message quoting the password it was given, as some do
            raise RuntimeError(f"connection to db failed for password {SECRET}")

    @app.command()
    def other() -> None:  # a second command, so typer keeps the command names
        pass

    return app


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    (tmp_path / "weir.yaml").write_text(
        "name: t\n"
        "sources:\n"
        "  crm:\n"
        "    kind: sql\n"
        "    url: postgresql://weir:${DB_PASSWORD}@127.0.0.1:5432/crm\n"
        "    table: customers\n"
    )
    return tmp_path


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_is_one_line_without_the_projects_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debug: bool
) -> None:
    project = _project(tmp_path, monkeypatch)
    monkeypatch.setattr(common.debug, "enabled", debug)
    result = CliRunner().invoke(_app(), ["boom", "--project", str(project)])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 1
    assert "unexpected RuntimeError" in output
    assert SECRET not in output and "s3cr3t" not in output
    assert ("Traceback" in output) == debug  # the traceback only when asked for
