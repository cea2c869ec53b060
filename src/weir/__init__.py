"""Weir: from raw data to a deployed, monitored model, reproducibly.

The public Python API. Everything else is internal and may change. Names are imported on
first use, so `import weir` (and the CLI's start-up) does not pay for scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from weir.core.errors import ConfigError, NotFoundError, StepError, WeirError
from weir.core.plugins import provide
from weir.core.version import __version__

if TYPE_CHECKING:
    from weir.app import RunResult, Workspace, build_plan, open_workspace, run_project
    from weir.project import Project, load_project

# The source kinds of weir.yaml beyond the three of weir.project are registered by the
# connectors (weir.ingest.connectors), a layer above the project file's; the project
# layer imports them when it meets a kind it does not hold (weir.core.plugins).
provide("weir.source_kinds", "weir.ingest.connectors")

_LAZY = {
    "RunResult": "weir.app",
    "Workspace": "weir.app",
    "build_plan": "weir.app",
    "open_workspace": "weir.app",
    "run_project": "weir.app",
    "Project": "weir.project",
    "load_project": "weir.project",
}

__all__ = [
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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'weir' has no attribute {name!r}")
