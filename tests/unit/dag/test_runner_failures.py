"""However a step fails, the runner records it as failed and says what happened in one line;
the traceback is kept apart for --debug. A step is never left 'running'."""

from __future__ import annotations

import pytest
from tests.unit.dag.test_runner import MemoryExecutor, MemoryHistory, Seen, make

from weir.core import CatalogError
from weir.dag import Runner, Step, StepReport


class PanicException(BaseException):
    """What pyo3 raises for a Rust panic (connectorx, deltalake): not an Exception."""


class Raising(MemoryExecutor):
    def __init__(self, base: MemoryExecutor, error: BaseException, where: str = "execute") -> None:
        super().__init__(base.pipeline, base.sources)
        self.error, self.where = error, where

    def execute(self, step: Step, token: int, observed: Seen) -> None:
        if step.name == "src_a" and self.where == "execute":
            raise self.error
        super().execute(step, token, observed)

    def observe_inputs(self, step: Step) -> Seen:
        if step.name == "src_a" and self.where == "observe":
            raise self.error
        return super().observe_inputs(step)


class Recording(MemoryHistory):
    def __init__(self) -> None:
        super().__init__()
        self.finished: dict[str, StepReport] = {}

    def step_finished(self, token: int, report: StepReport) -> None:
        self.finished[report.step.name] = report
        super().step_finished(token, report)


def test_a_panic_is_recorded_as_a_failure_in_one_line() -> None:
    pipeline, executor, _ = make()
    history = Recording()
    error = PanicException('cx writer failed: Source(SQLiteError(InvalidColumnType(1, "v", Text)))')
    reports = {r.step.name: r for r in Runner(pipeline, Raising(executor, error), history).run()}
    failed = reports["src_a"]
    assert failed.status == "failed" and history.finished["src_a"].status == "failed"
    assert failed.error is not None and failed.error.startswith(
        "unexpected PanicException: cx writer failed"
    )
    assert "Traceback" not in failed.error and "--debug" in failed.error
    assert failed.trace is not None and "Traceback" in failed.trace
    assert reports["ab"].status == "blocked" and reports["other"].status == "succeeded"


def test_an_interrupt_is_recorded_then_passed_on() -> None:
    pipeline, executor, _ = make()
    history = Recording()
    with pytest.raises(KeyboardInterrupt):
        Runner(pipeline, Raising(executor, KeyboardInterrupt()), history).run()
    assert history.finished["src_a"].status == "failed"
    assert history.finished["src_a"].error == "interrupted"


def test_an_unexpected_error_reading_inputs_fails_the_step_not_the_run() -> None:
    pipeline, executor, _ = make()
    error = PermissionError(13, "Permission denied", "data/a.csv")
    reports = {
        r.step.name: r
        for r in Runner(pipeline, Raising(executor, error, "observe"), MemoryHistory()).run()
    }
    assert reports["src_a"].status == "failed"
    assert reports["src_a"].reason == "inputs could not be read"
    assert "PermissionError" in (reports["src_a"].error or "")
    assert reports["other"].status == "succeeded"


def test_a_catalog_that_cannot_record_the_outcome_stops_the_run_saying_so() -> None:
    pipeline, executor, _ = make()
    executor.failing.add("src_a")

    class Full(MemoryHistory):
        def step_finished(self, token: int, report: StepReport) -> None:
            raise CatalogError("the catalog at c.db could not be written: database or disk is full")

    with pytest.raises(CatalogError) as info:
        Runner(pipeline, executor, Full()).run()
    assert "disk is full" in info.value.message
    assert "the outcome of step src_a (failed (step src_a: boom)) could not be recorded" in (
        info.value.message
    )
