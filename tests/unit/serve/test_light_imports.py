"""Serving depends on the model registry and the ONNX runtime, not on the stages that build
tables: importing any module of weir.serve loads no ingest, quality or transform code
(the weir.app package loads every stage, so serve takes only types from it)."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import weir.serve

STAGES = ("weir.ingest", "weir.quality", "weir.transform")


def test_importing_serve_loads_no_ingest_quality_or_transform() -> None:
    modules = [m.name for m in pkgutil.walk_packages(weir.serve.__path__, "weir.serve.")]
    assert "weir.serve.app" in modules and "weir.serve.routes.predict" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('weir.'))))\n"
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
    loaded = json.loads(result.stdout)
    assert "weir.serve.app" in loaded
    assert [m for m in loaded if m.startswith(STAGES)] == []
