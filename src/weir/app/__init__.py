"""Wiring: the only place where concrete engine, lake, catalog and stages meet."""

from weir.app.plan import Plan, build_plan
from weir.app.run import RunResult, run_project
from weir.app.workspace import RunInProgressError, Workspace, open_workspace

__all__ = [
    "Plan",
    "RunInProgressError",
    "RunResult",
    "Workspace",
    "build_plan",
    "open_workspace",
    "run_project",
]
