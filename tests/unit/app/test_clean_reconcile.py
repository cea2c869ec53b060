"""A clean step whose counts do not add up commits nothing: the check runs on the rows as
they stream to the writer, before the Delta commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.quality.cleaning import Chain, StageReport


def test_a_clean_step_that_does_not_reconcile_commits_no_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weir.app import open_workspace, run_project
    from weir.project import load_project

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.csv").write_text("id,v\n1,a\n2,\n3,c\n")
    (tmp_path / "weir.yaml").write_text(
        "name: p\nsources:\n  t: {format: csv, path: data/t.csv, columns: {id: int64, v: string}}\n"
        "clean:\n  t:\n    rules:\n      - {rule: drop_missing, columns: [v]}\n"
    )
    ws = open_workspace(load_project(tmp_path))
    try:
        first = run_project(ws)
        assert all(r.status == "succeeded" for r in first.reports), first.reports
        before = ws.lake.latest_version("clean_t")
        recorded = ws.catalog.current_version("clean_t")
        assert before is not None and recorded is not None

        counted = Chain.count

        def miscounted(chain: Chain) -> list[StageReport]:
            reports = counted(chain)
            reports[0].removed_rows += 1  # a rule that says it removed a row it kept
            return reports

        monkeypatch.setattr(Chain, "count", miscounted)
        (tmp_path / "data" / "t.csv").write_text("id,v\n1,a\n2,\n3,c\n4,d\n")
        second = run_project(ws)
        [failed] = [r for r in second.reports if r.status == "failed"]
        assert "does not reconcile" in (failed.error or "")
        assert "nothing was committed" in (failed.error or "")
        assert ws.lake.latest_version("clean_t") == before  # no new version in the lake
        current = ws.catalog.current_version("clean_t")
        assert current is not None and current.version == recorded.version
    finally:
        ws.close()
