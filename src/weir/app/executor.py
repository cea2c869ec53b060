"""The work of each step kind, wired to the concrete lake, catalog, engine and registry."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import pyarrow as pa

from weir.app.pii import feature_origins
from weir.app.workspace import Workspace
from weir.catalog import CheckRecord, VersionRecord
from weir.core.errors import ConfigError, LakeError, NotFoundError, StepError
from weir.core.suggest import suggestion_text
from weir.dag import InputState, PriorRun, Step
from weir.engines import SqlError, schema_record
from weir.engines.split import RAW_COLUMN, REJECT_COLUMN, Diverted, split_stream, without_helpers
from weir.governance import governance_params, policy_sql
from weir.ingest import observe_files, read_files
from weir.quality import compiled_checks, profile_table, run_checks
from weir.quality.cleaning import Chain, StageReport, apply_rule
from weir.quality.rules import ident, literal
from weir.transform import SqlModel

QUARANTINE_SUFFIX = "__quarantine"


class ProjectExecutor:
    """Implements the runner's Executor protocol for a project's workspace."""

    def __init__(
        self, workspace: Workspace, sql_models: Mapping[str, SqlModel], run_id: int
    ) -> None:
        self.ws = workspace
        self.sql_models = sql_models
        self.run_id = run_id
        self.config = workspace.project.config

    # what a step reads ----------------------------------------------------------------------

    def _current(self, table: str) -> VersionRecord:
        record = self.ws.catalog.current_version(table)
        if record is None:
            raise NotFoundError(
                f"table '{table}' has not been built yet",
                fix="run the whole pipeline with 'weir run'",
            )
        return record

    def _reads(self, step: Step) -> list[str]:
        related = sorted(
            {
                c.to
                for c in self.config.checks.get(step.target, [])
                if c.rule == "relationships" and c.severity == "quarantine"
            }
        )
        if step.kind == "sql":
            return sorted({*self.sql_models[step.target].dependencies, *related})
        if step.kind == "source":
            return related
        if step.kind == "check":
            targets = {
                c.to for c in self.config.checks.get(step.target, []) if c.rule == "relationships"
            }
            return [step.target, *sorted(targets - {step.target})]
        if step.kind == "train":
            return [self.config.ml[step.target].table]
        if step.kind == "clean":
            return [str(step.definition["table"])]
        return []

    def observe_inputs(self, step: Step) -> Mapping[str, InputState]:
        inputs = {}
        if step.kind == "source":
            source = self.config.sources[step.target]
            inputs = {
                f"file {state.path}": InputState(state.sha256, f"{state.size} bytes")
                for state in observe_files(self.ws.project.root, step.target, source)
            }
        for table in self._reads(step):
            record = self._current(table)
            inputs[table] = InputState(record.fingerprint, f"v{record.version}")
        return inputs

    def settings(self, step: Step) -> Mapping[str, Any]:
        return self.ws.engine.settings()

    def output_present(self, step: Step, prior: PriorRun) -> bool:
        if step.kind in ("source", "sql"):
            record = self.ws.catalog.current_version(step.target)
            return record is not None and self.ws.lake.has_version(step.target, record.version)
        if step.kind == "train":
            versions = self.ws.catalog.model_versions(step.target)
            return (
                bool(versions) and self.ws.artifacts.resolve(versions[-1].artifact_path).is_file()
            )
        return True

    # what a step does -----------------------------------------------------------------------

    def execute(self, step: Step, token: int) -> dict[str, Any]:
        handler = {
            "source": self._source,
            "clean": self._clean,
            "sql": self._sql,
            "check": self._check,
            "train": self._train,
        }[step.kind]
        return handler(step, token)

    def _commit(
        self,
        table: str,
        kind: str,
        data: Any,
        token: int,
        parents: list[VersionRecord],
        description: str | None = None,
    ) -> VersionRecord:
        """Write one Delta commit and record it (with lineage) in the catalog."""
        version = self.ws.lake.write(
            table, data, metadata={"weir.run": str(self.run_id), "weir.step_run": str(token)}
        )
        scan = self.ws.lake.scan(table, version)
        fingerprint = self.ws.engine.fingerprint(scan)
        record = self.ws.catalog.record_version(
            table,
            kind=kind,
            version=version,
            row_count=fingerprint.row_count,
            fingerprint=fingerprint.digest,
            schema=schema_record(scan.schema),
            run_id=self.run_id,
            step_run_id=token,
            parents=[p.id for p in parents],
            description=description,
        )
        self.ws.catalog.record_profile(record.id, profile_table(self.ws.engine, scan).as_record())
        return record

    def _source(self, step: Step, token: int) -> dict[str, Any]:
        name = step.target
        source = self.config.sources[name]
        with (
            read_files(self.ws.engine, self.ws.project.root, name, source) as read,
            self._quarantine_rules(name, read.batches) as (stream, diverted),
        ):
            try:
                record = self._commit(name, "source", stream, token, [], source.description)
            except LakeError:
                if read.failure is not None:
                    raise read.failure from None
                raise
            rejects = pa.concat_tables([read.rejects(), diverted.table()])
        self._record_quarantine_checks(name, diverted, record, token)
        files = rejects.column("file").to_pylist()
        rejects = rejects.set_column(
            0, "file", _strings([None if f is None else self.ws.display_path(f) for f in files])
        )
        quarantine = self._commit(name + QUARANTINE_SUFFIX, "quarantine", rejects, token, [])
        return {
            "table": name,
            "version": record.version,
            "rows": record.row_count,
            "quarantined_rows": quarantine.row_count,
            "quarantine_table": f"{quarantine.table}@{quarantine.version}",
        }

    def _clean(self, step: Step, token: int) -> dict[str, Any]:
        """Cleaning rules in order, then the table's column policies; one commit."""
        raw = str(step.definition["table"])
        source = self._current(raw)
        policies = self.config.governance.for_table(raw)
        params = governance_params(self.config.governance.key, policies)
        scan = self.ws.lake.scan(raw, source.version)
        chain = Chain(self.ws.engine, scan, f"clean.{raw}", params)
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
        try:
            with self.ws.engine.query(chain.final_sql(), {"t": scan}, params) as reader:
                record = self._commit(
                    step.target,
                    "clean",
                    reader,
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
            "rows": record.row_count,
            "rules": [asdict(r) for r in reports],
        }

    def _sql(self, step: Step, token: int) -> dict[str, Any]:
        model = self.sql_models[step.target]
        inputs = {table: self._current(table) for table in model.dependencies}
        datasets = {t: self.ws.lake.scan(t, r.version) for t, r in inputs.items()}
        description = self.config.models.get(step.target)
        try:
            with (
                self.ws.engine.query(model.sql, datasets) as reader,
                self._quarantine_rules(step.target, reader) as (stream, diverted),
            ):
                record = self._commit(
                    step.target,
                    "model",
                    stream,
                    token,
                    list(inputs.values()),
                    description.description if description else None,
                )
        except SqlError as exc:
            raise StepError(
                step.name, f"{model.path}: {exc.message}", fix="fix the SQL and run again"
            ) from None
        summary: dict[str, Any] = {
            "table": step.target,
            "version": record.version,
            "rows": record.row_count,
        }
        if compiled_checks(self.config.checks.get(step.target, []), ("quarantine",)):
            self._record_quarantine_checks(step.target, diverted, record, token)
            quarantine = self._commit(
                step.target + QUARANTINE_SUFFIX, "quarantine", diverted.table(), token, []
            )
            summary |= {
                "quarantined_rows": quarantine.row_count,
                "quarantine_table": f"{quarantine.table}@{quarantine.version}",
            }
        return summary

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
        with self.ws.engine.query(sql, {"t": data, **others}) as reader:
            yield (
                pa.RecordBatchReader.from_batches(
                    without_helpers(reader.schema), split_stream(reader, diverted)
                ),
                diverted,
            )

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
        outcomes = run_checks(
            self.ws.engine,
            self.ws.lake.scan(table, record.version),
            self.config.checks[table],
            others,
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

    def _train(self, step: Step, token: int) -> dict[str, Any]:
        from weir.ml import environment, train  # scikit-learn costs a second to import

        spec = self.config.ml[step.target]
        record = self._current(spec.table)
        columns = [spec.target, *spec.features.numeric, *spec.features.categorical]
        available = set(self.ws.lake.dataset(spec.table, record.version).schema.names)
        table = self.ws.lake.read(
            spec.table, record.version, [c for c in columns if c in available]
        )
        trained = train(table, spec, f"ml.{step.target}")
        origins, unknown = feature_origins(
            self.ws.project,
            self.ws.catalog,
            self.sql_models,
            spec.table,
            [*spec.features.numeric, *spec.features.categorical],
        )
        warnings = [o.warning for o in origins if o.warning]
        warnings += [f"lineage of {c} is unknown: sqlglot could not trace it" for c in unknown]
        artifact = self.ws.artifacts.save_model(step.target, trained.pipeline)
        version = self.ws.catalog.register_model_version(
            step.target,
            task=spec.task,
            algorithm=spec.algorithm,
            metrics=trained.metrics,
            params=trained.params,
            seed=spec.seed,
            features={
                **spec.features.model_dump(mode="json"),
                "target": spec.target,
                "classes": trained.classes,
                "rows": trained.rows,
                "split": {"method": spec.split_method, "test_fraction": spec.split.test_fraction},
                "classified_origins": [
                    {
                        "feature": o.feature,
                        "source": o.source,
                        "class": o.class_,
                        "action": o.action,
                    }
                    for o in origins
                ],
            },
            artifact_path=artifact.relative,
            artifact_sha256=artifact.sha256,
            environment=environment(),
            run_id=self.run_id,
            step_run_id=token,
            trained_on=[record.id],
        )
        return {
            "model": step.target,
            "version": version.version,
            "metrics": trained.metrics,
            "rows": trained.rows,
            "warnings": warnings,
        }


def _strings(values: list[str | None]) -> pa.Array:
    return pa.array(values, type=pa.string())
