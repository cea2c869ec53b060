"""Quarantine-severity row rules, applied while a table is made (by a source, a SQL model or
a Python step): rows failing any go aside, with the rules they failed and the row as JSON,
so bad rows never enter a version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pyarrow as pa

from weir.app.kinds.base import RunContext
from weir.app.kinds.commits import commit
from weir.app.kinds.summaries import Quarantined
from weir.app.lake_format import QUARANTINE_SUFFIX
from weir.catalog import CheckRecord, VersionRecord
from weir.core.errors import StepError
from weir.core.suggest import suggestion_text
from weir.engines import SqlError
from weir.engines.split import (
    RESERVED_PREFIX,
    Diverted,
    split_stream,
    without_helpers,
)
from weir.quality import CompiledCheck, compiled_checks
from weir.quality.quarantine import quarantine_sql


class _RuleFailure:
    """A quarantine rule the engine could not evaluate (`CAST(born AS DATE)` over a value
    that is no date): a step error naming the table's rules, whose engine message is cut to
    its kind when the table holds governed PII (the message would quote the value)."""

    def __init__(self, table: str, withheld: bool) -> None:
        self.table, self.withheld = table, withheld

    def __call__(self, exc: SqlError) -> StepError:
        message = exc.without_values() if self.withheld else exc.message
        return StepError(
            f"quarantine checks of {self.table}",
            f"a quarantine-severity check failed in the engine: {message}",
            fix=f"make each check of checks.{self.table} hold for every row's type "
            "(e.g. try_cast instead of CAST)",
        )

    def guard(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """`reader`, whose engine errors (met while it streams) become this step error."""

        def batches() -> Iterator[pa.RecordBatch]:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except SqlError as exc:
                    raise self(exc) from None
                yield batch

        return pa.RecordBatchReader.from_batches(reader.schema, batches())


def rules_of(ctx: RunContext, table: str) -> list[CompiledCheck]:
    return compiled_checks(ctx.config.checks.get(table, []), ("quarantine",))


@contextmanager
def quarantine_rules(
    ctx: RunContext, table: str, data: pa.RecordBatchReader
) -> Iterator[tuple[pa.RecordBatchReader, Diverted]]:
    """Pass `data` through the table's quarantine-severity row rules: rows failing any go
    aside with the names of the rules they failed and the row as JSON."""
    diverted = Diverted("CHECK")
    rules = rules_of(ctx, table)
    if not rules:
        yield data, diverted
        return
    _refuse_columns(table, set(data.schema.names), rules)
    others = {t: ctx.ws.lake.scan(t, ctx.current(t).version) for r in rules for t in r.reads}
    sql = quarantine_sql(rules, ctx.ws.engine.dialect)  # a tree, in the engine's dialect
    failed = _RuleFailure(table, bool(ctx.withheld(table, data.schema.names)))
    with ExitStack() as stack:
        try:
            reader = stack.enter_context(ctx.ws.engine.query(sql, {"t": data, **others}))
        except SqlError as exc:
            raise failed(exc) from None
        yield (
            pa.RecordBatchReader.from_batches(
                without_helpers(reader.schema), split_stream(failed.guard(reader), diverted)
            ),
            diverted,
        )


def _refuse_columns(table: str, names: set[str], rules: list[CompiledCheck]) -> None:
    """A column named like Weir's helper columns, or a rule naming a column the rows lack."""
    reserved = sorted(n for n in names if n.lower().startswith(RESERVED_PREFIX))
    if reserved:
        raise StepError(
            f"quarantine check on {table}",
            f"column '{reserved[0]}' starts with '{RESERVED_PREFIX}', which Weir reserves "
            "for its own columns (a row's quarantine reason and text)",
            fix=f"rename the column in the step that makes {table}",
        )
    for rule in rules:
        missing = [c for c in rule.columns if c not in names]
        if missing:
            raise StepError(
                f"quarantine check on {table}",
                f"{rule.label}: no column '{missing[0]}'",
                fix=f"checks.{table}: {suggestion_text(missing[0], names)}",
            )


def keep_quarantined(
    ctx: RunContext, table: str, diverted: Diverted, record: VersionRecord, token: int
) -> Quarantined | None:
    """After a model or Python step: its quarantine rules' results and table, if it has any."""
    if not rules_of(ctx, table):
        return None
    record_quarantine_checks(ctx, table, diverted, record, token)
    done = commit(ctx, table + QUARANTINE_SUFFIX, "quarantine", diverted.table(), token, [])
    return Quarantined(
        rows=done.record.row_count, table=f"{done.record.table}@{done.record.version}"
    )


def record_quarantine_checks(
    ctx: RunContext, table: str, diverted: Diverted, record: VersionRecord, token: int
) -> None:
    rules = rules_of(ctx, table)
    if not rules:
        return
    reasons = [r for t in diverted.tables for r in t.column("error").to_pylist()]
    results = []
    for rule in rules:
        failing = sum(rule.label in (reason or "").split("; ") for reason in reasons)
        detail = "" if failing == 0 else f"{failing} rows quarantined"
        results.append(CheckRecord(rule.label, "quarantine", failing == 0, failing, detail))
    ctx.ws.catalog.record_checks(token, record.id, results)
