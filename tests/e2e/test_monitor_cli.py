"""`weir monitor` as a user runs it: the verdicts of the windows due, with the table of
tests; nothing due the second time; `--history`; mistakes answered without a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.e2e.conftest import Weir
from tests.integration.test_monitoring import (  # noqa: F401 (trained: a fixture)
    WINDOW,
    Receiver,
    _configure,
    _traffic,
    trained,
)

from weir.app import open_workspace
from weir.project import load_project

pytestmark = pytest.mark.e2e


def test_weir_monitor_judges_records_and_shows_history(
    weir: Weir,
    trained: Path,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
) -> None:
    root = tmp_path / "p"
    shutil.copytree(trained, root)
    hook = Receiver()
    try:
        _configure(root, hook)
        ws = open_workspace(load_project(root))
        try:
            _traffic(ws, 0.0, 0.0, 0, WINDOW)
            _traffic(ws, 1.5, 0.0, WINDOW, WINDOW)
        finally:
            ws.close()
        first = weir("monitor", "quick", "-p", str(root)).stdout
        assert f"drift ok rows 0-{WINDOW - 1}" in first
        assert f"drift bad rows {WINDOW}-{2 * WINDOW - 1}" in first
        assert "wasserstein_iqr" in first and "yes" in first  # the table of tests
        assert "alert opened: quick/drift" in first
        assert "training rows of v1" in first
        assert "report: .weir/reports/monitor/quick.html (this run's copy" in first
        again = weir("monitor", "quick", "-p", str(root)).stdout
        assert "nothing due" in again and "alert opened" not in again
        history = weir("monitor", "quick", "--history", "-p", str(root)).stdout
        lines = history.splitlines()
        assert len([line for line in lines if "│ drift" in line and "rows" in line]) == 2
        assert any("│ performance" in line for line in lines)
        assert len([b for b in hook.bodies if b.get("event") == "opened"]) >= 1
    finally:
        hook.close()

    unknown = weir("monitor", "quik", "-p", str(root), check=False)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr + unknown.stdout
    assert "no monitor: section" in unknown.stderr + unknown.stdout
