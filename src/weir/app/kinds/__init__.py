"""Step kinds: one module per kind, each registered here by name (adding a kind is one
module and one line below)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from weir.app.kinds.base import Observed, RunContext, RunOptions, StepKind
from weir.app.kinds.check import CheckKind
from weir.app.kinds.clean import CleanKind
from weir.app.kinds.planning import Planning
from weir.app.kinds.python import PythonKind
from weir.app.kinds.source import SourceKind
from weir.app.kinds.sql import SqlKind
from weir.app.kinds.summaries import (
    CheckSummary,
    SourceSummary,
    TableSummary,
    TrainSummary,
    metric_text,
)
from weir.app.kinds.train import TrainKind
from weir.core.plugins import Registry
from weir.dag import StepSummary

KINDS: Registry[StepKind] = Registry("step kind")
KINDS.add("source", SourceKind())
KINDS.add("clean", CleanKind())
KINDS.add("sql", SqlKind())
KINDS.add("python", PythonKind())
KINDS.add("check", CheckKind())
KINDS.add("train", TrainKind())


def stored_summary(
    kind: str, record: Mapping[str, Any], kinds: Registry[StepKind] = KINDS
) -> StepSummary:
    """The summary a step of `kind` stored in the catalog (`StepRunRecord.summary`), typed."""
    return kinds.get(kind).summary_from_record(record)


__all__ = [
    "KINDS",
    "CheckSummary",
    "Observed",
    "Planning",
    "RunContext",
    "RunOptions",
    "SourceSummary",
    "StepKind",
    "TableSummary",
    "TrainSummary",
    "metric_text",
    "stored_summary",
]
