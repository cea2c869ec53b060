"""Column names that are Weir's own: `__weir_reject`, `__weir_raw`, `__weir_file` carry a
row's quarantine reason, its text and its file through the splitter.

A file whose header named one had its rows quarantined with a reason it wrote itself and
the columns dropped without a word; a model with one crashed its quarantine rules. Names
starting with `__weir` are Weir's: a source or model that delivers one is refused, naming it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.core.errors import SourceRefusedError
from weir.ingest.names import check_names


@pytest.mark.parametrize("name", ["__weir_reject", "__weir_raw", "__weir_file", "__WEIR_x"])
def test_a_reserved_name_is_refused_naming_it(name: str) -> None:
    with pytest.raises(SourceRefusedError) as caught:
        check_names(["id", name], "keep", "a", "a.csv header")
    assert f"'{name}'" in caught.value.message and "reserve" in caught.value.message


def test_a_name_that_normalises_into_the_reserved_prefix_is_refused() -> None:
    with pytest.raises(SourceRefusedError):
        check_names(["id", "__Weir Reject"], "lower", "a", "a.csv header")


def _run(root: Path) -> dict[str, str]:
    from weir.app import open_workspace, run_project
    from weir.project import load_project

    ws = open_workspace(load_project(root))
    try:
        result = run_project(ws)
        return {r.step.name: r.error or r.status for r in result.reports}
    finally:
        ws.close()


def test_a_file_with_a_reserved_column_commits_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,__weir_reject,__weir_raw\n1,forged reason,x\n2,,\n")
    (tmp_path / "weir.yaml").write_text("name: p\nsources:\n  a: {format: csv, path: a.csv}\n")
    errors = _run(tmp_path)
    assert "'__weir_reject'" in errors["source:a"], errors
    assert not (tmp_path / ".weir" / "lake" / "a").exists()


def test_a_model_with_a_reserved_column_and_quarantine_rules_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "b.csv").write_text("id\n1\n2\n")
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "m.sql").write_text("SELECT id, 'boom' AS __weir_reject FROM b\n")
    (tmp_path / "weir.yaml").write_text(
        "name: p\nsources:\n  b: {format: csv, path: b.csv}\n"
        "checks:\n  m:\n    - {rule: not_null, columns: [id], severity: quarantine}\n"
    )
    errors = _run(tmp_path)
    assert "'__weir_reject'" in errors["sql:m"] and "unexpected" not in errors["sql:m"], errors
