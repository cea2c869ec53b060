"""Run a table's checks in the engine and judge them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from weir.core.suggest import suggestion_text
from weir.core.tables import TableFiles
from weir.engines.duckdb import DuckDBEngine
from weir.quality.rules import compile_check

if TYPE_CHECKING:
    import pyarrow.dataset as pads


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    severity: str
    passed: bool
    failing: int
    detail: str


def run_checks(
    engine: DuckDBEngine, dataset: pads.Dataset | TableFiles, checks: Sequence[Any]
) -> list[CheckOutcome]:
    """Every declared check on one table version; a check on a missing column fails clearly."""
    columns = set(dataset.schema.names)
    outcomes: list[CheckOutcome] = []
    for check in checks:
        for compiled in compile_check(check):
            missing = [c for c in compiled.columns if c not in columns]
            if missing:
                outcomes.append(
                    CheckOutcome(
                        compiled.label,
                        compiled.severity,
                        False,
                        0,
                        f"no column '{missing[0]}' in the table; {suggestion_text(missing[0], columns)}",
                    )
                )
                continue
            with engine.query(compiled.sql, {"t": dataset}) as reader:
                value = reader.read_all().column(0)[0].as_py()
            passed, failing, detail = compiled.judge(int(value or 0))
            outcomes.append(
                CheckOutcome(compiled.label, compiled.severity, passed, failing, detail)
            )
    return outcomes
