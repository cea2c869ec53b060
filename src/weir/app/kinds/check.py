"""The check kind: a table's error and warn rules, in a step every reader of the table waits
for (quarantine-severity rules run inside the step that makes the table instead)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from weir.app.kinds.base import Observed, RunContext, StepKind
from weir.app.kinds.planning import Planning, related_tables
from weir.app.kinds.summaries import CheckSummary
from weir.catalog import CheckRecord
from weir.core.errors import StepError
from weir.core.version import __version__
from weir.dag import Step
from weir.quality import run_checks


class CheckKind(StepKind):
    name = "check"

    def plan(self, planning: Planning) -> list[Step]:
        steps = []
        for table in planning.project.config.checks:
            checks = planning.checks_of(table, ("error", "warn"))
            if not checks:
                continue
            related = [planning.ready_step(t) for t in related_tables(checks) if t != table]
            steps.append(
                Step(
                    name=f"check:{table}",
                    kind=self.name,
                    target=table,
                    after=tuple(sorted({planning.maker_step(table), *related})),
                    definition={"checks": [c.model_dump(mode="json") for c in checks]},
                    code=f"weir {__version__} checks",
                    where=f"weir.yaml checks.{table}",
                    always="freshness depends on the clock"
                    if any(c.rule == "freshness" for c in checks)
                    else None,
                )
            )
        return steps

    def reads(self, step: Step, ctx: RunContext) -> list[str]:
        checks = ctx.config.checks.get(step.target, [])
        targets = {c.to for c in checks if c.rule == "relationships"}
        return [step.target, *sorted(targets - {step.target})]

    def execute(self, step: Step, ctx: RunContext, token: int, observed: Observed) -> CheckSummary:
        table = step.target
        record = ctx.current(table)
        checks = ctx.config.checks[table]
        related = {c.to for c in checks if c.rule == "relationships"}
        others = {t: ctx.ws.lake.scan(t, ctx.current(t).version) for t in related}
        scan = ctx.ws.lake.scan(table, record.version)
        outcomes = run_checks(
            ctx.ws.engine, scan, checks, others, withheld=ctx.withheld(table, scan.schema.names)
        )
        ctx.ws.catalog.record_checks(
            token,
            record.id,
            [CheckRecord(o.check, o.severity, o.passed, o.failing, o.detail) for o in outcomes],
        )
        failed = [o for o in outcomes if not o.passed and o.severity == "error"]
        warned = [o for o in outcomes if not o.passed and o.severity == "warn"]
        if failed:
            listed = "; ".join(f"{o.check}: {o.detail}" for o in failed)
            raise StepError(
                step.name,
                f"{len(failed)} check(s) with severity error failed on "
                f"{table}@{record.version}: {listed}",
                fix="fix the data or the upstream step; 'weir checks' shows all results",
            )
        return CheckSummary(
            table=table,
            version=record.version,
            passed=sum(o.passed for o in outcomes),
            warned=len(warned),
        )

    def summary_from_record(self, record: Mapping[str, Any]) -> CheckSummary:
        return CheckSummary.from_record(record)
