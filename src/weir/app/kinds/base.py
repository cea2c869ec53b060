"""The step-kind seam: what a kind of step owns, and what a run hands it.

A kind (source, clean, sql, python, check, train, ...) is one class in one module of this
package, registered by name in `weir.app.kinds.KINDS`. It plans its steps from the project,
says which tables a step reads and writes, observes its inputs for the cache key, tells
whether its output is still there, executes the step and returns its typed summary. The
executor (`weir.app.executor`) only dispatches on `step.kind`; nothing else asks what kind a
step is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from weir.app.kinds.planning import Planning
from weir.app.lake_format import QUARANTINE_SUFFIX
from weir.app.pii import withheld_columns
from weir.app.workspace import Workspace
from weir.catalog import VersionRecord
from weir.core.errors import NotFoundError
from weir.dag import InputState, PriorRun, Step, StepSummary
from weir.ingest import Observation
from weir.project.model import ProjectConfig
from weir.transform import SqlModel


@dataclass(frozen=True)
class RunOptions:
    """How this run works, fixed before it starts.

    full_refresh: read sources from their start, rebuild incremental models whole
    progress:     told what a long step is doing now (a line of text)
    """

    full_refresh: bool = False
    progress: Callable[[str], None] | None = None


@dataclass(frozen=True)
class RunContext:
    """What a step kind works with: the workspace, the parsed SQL models, the run, its options."""

    ws: Workspace
    sql_models: Mapping[str, SqlModel]
    run_id: int
    options: RunOptions = RunOptions()
    views: frozenset[str] = frozenset()

    @property
    def config(self) -> ProjectConfig:
        return self.ws.project.config

    def current(self, table: str) -> VersionRecord:
        """The version of `table` a step reads: the catalog's current one."""
        record = self.ws.catalog.current_version(table)
        if record is None:
            raise NotFoundError(
                f"table '{table}' has not been built yet",
                fix="run the whole pipeline with 'weir run'",
            )
        return record

    def base_tables(self, tables: Iterable[str]) -> list[str]:
        """The stored tables behind `tables`: a view stands for what it reads."""
        found: set[str] = set()
        for table in tables:
            if table in self.views:
                found |= set(self.base_tables(self.sql_models[table].dependencies))
            else:
                found.add(table)
        return sorted(found)

    def withheld(self, table: str, columns: Iterable[str]) -> dict[str, str]:
        """Column -> class of the columns of `table` (named `columns`) whose values are not
        shown: governed PII, and, by lineage, a model's column made from PII a clean step
        keeps."""
        return withheld_columns(
            self.ws.project, table, catalog=self.ws.catalog, models=self.sql_models, columns=columns
        )


@dataclass(frozen=True)
class Observed:
    """What observing a step's inputs found (the runner hands it back to `execute`).

    inputs: each input's state, for the cache key
    always: why the step runs although its key is unchanged (nothing cheap could tell)
    source: a source's observation by its connector (a file source's files as hashed for
            the key), handed to the read so the load reads exactly what the key was made of
    """

    inputs: Mapping[str, InputState]
    always: str | None = None
    source: Observation | None = field(default=None)


def table_inputs(ctx: RunContext, tables: Iterable[str]) -> dict[str, InputState]:
    """The current version of each table, by content: an upstream step that made the same
    rows again does not change its readers' keys."""
    inputs = {}
    for table in tables:
        record = ctx.current(table)
        inputs[table] = InputState(record.fingerprint, f"v{record.version}")
    return inputs


def table_present(ctx: RunContext, table: str) -> bool:
    """Whether `table` is in the lake at its recorded version with every data file (and so
    its quarantine table, if the catalog records one: the rejects are data too)."""
    record = ctx.ws.catalog.current_version(table)
    if record is None or not ctx.ws.lake.has_version(table, record.version):
        return False
    rejects = ctx.ws.catalog.current_version(table + QUARANTINE_SUFFIX)
    return rejects is None or ctx.ws.lake.has_version(rejects.table, rejects.version)


class StepKind(ABC):
    """One kind of step. Subclasses set `name` and implement `plan`, `reads`, `execute` and
    `summary_from_record`; the rest have defaults for a step that only reads tables."""

    name: ClassVar[str]

    @abstractmethod
    def plan(self, planning: Planning) -> list[Step]:
        """The steps of this kind the project declares, with their dependencies."""

    @abstractmethod
    def reads(self, step: Step, ctx: RunContext) -> list[str]:
        """The tables the step reads (their current versions enter its cache key)."""

    def writes(self, step: Step) -> list[str]:
        """The tables the step makes a version of (its OpenLineage outputs)."""
        return []

    def observe(self, step: Step, ctx: RunContext) -> Observed:
        """The step's inputs as they are now, cheaply: by default the tables it reads."""
        return Observed(table_inputs(ctx, self.reads(step, ctx)))

    def output_present(self, step: Step, ctx: RunContext, prior: PriorRun) -> bool:
        """Whether what the step's last success made is all still there, unchanged."""
        return True

    @abstractmethod
    def execute(self, step: Step, ctx: RunContext, token: int, observed: Observed) -> StepSummary:
        """Do the step's work on what was observed; say what it did."""

    @abstractmethod
    def summary_from_record(self, record: Mapping[str, Any]) -> StepSummary:
        """A summary of this kind as the catalog stored it (`as_record()`)."""
