"""The runner's Executor for a project's workspace: each step goes to its kind.

The executor holds no state of its own between steps: what a run needs is fixed at
construction (the workspace, the SQL models, the run, its options), and what observing a
step found is handed back by the runner to the step's execution.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from weir.app.kinds import KINDS, Observed, RunContext, RunOptions, StepKind
from weir.app.kinds.planning import view_models
from weir.app.workspace import Workspace
from weir.core.errors import ConfigError, LakeError, NotFoundError, WeirError
from weir.core.plugins import Registry
from weir.dag import PriorRun, Step, StepSummary
from weir.engines import SqlError, damaged_file_error
from weir.transform import SqlModel


class ProjectExecutor:
    """Implements the runner's Executor protocol by dispatching on `step.kind`."""

    def __init__(
        self,
        workspace: Workspace,
        sql_models: Mapping[str, SqlModel],
        run_id: int,
        options: RunOptions | None = None,
        kinds: Registry[StepKind] = KINDS,
    ) -> None:
        self.ctx = RunContext(
            workspace,
            sql_models,
            run_id,
            options or RunOptions(),
            frozenset(view_models(workspace.project)),
        )
        self.kinds = kinds

    def kind(self, step: Step) -> StepKind:
        return self.kinds.get(step.kind)

    def reads_of(self, step: Step) -> list[str]:
        return self.kind(step).reads(step, self.ctx)

    def writes_of(self, step: Step) -> list[str]:
        return self.kind(step).writes(step)

    def observe_inputs(self, step: Step) -> Observed:
        return self.kind(step).observe(step, self.ctx)

    def settings(self, step: Step) -> Mapping[str, Any]:
        return self.ctx.ws.engine.settings()

    def output_present(self, step: Step, prior: PriorRun) -> bool:
        return self.kind(step).output_present(step, self.ctx, prior)

    def execute(self, step: Step, token: int, observed: Observed) -> StepSummary:
        try:
            return self.kind(step).execute(step, self.ctx, token, observed)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            if not _before_data(exc) and damaged_file_error(exc):
                self._name_damaged_inputs(step)
            raise

    def _name_damaged_inputs(self, step: Step) -> None:
        """After a step failed with the error a damaged file gives: if one of its input
        tables' data files cannot be read (changed in place, same size, so not seen before),
        raise the lake's error that names it. An engine's own message ('TProtocolException:
        Invalid data') names no table or file, and was reported as the step's code being
        wrong. Any other failure (a value the SQL cannot convert, memory) reads nothing."""
        ws = self.ctx.ws
        for table in self.reads_of(step):
            record = ws.catalog.current_version(table)
            if record is not None:
                ws.lake.check_content(table, record.version)


def _before_data(error: BaseException) -> bool:
    """Raised before a row was read, or already naming its place: not a damaged input."""
    if isinstance(error, ConfigError | LakeError | NotFoundError):
        return True
    text = error.message if isinstance(error, WeirError) else str(error)
    return any(kind in text for kind in SqlError.BEFORE_DATA)
