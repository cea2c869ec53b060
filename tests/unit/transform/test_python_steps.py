"""Python steps through the public API, on the starter project."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.app import build_plan, open_workspace, run_project
from weir.core import ConfigError
from weir.project import ProjectFileError, load_project, scaffold_project

STEP = """
import pyarrow as pa
import pyarrow.compute as pc
from helpers import LABEL


def rank(customer_totals: pa.Table) -> pa.Table:
    return customer_totals.append_column("label", pa.array([LABEL] * customer_totals.num_rows))


def pandas_rank(customer_totals):
    customer_totals["double"] = customer_totals["spend"] * 2
    return customer_totals


def polars_rank(customer_totals):
    import polars as pl

    return customer_totals.with_columns((pl.col("spend") * 3).alias("triple"))


def broken(customer_totals):
    values = {}
    return values["missing"]


def not_a_table(customer_totals):
    return 42
"""


def project(tmp_path: Path, function: str = "rank", fmt: str = "arrow") -> Path:
    scaffold_project(tmp_path)
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "rank.py").write_text(STEP)
    (tmp_path / "steps" / "helpers.py").write_text('LABEL = "v1"\n')
    with (tmp_path / "weir.yaml").open("a") as config:
        config.write(
            f"\nsteps:\n  ranked:\n    function: steps/rank.py:{function}\n    inputs: [customer_totals]\n"
            f"    format: {fmt}\n    lineage: {{spend: [customer_totals.spend]}}\n"
        )
    return tmp_path


def run(root: Path) -> dict[str, object]:
    ws = open_workspace(load_project(root))
    try:
        return {r.step.name: r for r in run_project(ws).reports}
    finally:
        ws.close()


@pytest.mark.parametrize(
    ("function", "fmt", "column"),
    [
        ("rank", "arrow", "label"),
        ("pandas_rank", "pandas", "double"),
        ("polars_rank", "polars", "triple"),
    ],
)
def test_each_format_makes_a_table(tmp_path: Path, function: str, fmt: str, column: str) -> None:
    root = project(tmp_path, function, fmt)
    reports = run(root)
    assert reports["python:ranked"].status == "succeeded", reports["python:ranked"].error  # type: ignore[attr-defined]
    ws = open_workspace(load_project(root))
    try:
        table = ws.lake.read("ranked", ws.catalog.version("ranked").version)
        assert column in table.schema.names and table.num_rows == 5
        assert [p.table for p in ws.catalog.parents(ws.catalog.version("ranked").id)] == [
            "customer_totals"
        ]
    finally:
        ws.close()


def test_editing_an_imported_project_module_reruns_the_step(tmp_path: Path) -> None:
    root = project(tmp_path)
    run(root)
    assert run(root)["python:ranked"].status == "skipped"  # type: ignore[attr-defined]
    (root / "steps" / "helpers.py").write_text('LABEL = "v2"\n')
    again = run(root)["python:ranked"]
    assert again.status == "succeeded" and again.reason == "code changed"  # type: ignore[attr-defined]


def test_errors_in_user_code_point_at_the_line(tmp_path: Path) -> None:
    report = run(project(tmp_path, "broken"))["python:ranked"]
    assert report.status == "failed"  # type: ignore[attr-defined]
    line = STEP.splitlines().index('    return values["missing"]') + 1
    assert "KeyError: 'missing'" in report.error and f"rank.py, line {line}" in report.error  # type: ignore[attr-defined,operator]


def test_a_non_table_result_is_refused(tmp_path: Path) -> None:
    report = run(project(tmp_path, "not_a_table"))["python:ranked"]
    assert "returned int, not a table" in (report.error or "")  # type: ignore[attr-defined]


def test_a_missing_function_suggests_one(tmp_path: Path) -> None:
    report = run(project(tmp_path, "rnak"))["python:ranked"]
    assert "did you mean 'rank'" in (report.error or "")  # type: ignore[attr-defined]


def test_declared_lineage_must_name_inputs_and_inputs_must_exist(tmp_path: Path) -> None:
    root = project(tmp_path)
    config = root / "weir.yaml"
    config.write_text(
        config.read_text().replace("inputs: [customer_totals]", "inputs: [customer_total]")
    )
    with pytest.raises(ProjectFileError) as info:
        load_project(root)
    assert "did you mean 'customer_totals'" in str(
        info.value
    ) and "steps.ranked.lineage.spend" in str(info.value)


def test_python_steps_cannot_read_raw_pii(tmp_path: Path) -> None:
    root = project(tmp_path)
    with (root / "weir.yaml").open("a") as config:
        config.write(
            "governance:\n  key: a-key-of-at-least-16-chars\n  columns:\n    customers.name: {class: pii.name, action: drop}\n"
        )
    config = root / "weir.yaml"
    config.write_text(
        config.read_text()
        .replace("inputs: [customer_totals]", "inputs: [customers]")
        .replace("{spend: [customer_totals.spend]}", "{}")
    )
    with pytest.raises(ConfigError, match="governed only in 'clean_customers'"):
        build_plan(load_project(root))
