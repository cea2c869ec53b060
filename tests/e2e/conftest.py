from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Weir = Callable[..., subprocess.CompletedProcess[str]]


def run_weir(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the weir command in a subprocess, as a user would; returns the finished process."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "weir", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"weir {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture
def weir(tmp_path: Path) -> Weir:
    """`run_weir`, in the test's tmp_path unless told another folder."""

    def run(
        *args: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_weir(*args, cwd=cwd or tmp_path, check=check)

    return run


@pytest.fixture(scope="session")
def built_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`weir init shop` then `weir run`, once per test process. Tests that damage or extend a
    built project take a copy (`shop`); building it for each was two CLI calls per test."""
    root = tmp_path_factory.mktemp("built")
    run_weir("init", "shop", cwd=root)
    first = run_weir("run", cwd=root / "shop")
    assert "run 1: 5 succeeded" in first.stdout, first.stdout
    return root / "shop"


@pytest.fixture
def shop(built_shop: Path, tmp_path: Path) -> Path:
    """A copy of the built shop project of this test's own: its catalog holds one run (run 1),
    its lake the tables that run wrote."""
    return copy_project(built_shop, tmp_path / "shop")


@pytest.fixture(scope="session")
def served_houses(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The houses project of test_learn_cli (600 rows, no MLflow) with its models `quick` and
    `price` trained and in production, and settings for `weir serve`; built once per test
    process for the modules that serve or score with it, each of which takes a copy."""
    from tests.e2e.test_learn_cli import write_project  # a test module: not at import time

    root = tmp_path_factory.mktemp("served") / "houses"
    write_project(root, rows=600, mlflow=False)
    text = (root / "weir.yaml").read_text()
    text = text.replace("categorical: [district]", "categorical: {district: {unknown: error}}")
    text += "serve:\n  reload_seconds: 0.3\n  max_batch: 50\n  log: {flush_rows: 1000, flush_seconds: 0.3}\n"
    (root / "weir.yaml").write_text(text)
    run_weir("train", cwd=root)
    run_weir("models", "promote", "quick@1", cwd=root)
    run_weir("models", "promote", "price@1", cwd=root)
    return root


def copy_project(built: Path, project: Path) -> Path:
    """A copy of a project built once for several tests, refused if any file in it names the
    original's folder: a test would then change the original (or read it), not its copy."""
    shutil.copytree(built, project, symlinks=True)
    original = str(built).encode()
    for path in project.rglob("*"):
        assert not path.is_file() or original not in path.read_bytes(), f"{path} names {built}"
    return project


def statuses(output: str) -> dict[str, str]:
    """step name -> status, from `weir run` output lines."""
    found = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("succeeded", "skipped", "failed", "blocked", "planned"):
            found[parts[1]] = parts[0]
    return found
