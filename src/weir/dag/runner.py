"""Executes a Pipeline: runs what changed, skips what did not, and says why for each step.

The runner knows nothing of tables, files or databases. The app layer gives it:
- an Executor, which observes a step's inputs and does its work;
- a History, which remembers step runs (the catalog, in practice).
A failed step stops only the steps that depend on it; the next run resumes there, because a
failed step has no successful run to match and its finished upstream steps are cached.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from weir.core.errors import WeirError
from weir.dag.cache import CacheKey, InputState, cache_key, explain_change
from weir.dag.graph import Pipeline, Step

Status = Literal["succeeded", "failed", "skipped", "blocked", "planned"]


@dataclass(frozen=True)
class PriorRun:
    """What History remembers of a step's last successful run."""

    run_id: int
    cache_key: str
    key_record: Mapping[str, Any]


class StepSummary(Protocol):
    """What a step that ran says it did. The runner only carries it; the app's step kinds
    make it (one type per kind), the CLI prints `outcome()`, the catalog keeps `as_record()`.
    """

    @property
    def warnings(self) -> tuple[str, ...]: ...

    @property
    def recovered(self) -> tuple[str, ...]: ...

    def outcome(self) -> str:
        """One line: what the step made (empty when there is nothing to say)."""
        ...

    def as_record(self) -> dict[str, Any]:
        """The summary as JSON-ready data, as the catalog stores it."""
        ...

    def redacted(self, redact: Callable[[str], str]) -> StepSummary:
        """The summary with each warning passed through `redact` (secrets hidden)."""
        ...


class Observation(Protocol):
    """What an Executor found when it observed a step's inputs: their states for the cache
    key, and whatever else it saw that the step's execution must use (the files it hashed),
    handed back to `execute` so the step works on exactly what its key was made of."""

    @property
    def inputs(self) -> Mapping[str, InputState]: ...

    @property
    def always(self) -> str | None:
        """Why the step must run although its key is unchanged: nothing cheap could tell
        whether its input changed (a database server, an API), so only reading it can."""
        ...


ObservationT = TypeVar("ObservationT", bound=Observation)


@dataclass
class StepReport:
    step: Step
    status: Status
    reason: str
    key: CacheKey | None = None
    error: str | None = None
    summary: StepSummary | None = None
    seconds: float = 0.0
    # the traceback of an unexpected error: for --debug and the catalog, never in `error`
    trace: str | None = None
    recorded: bool = False  # History has it (steps that ran); the rest are recorded by the app


class Executor(Protocol[ObservationT]):
    def observe_inputs(self, step: Step) -> ObservationT: ...

    def settings(self, step: Step) -> Mapping[str, Any]: ...

    def output_present(self, step: Step, prior: PriorRun) -> bool: ...

    def execute(self, step: Step, token: int, observed: ObservationT) -> StepSummary | None:
        """Do the step's work on what `observe_inputs` found for it in this run."""
        ...


class History(Protocol):
    def last_success(self, step: Step) -> PriorRun | None: ...

    def step_started(self, step: Step) -> int: ...

    def step_finished(self, token: int, report: StepReport) -> None: ...


