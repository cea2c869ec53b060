"""The steps that judge and repair data: check steps, clean steps (rules, then governance),
and the quarantine rules applied while a table is made."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from typing import Any

import pyarrow as pa

from weir.app.lake_format import QUARANTINE_SUFFIX
from weir.app.pii import withheld_columns
from weir.app.step_base import StepBase
from weir.catalog import CheckRecord, VersionRecord
from weir.core.errors import ConfigError, StepError
from weir.core.suggest import suggestion_text
from weir.dag import Step
from weir.engines import SqlError
from weir.engines.split import (
    RAW_COLUMN,
    REJECT_COLUMN,
    RESERVED_PREFIX,
    Diverted,
    split_stream,
    without_helpers,
)
from weir.governance import governance_params, policy_sql
from weir.quality import compiled_checks, run_checks
from weir.quality.cleaning import Chain, StageReport, apply_rule
from weir.quality.rules import ident, literal


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


class QualitySteps(StepBase):
    """Check, clean and quarantine work (see ProjectExecutor)."""

    def _clean(self, step: Step, token: int) -> dict[str, Any]:
        """Cleaning rules in order, then the table's column policies; one commit."""
        raw = str(step.definition["table"])
        source = self._current(raw)
        policies = self.config.governance.for_table(raw)
        params = governance_params(self.config.governance.key, policies)
        scan = self.ws.lake.scan(raw, source.version)
        chain = Chain(
            self.ws.engine,
            scan,
            f"clean.{raw}",
            params,
            withheld=withheld_columns(self.ws.project, raw),
        )
        clean = self.config.clean.get(raw)
        for index, rule in enumerate(clean.rules if clean else []):
            apply_rule(chain, rule, index)
        if policies:
            columns = chain.columns()
            missing = [c for c in policies if c not in columns]
            if missing:
                raise ConfigError(
                    f"governance.columns: table '{raw}' has no column '{missing[0]}' (after its cleaning rules)",
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
                f"SELECT {', '.join(items)} FROM {{prev}}",
                report,
                changed=" + ".join(changed) or "0",
            )
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
            with self.ws.engine.query(chain.final_sql(), chain.inputs(), params) as reader:
                record = self._commit(
                    step.target,
                    "clean",
                    _reconciled(reader, expected, unreconciled),
                    token,
                    [source],
                    clean.description if clean else None,
                )
        except SqlError:
            # The message could quote SQL carrying key material; say what failed, not how.
            raise StepError(
                step.name,
                f"cleaning '{raw}' failed in the engine",
                fix="run 'weir validate'; check the rules' columns and types",
            ) from None
        return {
            "table": step.target,
            "version": record.version,
            "rows_in": source.row_count,
            "rows": record.row_count,
            "rules": [asdict(r) for r in reports],
        }

    @contextmanager
    def _quarantine_rules(
        self, table: str, data: pa.RecordBatchReader
    ) -> Iterator[tuple[pa.RecordBatchReader, Diverted]]:
        """Pass `data` through the table's quarantine-severity row rules: rows failing any go
        aside with the names of the rules they failed and the row as JSON."""
        diverted = Diverted("CHECK")
        rules = compiled_checks(self.config.checks.get(table, []), ("quarantine",))
        if not rules:
            yield data, diverted
            return
        names = set(data.schema.names)
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
        others = {t: self.ws.lake.scan(t, self._current(t).version) for r in rules for t in r.reads}
        any_bad = " OR ".join(f"coalesce(({r.fails}), false)" for r in rules)
        reasons = ", ".join(
            f"CASE WHEN coalesce(({r.fails}), false) THEN {literal(r.label)} END" for r in rules
        )
        sql = (
            f"SELECT *, CASE WHEN {any_bad} THEN concat_ws('; ', {reasons}) END AS {REJECT_COLUMN}, "
            f"CASE WHEN {any_bad} THEN to_json(t)::VARCHAR END AS {RAW_COLUMN} FROM t"
        )
        failed = _RuleFailure(table, bool(self._withheld(table, data.schema.names)))
        with ExitStack() as stack:
            try:
                reader = stack.enter_context(self.ws.engine.query(sql, {"t": data, **others}))
            except SqlError as exc:
                raise failed(exc) from None
            yield (
                pa.RecordBatchReader.from_batches(
                    without_helpers(reader.schema), split_stream(failed.guard(reader), diverted)
                ),
                diverted,
            )

    def _keep_quarantined(
        self, table: str, diverted: Diverted, record: VersionRecord, token: int
    ) -> dict[str, Any]:
        """After a model or Python step: its quarantine rules' results and table, if it has any."""
        if not compiled_checks(self.config.checks.get(table, []), ("quarantine",)):
            return {}
        self._record_quarantine_checks(table, diverted, record, token)
        quarantine = self._commit(
            table + QUARANTINE_SUFFIX, "quarantine", diverted.table(), token, []
        )
        return {
            "quarantined_rows": quarantine.row_count,
            "quarantine_table": f"{quarantine.table}@{quarantine.version}",
        }

    def _record_quarantine_checks(
        self, table: str, diverted: Diverted, record: VersionRecord, token: int
    ) -> None:
        rules = compiled_checks(self.config.checks.get(table, []), ("quarantine",))
        if not rules:
            return
        reasons = [r for t in diverted.tables for r in t.column("error").to_pylist()]
        results = []
        for rule in rules:
            failing = sum(rule.label in (reason or "").split("; ") for reason in reasons)
            detail = "" if failing == 0 else f"{failing} rows quarantined"
            results.append(CheckRecord(rule.label, "quarantine", failing == 0, failing, detail))
        self.ws.catalog.record_checks(token, record.id, results)

    def _check(self, step: Step, token: int) -> dict[str, Any]:
        table = step.target
        record = self._current(table)
        related = {c.to for c in self.config.checks[table] if c.rule == "relationships"}
        others = {t: self.ws.lake.scan(t, self._current(t).version) for t in related}
        scan = self.ws.lake.scan(table, record.version)
        outcomes = run_checks(
            self.ws.engine,
            scan,
            self.config.checks[table],
            others,
            withheld=self._withheld(table, scan.schema.names),
        )
        self.ws.catalog.record_checks(
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
                f"{len(failed)} check(s) with severity error failed on {table}@{record.version}: {listed}",
                fix="fix the data or the upstream step; 'weir checks' shows all results",
            )
        return {
            "table": table,
            "version": record.version,
            "passed": sum(o.passed for o in outcomes),
            "warned": len(warned),
            "failed": 0,
        }
