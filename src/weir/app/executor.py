"""The work of each step kind, wired to the concrete lake, catalog, engine and registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from weir.app.workspace import Workspace
from weir.catalog import CheckRecord, VersionRecord
from weir.core.errors import LakeError, NotFoundError, StepError
from weir.dag import InputState, PriorRun, Step
from weir.engines import SqlError, schema_record
from weir.ingest import observe_files, read_files
from weir.quality import profile_table, run_checks
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
        if step.kind == "sql":
            return list(self.sql_models[step.target].dependencies)
        if step.kind == "check":
            return [step.target]
        if step.kind == "train":
            return [self.config.ml[step.target].table]
        return []

    def observe_inputs(self, step: Step) -> Mapping[str, InputState]:
        if step.kind == "source":
            source = self.config.sources[step.target]
            return {
                f"file {state.path}": InputState(state.sha256, f"{state.size} bytes")
                for state in observe_files(self.ws.project.root, step.target, source)
            }
        inputs = {}
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
        if kind != "quarantine":
            self.ws.catalog.record_profile(
                record.id, profile_table(self.ws.engine, scan).as_record()
            )
        return record

    def _source(self, step: Step, token: int) -> dict[str, Any]:
        name = step.target
        source = self.config.sources[name]
        with read_files(self.ws.engine, self.ws.project.root, name, source) as read:
            try:
                record = self._commit(name, "source", read.batches, token, [], source.description)
            except LakeError:
                if read.failure is not None:
                    raise read.failure from None
                raise
            rejects = read.rejects()
        files = rejects.column("file").to_pylist()
        rejects = rejects.set_column(0, "file", _strings([self.ws.display_path(f) for f in files]))
        quarantine = self._commit(name + QUARANTINE_SUFFIX, "quarantine", rejects, token, [])
        return {
            "table": name,
            "version": record.version,
            "rows": record.row_count,
            "quarantined_rows": quarantine.row_count,
            "quarantine_table": f"{quarantine.table}@{quarantine.version}",
        }

    def _sql(self, step: Step, token: int) -> dict[str, Any]:
        model = self.sql_models[step.target]
        inputs = {table: self._current(table) for table in model.dependencies}
        datasets = {t: self.ws.lake.scan(t, r.version) for t, r in inputs.items()}
        description = self.config.models.get(step.target)
        try:
            with self.ws.engine.query(model.sql, datasets) as reader:
                record = self._commit(
                    step.target,
                    "model",
                    reader,
                    token,
                    list(inputs.values()),
                    description.description if description else None,
                )
        except SqlError as exc:
            raise StepError(
                step.name, f"{model.path}: {exc.message}", fix="fix the SQL and run again"
            ) from None
        return {"table": step.target, "version": record.version, "rows": record.row_count}

    def _check(self, step: Step, token: int) -> dict[str, Any]:
        table = step.target
        record = self._current(table)
        outcomes = run_checks(
            self.ws.engine, self.ws.lake.scan(table, record.version), self.config.checks[table]
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
        }


def _strings(values: list[str]) -> pa.Array:
    return pa.array(values, type=pa.string())
