"""`weir retrain` as a user runs it: not due, a dry run, a challenger refused for want of a
margin, one that cannot train, and mistakes named without a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.e2e.conftest import Weir

pytestmark = pytest.mark.e2e

PROJECT = """\
name: shop
sources:
  sales:
    format: csv
    path: sales.csv
    columns: {id: int64, v: float64, city: string, label: int64}
ml:
  quick:
    table: sales
    target: label
    task: classification
    features: {numeric: [v], categorical: [city]}
    algorithm: logistic_regression
monitor:
  quick:
    retrain: {margin: 0.05, min_rows: 40}
"""


def _project(root: Path) -> None:
    rng = np.random.default_rng(5)
    lines = [
        f"{i},{v:.5f},{('lyon', 'nice')[i % 2]},{int(v + rng.normal(scale=0.3) > 0)}"
        for i, v in enumerate(rng.normal(size=400))
    ]
    (root / "weir.yaml").write_text(PROJECT)
    (root / "sales.csv").write_text("id,v,city,label\n" + "\n".join(lines) + "\n")


def test_retrain_as_a_user_runs_it(weir: Weir, tmp_path: Path) -> None:
    _project(tmp_path)
    weir("run")
    weir("models", "promote", "quick@1", "--reason", "first deployment")

    idle = weir("retrain", "quick")
    assert (
        "quick: champion v1; not due: no open drift incident; no open performance incident"
        in idle.stdout
    )
    assert "nothing trained (--force retrains anyway)" in idle.stdout

    planned = weir("retrain", "quick", "--force", "--dry-run")
    assert "due: --force" in planned.stdout
    assert "dry run: would train a challenger with these steps; nothing changed" in planned.stdout
    assert "planned train:quick" in " ".join(planned.stdout.split())
    assert "v2" not in weir("models", "quick").stdout

    refused = weir("retrain", "quick", "--force").stdout
    assert "challenger v2 in staging" in refused
    assert "compared on roc_auc:" in refused
    assert "held-out  80 rows" in refused
    assert "recent    0 rows; cannot decide: 0 rows, needs 40 (retrain.min_rows)" in refused
    assert "margin       failed" in refused and "onnx parity  passed" in refused
    assert "refused v2: margin: on the held-out rows (80)" in refused
    history = weir("monitor", "quick", "--history").stdout
    assert "retrain" in history and "refused v2" in history
    stages = weir("models", "history", "quick").stdout
    assert "challenger of v1, trained by a retrain" in " ".join(stages.split())

    (tmp_path / "sales.csv").write_text("id,v,city,label\n1,0.5,lyon,1\n")
    failed = weir("retrain", "quick", "--force", check=False)
    assert failed.returncode == 1
    assert "no challenger" in failed.stdout and "v1 stays in production" in failed.stdout


def test_retrain_mistakes_are_named_without_a_traceback(weir: Weir, tmp_path: Path) -> None:
    _project(tmp_path)
    unknown = weir("retrain", "quik", check=False)
    assert unknown.returncode == 2
    assert "error: model 'quik' has no monitor: section" in unknown.stderr
    assert "did you mean 'quick'" in unknown.stderr and "Traceback" not in unknown.stderr

    (tmp_path / "weir.yaml").write_text(
        PROJECT.replace("    retrain: {margin: 0.05, min_rows: 40}\n", "    drift: {}\n")
    )
    bare = weir("retrain", "quick", check=False)
    assert bare.returncode == 2 and "monitor.quick has no retrain: section" in bare.stderr
    assert "fix: add 'retrain: {}' under monitor.quick" in bare.stderr

    (tmp_path / "weir.yaml").write_text(PROJECT)
    weir("run")
    unpromoted = weir("retrain", "quick", "--force", check=False)
    assert unpromoted.returncode == 1 and "Traceback" not in unpromoted.stderr
    assert "quick has no version in production" in unpromoted.stderr
    assert "fix: promote one: weir models promote quick@1" in unpromoted.stderr
