"""The work of each step kind, wired to the concrete lake, catalog, engine and registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from weir.app.lake_format import QUARANTINE_SUFFIX
from weir.app.pii import kept_pii_read
from weir.app.plan import views_read
from weir.app.source_step import SourceSteps
from weir.app.training import train_model
from weir.core.errors import ConfigError, LakeError, NotFoundError, StepError, WeirError
from weir.core.hashing import file_sha256, fingerprint
from weir.dag import InputState, PriorRun, Step
from weir.engines import SqlError, damaged_file_error
from weir.ingest import observe_files, sqlite_file
from weir.project.sources import FileSource
from weir.quality.rules import ident
from weir.transform import call_step, load_function
from weir.transform.sql import locate_error


class ProjectExecutor(SourceSteps):
    """Implements the runner's Executor protocol for a project's workspace."""

    def reads_of(self, step: Step) -> list[str]:
        related = sorted(
            {
                c.to
                for c in self.config.checks.get(step.target, [])
                if c.rule == "relationships" and c.severity == "quarantine"
            }
        )
        if step.kind == "sql":
            return sorted({*self.base_tables(self.sql_models[step.target].dependencies), *related})
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
        if step.kind == "python":
            return sorted({*self.config.steps[step.target].inputs, *related})
        return []

    def observe_inputs(self, step: Step) -> Mapping[str, InputState]:
        inputs = {}
        source = self.config.sources.get(step.target) if step.kind == "source" else None
        database = sqlite_file(source, self.ws.project.root) if source is not None else None
        if database is not None and database.is_file():
            inputs[f"database {self.ws.display_path(database)}"] = InputState(
                file_sha256(database), f"{database.stat().st_size} bytes"
            )
        if isinstance(source, FileSource):
            states = observe_files(self.ws.project.root, step.target, source)
            self.observed_files[step.target] = states
            inputs = {
                f"file {state.path}": InputState(state.sha256, f"{state.size} bytes")
                for state in states
            }
        for table in self.reads_of(step):
            record = self._current(table)
            inputs[table] = InputState(record.fingerprint, f"v{record.version}")
        return inputs

    def settings(self, step: Step) -> Mapping[str, Any]:
        return self.ws.engine.settings()

    def output_present(self, step: Step, prior: PriorRun) -> bool:
        """Whether what the step's last success wrote is all still there, unchanged: its table
        at the recorded version with every data file (and so its quarantine table, if the
        catalog records one: the rejects are data too), or every file of its model's latest
        version (the model, its ONNX graph, its report) with the checksum recorded."""
        if step.kind in ("source", "sql", "clean", "python"):
            record = self.ws.catalog.current_version(step.target)
            if record is None or not self.ws.lake.has_version(step.target, record.version):
                return False
            rejects = self.ws.catalog.current_version(step.target + QUARANTINE_SUFFIX)
            return rejects is None or self.ws.lake.has_version(rejects.table, rejects.version)
        if step.kind == "train":
            versions = self.ws.catalog.model_versions(step.target)
            return bool(versions) and all(
                self.ws.artifacts.intact(path, sha256) for path, sha256 in versions[-1].files()
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
            "python": self._python,
        }[step.kind]
        try:
            return handler(step, token)
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
        for table in self.reads_of(step):
            record = self.ws.catalog.current_version(table)
            if record is not None:
                self.ws.lake.check_content(table, record.version)

    def _sql(self, step: Step, token: int) -> dict[str, Any]:
        model = self.sql_models[step.target]
        settings = self.ws.project.model_settings.get(step.target)
        inputs = {table: self._current(table) for table in self.base_tables(model.dependencies)}
        datasets: dict[str, Any] = {t: self.ws.lake.scan(t, r.version) for t, r in inputs.items()}
        views = {
            v: self.sql_models[v].sql
            for v in views_read(dict(self.sql_models), self.views, step.target)
        }
        sql, parents, mode, merge_on, how = (
            model.sql,
            list(inputs.values()),
            "overwrite",
            None,
            "rebuilt",
        )
        incremental = settings.incremental if settings else None
        current = self.ws.catalog.current_version(step.target)
        if incremental is not None and current is not None and not self._rebuild(step):
            parents.append(current)
            if incremental.new_rows is not None:
                cursor = ident(incremental.new_rows.column)
                datasets["__weir_this"] = self.ws.lake.scan(step.target, current.version)
                sql = (
                    f"SELECT * FROM ({model.normalised}) AS __weir_new "
                    f"WHERE __weir_new.{cursor} > (SELECT max({cursor}) FROM __weir_this)"
                )
            mode = "append"
            merge_on = incremental.unique_key if incremental.strategy == "merge" else None
            how = "merged" if merge_on else "appended"
        try:
            with (
                self.ws.engine.query(sql, datasets, views=views) as reader,
                self._quarantine_rules(step.target, reader) as (stream, diverted),
            ):
                before = current.row_count if current else 0
                record = self._commit(
                    step.target,
                    "model",
                    stream,
                    token,
                    parents,
                    settings.description if settings else None,
                    mode="append" if mode == "append" else "overwrite",
                    merge_on=merge_on,
                )
        except SqlError as exc:
            place = locate_error(model.sql, exc.message)
            where = model.path
            if place is not None:
                line, column, exact = place
                where = f"{model.path}:{line}:{column}" + (
                    "" if exact else " (first use of that name)"
                )
            # the engine's message may quote a value ('annie-secret'): not of PII kept as is
            kept = kept_pii_read(self.ws.project, self.sql_models, step.target)
            said = exc.without_values() if kept else exc.message
            raise StepError(
                step.name, f"{where}: {said}", fix="fix the SQL and run again"
            ) from None
        summary: dict[str, Any] = {
            "table": step.target,
            "version": record.version,
            "rows": record.row_count,
        }
        if incremental is not None:
            summary["incremental"] = how
            if how == "appended":
                summary["added_rows"] = record.row_count - before
            if how == "merged":
                summary["merge"] = dict(self.last_merge)
        return summary | self._keep_quarantined(step.target, diverted, record, token)

    def _rebuild(self, step: Step) -> bool:
        """An incremental model is rebuilt whole when asked, or when its own SQL or settings
        changed since its last build: rows made by old logic must not stay beside new ones."""
        if self.full_refresh:
            return True
        prior = self.ws.catalog.last_success(step.name)
        parts = prior.key_parts.get("parts", {}) if prior else {}
        return parts.get("code") != fingerprint(step.code) or parts.get(
            "definition"
        ) != fingerprint(step.definition)

    def _python(self, step: Step, token: int) -> dict[str, Any]:
        """Call the project's function with its input tables; commit what it returns."""
        spec = self.config.steps[step.target]
        root = self.ws.project.root
        function = load_function(root, spec.path, spec.name, step.name)
        inputs = {table: self._current(table) for table in spec.inputs}
        tables = {
            table: self.ws.lake.read(table, record.version) for table, record in inputs.items()
        }
        result = call_step(
            function,
            tables,
            spec.format,
            step.name,
            root / spec.path,
            withheld=bool(kept_pii_read(self.ws.project, self.sql_models, step.target)),
        )
        with self._quarantine_rules(step.target, result.to_reader()) as (stream, diverted):
            record = self._commit(
                step.target, "python", stream, token, list(inputs.values()), spec.description
            )
        summary: dict[str, Any] = {
            "table": step.target,
            "version": record.version,
            "rows": record.row_count,
        }
        return summary | self._keep_quarantined(step.target, diverted, record, token)

    def _train(self, step: Step, token: int) -> dict[str, Any]:
        spec = self.config.ml[step.target]
        return train_model(
            self.ws,
            step.target,
            self._current(spec.table),
            self.sql_models,
            run_id=self.run_id,
            token=token,
            progress=self.progress,
        )


def _before_data(error: BaseException) -> bool:
    """Raised before a row was read, or already naming its place: not a damaged input."""
    if isinstance(error, ConfigError | LakeError | NotFoundError):
        return True
    text = error.message if isinstance(error, WeirError) else str(error)
    return any(kind in text for kind in SqlError.BEFORE_DATA)
