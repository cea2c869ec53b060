"""How a source's step line reads."""

from __future__ import annotations

from rich.text import Text

from weir.app.kinds import SourceSummary
from weir.cli.render import step_line
from weir.dag import Step
from weir.dag.runner import StepReport


def test_an_unchanged_load_says_so_and_not_zero_rows_in() -> None:
    summary = SourceSummary(
        table="orders",
        version=3,
        rows=2500,
        new_rows=0,
        unchanged="unchanged: the same content as orders@3, not committed",
    )
    report = StepReport(
        Step(name="source:orders", kind="source", target="orders"),
        "succeeded",
        "forced",
        summary=summary,
    )
    line = Text.from_markup(step_line(report)).plain
    assert "(unchanged: the same content as orders@3, not committed (2,500 rows))" in line
    assert "rows in" not in line