class Runner(Generic[ObservationT]):
    def __init__(
        self,
        pipeline: Pipeline,
        executor: Executor[ObservationT],
        history: History,
        *,
        on_report: Callable[[StepReport], None] | None = None,
        on_start: Callable[[Step], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.executor = executor
        self.history = history
        self.on_report = on_report or (lambda _report: None)
        self.on_start = on_start or (lambda _step: None)

    def run(
        self,
        *,
        force: bool | Collection[str] = False,
        only: Collection[str] | None = None,
        dry_run: bool = False,
    ) -> list[StepReport]:
        """Run the pipeline. `only` limits the run to those steps (their inputs must exist)."""
        reports: dict[str, StepReport] = {}
        would_run: set[str] = set()
        for step in self.pipeline.order:
            if only is not None and step.name not in only:
                continue
            report = self._run_step(step, reports, would_run, force, dry_run)
            reports[step.name] = report
            if report.status == "planned":
                would_run.add(step.name)
            self.on_report(report)
        return list(reports.values())

    def _run_step(
        self,
        step: Step,
        reports: Mapping[str, StepReport],
        would_run: set[str],
        force: bool | Collection[str],
        dry_run: bool,
    ) -> StepReport:
        broken = [
            d for d in step.after if d in reports and reports[d].status in ("failed", "blocked")
        ]
        if broken:
            return StepReport(step, "blocked", f"not run: {', '.join(broken)} did not succeed")
        pending = [d for d in step.after if d in would_run]
        if dry_run and pending:
            if self.history.last_success(step) is None:
                return StepReport(step, "planned", "first run")
            return StepReport(step, "planned", f"runs if {', '.join(pending)} changes its output")
        try:
            observed = self.executor.observe_inputs(step)
            key = cache_key(
                definition=step.definition,
                code=step.code,
                settings=self.executor.settings(step),
                inputs=observed.inputs,
            )
        except WeirError as exc:
            return StepReport(step, "failed", "inputs could not be read", error=str(exc))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            report = StepReport(step, "failed", "inputs could not be read", error=_unexpected(exc))
            report.trace = "".join(traceback.format_exception(exc))
            return report
        prior = self.history.last_success(step)
        forced = force is True or (not isinstance(force, bool) and step.name in force)
        try:
            reason = self._why_run(step, key, prior, forced, observed.always)
        except WeirError as exc:
            return StepReport(step, "failed", "its output could not be checked", error=str(exc))
        if reason is None:
            assert prior is not None
            return StepReport(step, "skipped", f"unchanged since run {prior.run_id}", key=key)
        if dry_run:
            return StepReport(step, "planned", reason, key=key)
        return self._execute(step, key, reason, observed)

    def _why_run(
        self, step: Step, key: CacheKey, prior: PriorRun | None, forced: bool, always: str | None
    ) -> str | None:
        if forced:
            return "forced"
        if step.always or always:
            return step.always or always
        if prior is None:
            return "first run"
        if prior.cache_key != key.digest:
            changes = explain_change(prior.key_record, key)
            return "; ".join(changes) if changes else "cache key changed"
        if not self.executor.output_present(step, prior):
            return "its output is missing or damaged"
        return None

    def _execute(
        self, step: Step, key: CacheKey, reason: str, observed: ObservationT
    ) -> StepReport:
        """Run one step and record how it ended, whatever it raised: a step that failed is
        recorded as failed, never left 'running' while its process goes on."""
        self.on_start(step)
        token = self.history.step_started(step)
        started = time.perf_counter()
        try:
            summary = self.executor.execute(step, token, observed)
            report = StepReport(step, "succeeded", reason, key=key, summary=summary)
        except WeirError as exc:
            report = StepReport(step, "failed", reason, key=key, error=str(exc))
        except (KeyboardInterrupt, SystemExit) as exc:
            report = StepReport(step, "failed", reason, key=key, error=_interrupted(exc))
            report.seconds = time.perf_counter() - started
            self._record(token, report)
            raise
        except BaseException as exc:  # a library's panic (pyo3's PanicException) included
            report = StepReport(step, "failed", reason, key=key, error=_unexpected(exc))
            report.trace = "".join(traceback.format_exception(exc))
        report.seconds = time.perf_counter() - started
        self._record(token, report)
        return report

    def _record(self, token: int, report: StepReport) -> None:
        """Tell History how the step ended. If that fails (the catalog's disk is full), the
        run cannot go on unrecorded: the error says what failed and what the step did."""
        try:
            self.history.step_finished(token, report)
            report.recorded = True
        except WeirError as exc:
            outcome = report.status + (
                f" ({(report.error or '').splitlines()[0]})" if report.error else ""
            )
            exc.message += (
                f"; the outcome of step {report.step.name} ({outcome}) could not be recorded"
            )
            raise


def _unexpected(error: BaseException) -> str:
    """One line for an error no Weir code expected: its type and message, without the
    traceback (that is kept in StepReport.trace for --debug)."""
    text = " ".join(str(error).split())
    if len(text) > 500:
        text = text[:500] + " …"
    return (
        f"unexpected {type(error).__name__}: {text}\n"
        "  fix: run again with --debug for the traceback; if it repeats, report it with that"
    )


def _interrupted(error: BaseException) -> str:
    return "interrupted" if isinstance(error, KeyboardInterrupt) else "the process was stopped"
