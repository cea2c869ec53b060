"""One monitor verdict before it is recorded: what the checks return and the catalog,
the alerts and the report take."""

from __future__ import annotations

from dataclasses import dataclass

from weir.catalog import Measure, Status, WindowRef

DRIFT, PERFORMANCE = "drift", "performance"


@dataclass(frozen=True)
class Outcome:
    check: str  # DRIFT | PERFORMANCE
    window: WindowRef
    status: Status
    summary: str
    measures: tuple[Measure, ...]
    data: dict[str, int]  # table -> version the verdict rests on
