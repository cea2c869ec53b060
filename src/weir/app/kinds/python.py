"""The python kind: a project function called with its input tables (Arrow, pandas or
Polars), whose result is committed as a table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from weir.app.kinds.base import Observed, RunContext, StepKind, table_present
from weir.app.kinds.commits import commit
from weir.app.kinds.planning import Planning
from weir.app.kinds.quarantine import keep_quarantined, quarantine_rules
from weir.app.kinds.summaries import TableSummary
from weir.app.pii import kept_pii_read
from weir.dag import PriorRun, Step
from weir.transform import call_step, code_identity, load_function


class PythonKind(StepKind):
    name = "python"

    def plan(self, planning: Planning) -> list[Step]:
        root = planning.project.root
        steps = []
        for name, spec in planning.project.config.steps.items():
            planning.refuse_raw_pii(f"steps.{name}", spec.inputs)
            steps.append(
                Step(
                    name=f"python:{name}",
                    kind=self.name,
                    target=name,
                    after=tuple(sorted({planning.ready_step(t) for t in spec.inputs})),
                    definition={
                        **spec.model_dump(mode="json"),
                        "quarantine_checks": planning.quarantine_definition(name),
                    },
                    code=code_identity(root, spec.path)
                    if (root / spec.path).is_file()
                    else f"missing {spec.path}",
                    where=f"weir.yaml steps.{name} ({spec.function})",
                )
            )
        return steps

    def reads(self, step: Step, ctx: RunContext) -> list[str]:
        checks = ctx.config.checks.get(step.target, [])
        related = {c.to for c in checks if c.rule == "relationships" and c.severity == "quarantine"}
        return sorted({*ctx.config.steps[step.target].inputs, *related})

    def writes(self, step: Step) -> list[str]:
        return [step.target]

    def output_present(self, step: Step, ctx: RunContext, prior: PriorRun) -> bool:
        return table_present(ctx, step.target)

    def execute(self, step: Step, ctx: RunContext, token: int, observed: Observed) -> TableSummary:
        """Call the project's function with its input tables; commit what it returns."""
        spec = ctx.config.steps[step.target]
        root = ctx.ws.project.root
        function = load_function(root, spec.path, spec.name, step.name)
        inputs = {table: ctx.current(table) for table in spec.inputs}
        tables = {
            table: ctx.ws.lake.read(table, record.version) for table, record in inputs.items()
        }
        result = call_step(
            function,
            tables,
            spec.format,
            step.name,
            root / spec.path,
            withheld=bool(kept_pii_read(ctx.ws.project, ctx.sql_models, step.target)),
        )
        with quarantine_rules(ctx, step.target, result.to_reader()) as (stream, diverted):
            record = commit(
                ctx, step.target, "python", stream, token, list(inputs.values()), spec.description
            ).record
        return TableSummary(
            table=step.target,
            version=record.version,
            rows=record.row_count,
            quarantine=keep_quarantined(ctx, step.target, diverted, record, token),
        )

    def summary_from_record(self, record: Mapping[str, Any]) -> TableSummary:
        return TableSummary.from_record(record)
