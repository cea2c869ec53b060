"""The layering of DESIGN.md and the public API are checked, not hoped for."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import weir

ROOT = Path(__file__).parents[2]


def test_import_layers_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a dev dependency; install with pip install -e '.[dev]'"
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout  # the layers, and no import cycles


def test_public_api_is_pinned() -> None:
    assert weir.__all__ == [
        "ConfigError",
        "NotFoundError",
        "Project",
        "RunResult",
        "StepError",
        "WeirError",
        "Workspace",
        "__version__",
        "build_plan",
        "load_project",
        "open_workspace",
        "run_project",
    ]
    for name in weir.__all__:
        assert getattr(weir, name) is not None


def test_every_subpackage_says_what_it_is_and_exports() -> None:
    import importlib

    for package in ROOT.joinpath("src", "weir").iterdir():
        if (package / "__init__.py").is_file():
            module = importlib.import_module(f"weir.{package.name}")
            assert module.__doc__, f"weir.{package.name} needs a one-line docstring"
            assert hasattr(module, "__all__"), f"weir.{package.name} needs __all__"
