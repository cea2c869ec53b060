"""The sql kind: a SQL model (one SELECT per file) built as a table, rebuilt whole or, when
incremental, appended or merged; a view is no step (its readers inline it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from weir.app.kinds.base import Observed, RunContext, StepKind, table_present
from weir.app.kinds.commits import Commit, commit, materialise
from weir.app.kinds.planning import Planning, views_read
from weir.app.kinds.quarantine import keep_quarantined, quarantine_rules, rules_of
from weir.app.kinds.summaries import Incremental, TableSummary
from weir.app.pii import kept_pii_read
from weir.catalog import VersionRecord
from weir.core.errors import StepError
from weir.core.hashing import fingerprint
from weir.dag import PriorRun, Step
from weir.engines import Materialise, SqlError, TableAt
from weir.engines.split import Diverted
from weir.project.model import IncrementalConfig
from weir.quality.rules import ident
from weir.transform import SqlModel
from weir.transform.sql import locate_error


@dataclass
class _Query:
    """What a model's build runs: its SQL over its inputs (tables at versions, by the name
    the SQL reads them by), and how the result is written."""

    sql: str
    inputs: list[TableAt]
    parents: list[VersionRecord]
    mode: Literal["overwrite", "append"] = "overwrite"
    merge_on: list[str] | None = None
    how: str = "rebuilt"

    def request(self, target: str, views: Mapping[str, str]) -> Materialise:
        """The query as the engine materialises it into `target`."""
        merge = self.merge_on is not None
        return Materialise(
            self.sql,
            tuple(self.inputs),
            target,
            mode="merge" if merge else self.mode,
            keys=tuple(self.merge_on or ()),
            views=tuple(views.items()),
        )


class SqlKind(StepKind):
    name = "sql"

    def plan(self, planning: Planning) -> list[Step]:
        steps = []
        for name, model in planning.models.items():
            if name in planning.views:
                continue
            settings = planning.project.model_settings.get(name)
            after = planning.after_quarantine_tables(name)
            for dependency in model.dependencies:
                after |= planning.waits_for(dependency)
            views = views_read(planning.models, planning.views, name)
            steps.append(
                Step(
                    name=f"sql:{name}",
                    kind=self.name,
                    target=name,
                    after=tuple(sorted(after)),
                    definition={
                        "materialized": settings.materialized if settings else "table",
                        "incremental": settings.incremental.model_dump(mode="json")
                        if settings and settings.incremental
                        else None,
                        "quarantine_checks": planning.quarantine_definition(name),
                        "views": {v: planning.models[v].normalised for v in views},
                    },
                    code=model.normalised,
                    where=model.path,
                )
            )
        return steps

    def reads(self, step: Step, ctx: RunContext) -> list[str]:
        model = ctx.sql_models[step.target]
        return sorted({*ctx.base_tables(model.dependencies), *_quarantine_reads(ctx, step.target)})

    def writes(self, step: Step) -> list[str]:
        return [step.target]

    def output_present(self, step: Step, ctx: RunContext, prior: PriorRun) -> bool:
        return table_present(ctx, step.target)

    def execute(self, step: Step, ctx: RunContext, token: int, observed: Observed) -> TableSummary:
        model = ctx.sql_models[step.target]
        settings = ctx.ws.project.model_settings.get(step.target)
        incremental = settings.incremental if settings else None
        current = ctx.ws.catalog.current_version(step.target)
        query = _query(ctx, step, model, incremental, current)
        views = {
            v: ctx.sql_models[v].sql for v in views_read(ctx.sql_models, ctx.views, step.target)
        }
        description = settings.description if settings else None
        try:
            if rules_of(ctx, step.target):  # rows are split in this process, then committed
                done, diverted = _split_and_commit(ctx, step, query, views, token, description)
            else:  # the engine runs the query and commits its result
                request = query.request(step.target, views)
                done = materialise(ctx, request, "model", token, query.parents, description)
                diverted = Diverted("CHECK")
        except SqlError as exc:
            raise _placed(ctx, step, model, exc) from None
        record = done.record
        before = current.row_count if current else 0
        return TableSummary(
            table=step.target,
            version=record.version,
            rows=record.row_count,
            incremental=None
            if incremental is None
            else Incremental(
                how=query.how,
                added_rows=record.row_count - before if query.how == "appended" else None,
                merge=done.merged if query.how == "merged" else None,
            ),
            quarantine=keep_quarantined(ctx, step.target, diverted, record, token),
        )

    def summary_from_record(self, record: Mapping[str, Any]) -> TableSummary:
        return TableSummary.from_record(record)


def _split_and_commit(
    ctx: RunContext,
    step: Step,
    query: _Query,
    views: Mapping[str, str],
    token: int,
    description: str | None,
) -> tuple[Commit, Diverted]:
    """The model's rows through its quarantine rules: those failing one go aside, the rest
    are committed (the engine's result streams through this process)."""
    lake = ctx.ws.lake
    datasets = {i.name: lake.scan(i.table, i.version) for i in query.inputs}
    with (
        ctx.ws.engine.query(query.sql, datasets, views=dict(views)) as reader,
        quarantine_rules(ctx, step.target, reader) as (stream, diverted),
    ):
        done = commit(
            ctx,
            step.target,
            "model",
            stream,
            token,
            query.parents,
            description,
            mode=query.mode,
            merge_on=query.merge_on,
        )
    return done, diverted


def _quarantine_reads(ctx: RunContext, table: str) -> set[str]:
    """The tables the quarantine rules of `table` compare with (`relationships`)."""
    checks = ctx.config.checks.get(table, [])
    return {c.to for c in checks if c.rule == "relationships" and c.severity == "quarantine"}


def _query(
    ctx: RunContext,
    step: Step,
    model: SqlModel,
    incremental: IncrementalConfig | None,
    current: VersionRecord | None,
) -> _Query:
    """The model's SQL over its inputs' current versions; for an incremental model that is
    not rebuilt, only the rows above its recorded maximum, appended or merged."""
    inputs = {table: ctx.current(table) for table in ctx.base_tables(model.dependencies)}
    tables = [TableAt(t, r.version) for t, r in inputs.items()]
    query = _Query(model.sql, tables, list(inputs.values()))
    if incremental is None or current is None or _rebuild(ctx, step):
        return query
    query.parents.append(current)
    if incremental.new_rows is not None:
        cursor = ident(incremental.new_rows.column)
        query.inputs.append(TableAt(step.target, current.version, alias="__weir_this"))
        query.sql = (
            f"SELECT * FROM ({model.normalised}) AS __weir_new "
            f"WHERE __weir_new.{cursor} > (SELECT max({cursor}) FROM __weir_this)"
        )
    query.mode = "append"
    query.merge_on = incremental.unique_key if incremental.strategy == "merge" else None
    query.how = "merged" if query.merge_on else "appended"
    return query


def _rebuild(ctx: RunContext, step: Step) -> bool:
    """An incremental model is rebuilt whole when asked, or when its own SQL or settings
    changed since its last build: rows made by old logic must not stay beside new ones."""
    if ctx.options.full_refresh:
        return True
    prior = ctx.ws.catalog.last_success(step.name)
    parts = prior.key_parts.get("parts", {}) if prior else {}
    return parts.get("code") != fingerprint(step.code) or parts.get("definition") != fingerprint(
        step.definition
    )


def _placed(ctx: RunContext, step: Step, model: SqlModel, exc: SqlError) -> StepError:
    """The engine's error at its place in the model's file (`LINE n` and caret)."""
    place = locate_error(model.sql, exc.message)
    where = model.path
    if place is not None:
        line, column, exact = place
        where = f"{model.path}:{line}:{column}" + ("" if exact else " (first use of that name)")
    # the engine's message may quote a value ('annie-secret'): not of PII kept as is
    kept = kept_pii_read(ctx.ws.project, ctx.sql_models, step.target)
    said = exc.without_values() if kept else exc.message
    return StepError(step.name, f"{where}: {said}", fix="fix the SQL and run again")
