"""`weir run` tells where every line of a CSV went, as a user sees it."""

from __future__ import annotations

from pathlib import Path

import yaml
from tests.e2e.conftest import Weir


def test_the_run_summary_accounts_for_every_line(weir: Weir, tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "in.csv").write_text(
        'id,note\n1,"two\nlines"\n2,"never closed\n\n3,ok\n4,x,extra\n5,ok\n'
    )
    config = {
        "name": "t",
        "sources": {
            "raw": {"format": "csv", "path": "in.csv", "columns": {"id": "int64", "note": "string"}}
        },
    }
    (root / "weir.yaml").write_text(yaml.safe_dump(config))
    result = weir("run", cwd=root)
    out = " ".join(result.stdout.split())
    assert "3 rows in, 2 quarantined -> raw@0" in out
    assert (
        "lines: 8 read = 1 header + 3 rows in + 2 quarantined + 1 empty + 1 inside quoted fields"
        in out
    )
    assert "read again line by line (in.csv line 4:" in out
    footer = out[out.index("Sources") :]
    assert "lines read" in footer and " 8 " in footer
