"""A secret of the project never reaches the terminal, even from errors outside a run:
loading the project file, opening the catalog, planning.

Each case is a weir.yaml whose catalog or source URL holds the password from ${ENV}, in a
place where the error that follows quotes it: a password in the query string (SQLAlchemy
hides only the one before '@'), a URL SQLAlchemy cannot parse (echoed whole), a value the
project file refuses (quoted back by its validation).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PASSWORD = "Sup3r-S3cret-pw"


def weir(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1", "CATALOG_PW": PASSWORD}
    return subprocess.run(
        [sys.executable, "-m", "weir", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


CASES = {
    "password in the query": "catalog:\n  url: postgresql://postgres@127.0.0.1:1/db?password=${CATALOG_PW}\n",
    "unparseable catalog url": "catalog:\n  url: postgresql:/postgres:${CATALOG_PW}@127.0.0.1:1/db\n",
    "password in the user info": "catalog:\n  url: postgresql://postgres:${CATALOG_PW}@127.0.0.1:1/db\n",
    "refused value": "engine:\n  kind: ${CATALOG_PW}\n",
    "refused origin": (
        "sources:\n  api:\n    kind: http\n    url: https://api.example.com/items\n"
        "    bearer_token: ${CATALOG_PW}\n    allowed_origins: ['${CATALOG_PW}']\n"
    ),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", [("validate",), ("tables",), ("run",), ("runs",)])
def test_no_error_outside_a_run_shows_a_secret(
    tmp_path: Path, case: str, command: tuple[str, ...]
) -> None:
    (tmp_path / "weir.yaml").write_text("name: p\n" + CASES[case])
    result = weir(*command, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0 or command == ("validate",), output  # it opens no catalog
    assert PASSWORD not in output and PASSWORD[:8] not in output, output
    assert "Traceback" not in output


def test_a_debug_traceback_is_masked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `--debug` prints for an error Weir did not expect goes through the same mask."""
    from weir.cli import common

    monkeypatch.setenv("CATALOG_PW", PASSWORD)
    (tmp_path / "weir.yaml").write_text("name: p\n" + CASES["password in the user info"])
    # what the --project option's callback records for the command being run (a click
    # context made here by hand would not be the one typer runs commands in)
    monkeypatch.setattr(common, "_project", common.ContextVar("weir_cli_project", default=None))
    common._remember_project(tmp_path)
    try:
        raise RuntimeError(f"driver said: could not use {PASSWORD} for postgres")
    except RuntimeError as error:
        text = common.masked_traceback(error)
    assert "RuntimeError: driver said: could not use *** for postgres" in text
    assert "Traceback" in text and PASSWORD not in text
