"""Schemathesis against the running server's own OpenAPI document: no request gets a 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.e2e.test_learn_cli import write_project
from tests.e2e.test_serve import Server

pytestmark = pytest.mark.e2e


def test_no_generated_request_makes_the_server_fail(tmp_path: Path) -> None:
    root = tmp_path / "houses"
    write_project(root, rows=300)
    text = (
        (root / "weir.yaml")
        .read_text()
        .replace("categorical: [district]", "categorical: {district: {unknown: error}}")
    )
    (root / "weir.yaml").write_text(
        text.replace("mlflow:\n  tracking_uri: sqlite:///" + str(root / "mlflow.db") + "\n", "")
    )
    for args in (["train", "quick"], ["models", "promote", "quick@1"]):
        subprocess.run(
            [sys.executable, "-m", "weir", *args],
            cwd=root,
            check=True,
            capture_output=True,
            timeout=600,
        )
    server = Server(root, "quick")
    try:
        # the API first, then the admin endpoints: fuzzing those may archive the served
        # version, after which /ready rightly answers 503
        runs = [
            fuzz(server.port, tmp_path, "--exclude-path-regex", "^/admin"),
            fuzz(server.port, tmp_path, "--include-path-regex", "^/admin"),
        ]
    finally:
        server.stop()
    for run in runs:
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Selected: 6/8" in runs[0].stdout and "Selected: 2/8" in runs[1].stdout


def fuzz(port: int, scratch: Path, *selection: str) -> subprocess.CompletedProcess[str]:
    """Run from a scratch folder: schemathesis keeps a crash cache (.schemathesis/) in its
    working directory, which was the checkout."""
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"http://127.0.0.1:{port}/openapi.json",
        *selection,
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "40",
        "--seed",
        "1",
        "--no-color",
    ]
    return subprocess.run(
        command, cwd=scratch, capture_output=True, text=True, timeout=600, check=False
    )
