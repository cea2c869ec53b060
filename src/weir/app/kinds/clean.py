"""The clean kind: a raw table's cleaning rules in order, then its governance policies
(pseudonymise, mask, truncate, drop), as one query and one commit of `clean_NAME`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa

from weir.app.kinds.base import Observed, RunContext, StepKind, table_present
from weir.app.kinds.commits import commit
from weir.app.kinds.planning import Planning
from weir.app.kinds.summaries import TableSummary
from weir.app.pii import withheld_columns
from weir.core.errors import ConfigError, StepError
from weir.core.suggest import suggestion_text
from weir.core.version import __version__
from weir.dag import PriorRun, Step
from weir.engines import SqlError
from weir.governance import governance_params, policy_sql
from weir.quality.cleaning import Chain, StageReport, apply_rule
from weir.quality.rules import ident


def key_identity(key: str) -> str:
    """What the governance key contributes to the clean step's cache key: a slow, salted
    derivation (scrypt), since the catalog keeps the digest of every definition and one fast
    SHA-256 of the key let anyone holding the catalog test guesses of it by the million."""
    return hashlib.scrypt(
        key.encode(), salt=b"weir-governance-key", n=2**14, r=8, p=1, dklen=32
    ).hex()


class CleanKind(StepKind):
    name = "clean"

    def plan(self, planning: Planning) -> list[Step]:
        config = planning.project.config
        steps = []
        for raw, target in planning.project.cleaned_tables().items():
            clean = config.clean.get(raw)
            policies = config.governance.for_table(raw)
            key = config.governance.key
            governance = {c: p.model_dump(mode="json", by_alias=True) for c, p in policies.items()}
            steps.append(
                Step(
                    name=f"clean:{raw}",
                    kind=self.name,
                    target=target,
                    after=(planning.ready_step(raw),),
                    definition={
                        "table": raw,
                        "rules": [r.model_dump(mode="json") for r in clean.rules] if clean else [],
                        "governance": governance,
                        # the key changes every pseudonym, so what it derives (never the key)
                        # is part of the definition
                        "key": key_identity(key) if key and policies else None,
                    },
                    code=f"weir {__version__} clean",
                    where=f"weir.yaml clean.{raw}" if clean else f"weir.yaml governance ({raw})",
                )
            )
        return steps

    def reads(self, step: Step, ctx: RunContext) -> list[str]:
        return [str(step.definition["table"])]

    def writes(self, step: Step) -> list[str]:
        return [step.target]

    def output_present(self, step: Step, ctx: RunContext, prior: PriorRun) -> bool:
        return table_present(ctx, step.target)

    def execute(self, step: Step, ctx: RunContext, token: int, observed: Observed) -> TableSummary:
        """Cleaning rules in order, then the table's column policies; one commit."""
        raw = str(step.definition["table"])
        source = ctx.current(raw)
        policies = ctx.config.governance.for_table(raw)
        params = governance_params(ctx.config.governance.key, policies)
        chain = Chain(
            ctx.ws.engine,
            ctx.ws.lake.scan(raw, source.version),
            f"clean.{raw}",
            params,
            withheld=withheld_columns(ctx.ws.project, raw),
        )
        clean = ctx.config.clean.get(raw)
        for index, rule in enumerate(clean.rules if clean else []):
            apply_rule(chain, rule, index)
        if policies:
            _govern(chain, raw, policies)
        reports = chain.count()
        expected = source.row_count - sum(r.removed_rows for r in reports)

        def unreconciled(rows_out: int) -> StepError:  # the rules' counts are wrong
            return StepError(
                step.name,
                f"cleaning '{raw}' does not reconcile: {source.row_count:,} rows in, "
                f"{source.row_count - expected:,} removed by its rules, {rows_out:,} rows out; "
                "nothing was committed",
                fix="report this as a bug in Weir, with the rules of clean." + raw,
            )

        try:
            with ctx.ws.engine.query(chain.final_sql(), chain.inputs(), params) as reader:
                record = commit(
                    ctx,
                    step.target,
                    "clean",
                    _reconciled(reader, expected, unreconciled),
                    token,
                    [source],
                    clean.description if clean else None,
                ).record
        except SqlError:
            # The message could quote SQL carrying key material; say what failed, not how.
            raise StepError(
                step.name,
                f"cleaning '{raw}' failed in the engine",
                fix="run 'weir validate'; check the rules' columns and types",
            ) from None
        return TableSummary(
            table=step.target,
            version=record.version,
            rows=record.row_count,
            rows_in=source.row_count,
            rules=tuple(reports),
        )

    def summary_from_record(self, record: Mapping[str, Any]) -> TableSummary:
        return TableSummary.from_record(record)


def _govern(chain: Chain, raw: str, policies: Mapping[str, Any]) -> None:
    """The last stage: each governed column as its policy makes it (or dropped)."""
    columns = chain.columns()
    missing = [c for c in policies if c not in columns]
    if missing:
        raise ConfigError(
            f"governance.columns: table '{raw}' has no column '{missing[0]}' (after its "
            "cleaning rules)",
            fix=suggestion_text(missing[0], columns),
        )
    items, changed = [], []
    for name, kind in columns.items():
        if name not in policies:
            items.append(ident(name))
            continue
        governed = policy_sql(name, ident(name), kind, policies[name])
        if governed.item is not None:
            items.append(governed.item)
        if governed.changed is not None:
            changed.append(governed.changed)
    report = StageReport(
        "governance",
        "governance",
        stats={c: f"{p.class_}: {p.action}" for c, p in policies.items()},
    )
    chain.add(
        f"SELECT {', '.join(items)} FROM {{prev}}", report, changed=" + ".join(changed) or "0"
    )


def _reconciled(
    reader: pa.RecordBatchReader, expected: int, error: Callable[[int], StepError]
) -> pa.RecordBatchReader:
    """`reader`, whose rows are counted as they stream to the writer: when they end, a count
    other than `expected` raises `error(count)` before the writer sees the end, so nothing
    is committed."""

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        for batch in reader:
            rows += batch.num_rows
            yield batch
        if rows != expected:
            raise error(rows)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())
