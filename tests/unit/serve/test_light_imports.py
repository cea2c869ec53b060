"""Serving depends on the model registry and the ONNX runtime, not on the stages that build
tables: importing any module of weir.serve loads no ingest, quality or transform code
(the weir.app package loads every stage, so serve takes only types from it), and no
training library: the server runs the ONNX graph, so scikit-learn (about a second to
import, scipy with it) has no business in its process."""

from __future__ import annotations

import functools
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import weir.serve

STAGES = ("weir.ingest", "weir.quality", "weir.transform")
TRAINING = ("sklearn", "scipy", "lightgbm", "optuna", "skl2onnx", "onnxmltools")


@functools.cache
def loaded_by_serve() -> tuple[str, ...]:
    """Every module a fresh interpreter holds after importing each module of weir.serve."""
    modules = [m.name for m in pkgutil.walk_packages(weir.serve.__path__, "weir.serve.")]
    assert "weir.serve.app" in modules and "weir.serve.routes.predict" in modules
    assert "weir.serve.run" in modules  # the entry point `weir serve` starts
    return loaded_by_importing(tuple(modules))


@functools.cache
def loaded_by_importing(modules: tuple[str, ...]) -> tuple[str, ...]:
    """Every module a fresh interpreter holds after importing `modules`."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    source = str(Path(weir.serve.__file__).parents[2])  # a fresh interpreter, this weir
    path = os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        check=True,
        timeout=120,
    )
    loaded = tuple(json.loads(result.stdout))
    assert set(modules) <= set(loaded)
    return loaded


def test_importing_serve_loads_no_ingest_quality_or_transform() -> None:
    assert [m for m in loaded_by_serve() if m.startswith(STAGES)] == []


def test_importing_serve_loads_no_training_library() -> None:
    found = {m.partition(".")[0] for m in loaded_by_serve()}
    assert sorted(found.intersection(TRAINING)) == []


def test_the_serve_command_loads_no_training_library() -> None:
    """What `weir serve` imports before it serves: the CLI, the app package (the workspace)
    and the server."""
    command = ("weir.cli.main", "weir.cli.deploy", "weir.app", "weir.serve.run", "weir.serve.app")
    found = {m.partition(".")[0] for m in loaded_by_importing(command)}
    assert sorted(found.intersection(TRAINING)) == []
