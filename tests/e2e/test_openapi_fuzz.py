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
        fuzz = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"http://127.0.0.1:{server.port}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "40",
                "--seed",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        server.stop()
    assert fuzz.returncode == 0, fuzz.stdout[-4000:] + fuzz.stderr[-2000:]
    assert "/predict" in fuzz.stdout
