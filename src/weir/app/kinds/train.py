"""The train kind: a model trained on a table's current version and registered as a new
model version (`weir.app.training` does the work)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from weir.app.kinds.base import Observed, RunContext, StepKind
from weir.app.kinds.planning import Planning
from weir.app.kinds.summaries import TrainSummary
from weir.app.training import train_model
from weir.core.version import __version__
from weir.dag import PriorRun, Step


class TrainKind(StepKind):
    name = "train"

    def plan(self, planning: Planning) -> list[Step]:
        steps = []
        for name, train in planning.project.config.ml.items():
            planning.refuse_raw_pii(f"ml.{name}", [train.table])
            steps.append(
                Step(
                    name=f"train:{name}",
                    kind=self.name,
                    target=name,
                    after=(planning.ready_step(train.table),),
                    definition=train.model_dump(mode="json"),
                    code=f"weir {__version__} train",
                    where=f"weir.yaml ml.{name}",
                )
            )
        return steps

    def reads(self, step: Step, ctx: RunContext) -> list[str]:
        return [ctx.config.ml[step.target].table]

    def output_present(self, step: Step, ctx: RunContext, prior: PriorRun) -> bool:
        """Every file of the model's latest version (the model, its ONNX graph, its report),
        with the checksum recorded."""
        versions = ctx.ws.catalog.model_versions(step.target)
        return bool(versions) and all(
            ctx.ws.artifacts.intact(path, sha256) for path, sha256 in versions[-1].files()
        )

    def execute(self, step: Step, ctx: RunContext, token: int, observed: Observed) -> TrainSummary:
        spec = ctx.config.ml[step.target]
        trained = train_model(
            ctx.ws,
            step.target,
            ctx.current(spec.table),
            ctx.sql_models,
            run_id=ctx.run_id,
            token=token,
            progress=ctx.options.progress,
        )
        return TrainSummary.from_record(trained)

    def summary_from_record(self, record: Mapping[str, Any]) -> TrainSummary:
        return TrainSummary.from_record(record)
