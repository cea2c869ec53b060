"""`weir run` on sources, as a user sees it: summary per source, --quiet, plain log lines."""

from __future__ import annotations

from pathlib import Path

import yaml
from tests.e2e.conftest import Weir


def project(root: Path) -> Path:
    root.mkdir()
    (root / "in.csv").write_text("id,v\n1,10\n2,x\n3,30\n")
    config = {
        "name": "t",
        "sources": {
            "raw": {"format": "csv", "path": "in.csv", "columns": {"id": "int64", "v": "int64"}}
        },
    }
    (root / "weir.yaml").write_text(yaml.safe_dump(config))
    return root


def test_the_summary_names_rows_in_quarantined_and_version(weir: Weir, tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    result = weir("run", cwd=root)
    assert "2 rows in, 1 quarantined -> raw@0" in result.stdout
    summary = result.stdout[result.stdout.index("Sources") :]
    assert "raw" in summary and "raw@0" in summary
    # off a terminal the run logs plain, time-stamped lines instead of a spinner
    assert "started source:raw" in result.stdout


def test_quiet_prints_only_failures_and_the_summary(weir: Weir, tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    result = weir("run", "--quiet", cwd=root)
    assert "started" not in result.stdout and "source:raw" not in result.stdout
    assert "1 succeeded" in result.stdout
    (root / "in.csv").write_text("")
    failed = weir("run", "-q", cwd=root, check=False)
    assert failed.returncode == 1
    assert "failed source:raw" in " ".join(failed.stdout.split()) and "is empty" in failed.stdout
