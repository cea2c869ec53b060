"""`weir run`: plan the project, run what changed, record everything in the catalog."""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from weir.app.catalog_view import table_entries
from weir.app.executor import ProjectExecutor
from weir.app.git_state import git_state
from weir.app.kinds import KINDS, RunOptions, StepKind
from weir.app.lineage import build_graph
from weir.app.liveness import reap_dead_runs, this_process
from weir.app.openlineage import OpenLineageEmitter
from weir.app.plan import build_plan
from weir.app.workspace import Workspace, run_lock
from weir.catalog import Catalog
from weir.core.errors import WeirError
from weir.core.plugins import Registry
from weir.core.secrets import Secrets
from weir.core.version import __version__
from weir.dag import PriorRun, Runner, Step, StepReport
from weir.project import Project
from weir.project.secrets import project_secrets


@dataclass
class RunResult:
    run_id: int | None
    reports: list[StepReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # what the run found and repaired

    @property
    def ok(self) -> bool:
        return all(r.status in ("succeeded", "skipped", "planned") for r in self.reports)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.reports)


class CatalogHistory:
    """The runner's History, kept in the catalog."""

    def __init__(self, catalog: Catalog, run_id: int, secrets: Secrets | None = None) -> None:
        self.catalog = catalog
        self.run_id = run_id
        self.secrets = secrets or Secrets()

    def last_success(self, step: Step) -> PriorRun | None:
        record = self.catalog.last_success(step.name)
        if record is None or record.cache_key is None:
            return None
        return PriorRun(record.run_id, record.cache_key, record.key_parts)

    def step_started(self, step: Step) -> int:
        return self.catalog.start_step(self.run_id, step.name, step.kind)

    def step_finished(self, token: int, report: StepReport) -> None:
        masked(report, self.secrets)
        self.catalog.finish_step(
            token,
            status=report.status,
            reason=report.reason,
            cache_key=report.key.digest if report.key else None,
            key_parts=report.key.as_record() if report.key else {},
            error=report.error,
            summary=report.summary.as_record() if report.summary is not None else {},
        )

    def record_not_run(self, report: StepReport) -> None:
        """Skipped and blocked steps, and steps whose inputs could not be read, are part of
        the run's story too."""
        token = self.catalog.start_step(self.run_id, report.step.name, report.step.kind)
        self.step_finished(token, report)
        report.recorded = True


def masked(report: StepReport, secrets: Secrets) -> StepReport:
    """The report with the project's secrets hidden in its error and warnings, before the
    catalog, the terminal or OpenLineage sees it: connectors hide their own, but an error
    from a driver or a Python step may quote a secret in any form."""
    if report.error:
        report.error = secrets.redact(report.error)
    if report.summary is not None and report.summary.warnings:
        report.summary = report.summary.redacted(secrets.redact)
    return report


def begin_run(workspace: Workspace, settings: dict[str, Any]) -> int:
    """Record a new run (with the process that runs it, so a later command can tell whether
    it died) and mark earlier runs whose process is gone as died. Call with the run lock."""
    return workspace.catalog.start_run(
        workspace.project.name,
        __version__,
        git_state(workspace.project.root),
        settings,
        process=this_process(),
    )


def run_project(
    workspace: Workspace,
    *,
    force: bool | Collection[str] = False,
    dry_run: bool = False,
    full_refresh: bool = False,
    on_start: Callable[[Step], None] | None = None,
    on_report: Callable[[StepReport], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
    only: Collection[str] | None = None,
    kinds: Registry[StepKind] = KINDS,
) -> RunResult:
    """Run the project's steps (of `kinds`, the registered step kinds by default)."""
    project = workspace.project
    plan = build_plan(project, kinds)
    options = RunOptions(full_refresh=full_refresh, progress=on_progress)
    if dry_run:
        runner = Runner(
            plan.pipeline,
            ProjectExecutor(workspace, plan.sql_models, -1, options, kinds),
            _ReadOnlyHistory(workspace.catalog),
        )
        return RunResult(None, runner.run(force=force, dry_run=True, only=only))
    with run_lock(project.workspace):
        workspace.catalog.record_docs(table_entries(project, plan))
        run_id = begin_run(workspace, dict(workspace.engine.settings()))
        secrets = project_secrets(project.config)
        notices = [
            secrets.redact(f"run {died.run_id} died: {died.note}; marked as died")
            for died in reap_dead_runs(workspace.catalog, lock_held=True, by=f"run {run_id}")
        ]
        for notice in notices:
            if on_notice:
                on_notice(notice)
        history = CatalogHistory(workspace.catalog, run_id, secrets)

        def report(step_report: StepReport) -> None:
            if not step_report.recorded:  # skipped, blocked, or failed before it could start
                history.record_not_run(step_report)
            if on_report:
                on_report(step_report)

        executor = ProjectExecutor(workspace, plan.sql_models, run_id, options, kinds)
        emitter = None
        if project.config.openlineage is not None:
            emitter = OpenLineageEmitter(
                workspace,
                project.config.openlineage,
                lambda tables: build_graph(project, workspace.catalog, plan, only=tables),
                executor.reads_of,
                executor.writes_of,
            )

        def started(step: Step) -> None:
            if emitter:
                emitter.started(step)
            if on_start:
                on_start(step)

        def finished(step_report: StepReport) -> None:
            masked(step_report, secrets)
            if emitter:
                emitter.finished(step_report)
            report(step_report)

        runner = Runner(plan.pipeline, executor, history, on_report=finished, on_start=started)
        status = "failed"
        try:
            reports = runner.run(force=force, only=only)
            warnings = [secrets.redact(w) for w in emitter.warnings] if emitter else []
            result = RunResult(run_id, reports, warnings=warnings, notices=notices)
            status = "succeeded" if result.ok else "failed"
        except BaseException as exc:
            _finish_quietly(workspace.catalog, run_id, exc)
            raise
        workspace.catalog.finish_run(run_id, status)
        return result


def _finish_quietly(catalog: Catalog, run_id: int, error: BaseException) -> None:
    """Mark a run (and any step it could not finish recording) failed while `error` is on its
    way out. If the catalog cannot take even that (a full disk), `error` is the one to show,
    and the next command finds this run's process gone and marks it died."""
    note = error.message if isinstance(error, WeirError) else type(error).__name__
    with suppress(WeirError):
        catalog.finish_run(run_id, "failed", note=note)


class _ReadOnlyHistory:
    """History for a dry run: reads the catalog, writes nothing."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def last_success(self, step: Step) -> PriorRun | None:
        return CatalogHistory(self.catalog, -1).last_success(step)

    def step_started(self, step: Step) -> int:
        raise AssertionError("a dry run executes nothing")

    def step_finished(self, token: int, report: StepReport) -> None:
        raise AssertionError("a dry run executes nothing")


def train_steps(project: Project, models: list[str] | None) -> tuple[list[str], set[str]]:
    """The train steps of `models` (all when None), and every step they need, included."""
    from weir.core.errors import ConfigError
    from weir.core.suggest import suggestion_text

    known = list(project.config.ml)
    names = models or known
    for name in names:
        if name not in known:
            raise ConfigError(
                f"no model '{name}' in ml:",
                fix=suggestion_text(name, known) if known else "declare one under ml: in weir.yaml",
            )
    if not names:
        raise ConfigError(
            "the project declares no models", fix="declare one under ml: in weir.yaml"
        )
    pipeline = build_plan(project).pipeline
    targets = [f"train:{name}" for name in names]
    needed = set(targets)
    for target in targets:
        needed |= pipeline.upstream(target)
    return targets, needed
