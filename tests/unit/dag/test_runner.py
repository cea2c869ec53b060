"""The runner against in-memory stand-ins for the executor and the history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weir.core import StepError
from weir.dag import InputState, Pipeline, PriorRun, Runner, Step, StepReport


@dataclass(frozen=True)
class Seen:
    """What the memory executor observed: the input states, and the step they were seen for."""

    inputs: Mapping[str, InputState]
    step: str
    always: str | None = None


class MemoryHistory:
    def __init__(self) -> None:
        self.successes: dict[str, PriorRun] = {}
        self.run_id = 0
        self.tokens: dict[int, Step] = {}

    def last_success(self, step: Step) -> PriorRun | None:
        return self.successes.get(step.name)

    def step_started(self, step: Step) -> int:
        token = len(self.tokens) + 1
        self.tokens[token] = step
        return token

    def step_finished(self, token: int, report: StepReport) -> None:
        if report.status == "succeeded" and report.key is not None:
            self.successes[report.step.name] = PriorRun(
                self.run_id, report.key.digest, report.key.as_record()
            )


class MemoryExecutor:
    """Each step's output is a value; a step's output = f(its inputs, its definition)."""

    def __init__(self, pipeline: Pipeline, sources: dict[str, str]) -> None:
        self.pipeline = pipeline
        self.sources = sources
        self.outputs: dict[str, str] = {}
        self.executed: list[str] = []
        self.failing: set[str] = set()
        self.missing_outputs: set[str] = set()
        self.observed: dict[str, Seen] = {}  # what execute was handed, by step
        self.unobservable: dict[str, str] = {}  # step -> why only running it can tell

    def observe_inputs(self, step: Step) -> Seen:
        if not step.after:
            seen = {"file": InputState(self.sources[step.name])}
            return Seen(seen, step.name, self.unobservable.get(step.name))
        return Seen({d: InputState(self.outputs[d]) for d in step.after}, step.name)

    def settings(self, step: Step) -> Mapping[str, Any]:
        return {"engine": "memory"}

    def output_present(self, step: Step, prior: PriorRun) -> bool:
        return step.name not in self.missing_outputs

    def execute(self, step: Step, token: int, observed: Seen) -> None:
        self.executed.append(step.name)
        self.observed[step.name] = observed
        if step.name in self.failing:
            raise StepError(step.name, "boom", fix="stop failing")
        if step.after:
            value = "+".join(self.outputs[d] for d in step.after) + str(
                step.definition.get("op", "")
            )
        else:
            value = self.sources[step.name]
        self.outputs[step.name] = str(step.definition.get("constant", value))


def make(
    definitions: dict[str, dict[str, Any]] | None = None,
) -> tuple[Pipeline, MemoryExecutor, MemoryHistory]:
    definitions = definitions or {}
    pipeline = Pipeline(
        [
            Step("src_a", "source", "a", definition=definitions.get("src_a", {})),
            Step("src_b", "source", "b", definition=definitions.get("src_b", {})),
            Step("ab", "sql", "ab", ("src_a", "src_b"), definition=definitions.get("ab", {})),
            Step("final", "sql", "final", ("ab",), definition=definitions.get("final", {})),
            Step("other", "sql", "other", ("src_b",), definition=definitions.get("other", {})),
        ]
    )
    executor = MemoryExecutor(pipeline, {"src_a": "A", "src_b": "B"})
    return pipeline, executor, MemoryHistory()


def statuses(reports: list[StepReport]) -> dict[str, str]:
    return {r.step.name: r.status for r in reports}


def test_first_run_runs_everything_then_everything_is_skipped() -> None:
    pipeline, executor, history = make()
    first = Runner(pipeline, executor, history).run()
    assert set(statuses(first).values()) == {"succeeded"}
    assert all(r.reason == "first run" for r in first)
    executor.executed.clear()
    second = Runner(pipeline, executor, history).run()
    assert set(statuses(second).values()) == {"skipped"}
    assert executor.executed == []


def test_changed_source_reruns_only_its_dependents() -> None:
    pipeline, executor, history = make()
    Runner(pipeline, executor, history).run()
    executor.sources["src_a"] = "A2"
    executor.executed.clear()
    reports = Runner(pipeline, executor, history).run()
    assert executor.executed == ["src_a", "ab", "final"]
    reasons = {r.step.name: r.reason for r in reports}
    assert reasons["src_a"].startswith("input file changed")
    assert reasons["ab"].startswith("input src_a changed")


def test_early_cutoff_when_a_rerun_makes_the_same_output() -> None:
    pipeline, executor, history = make({"ab": {"constant": "same"}})
    Runner(pipeline, executor, history).run()
    executor.sources["src_a"] = "A2"
    executor.executed.clear()
    Runner(pipeline, executor, history).run()
    assert executor.executed == ["src_a", "ab"]  # 'final' sees the same input content


def test_changed_definition_reruns_that_step() -> None:
    pipeline, executor, history = make()
    Runner(pipeline, executor, history).run()
    changed, _, _ = make({"other": {"op": "x"}})
    executor.executed.clear()
    reports = Runner(changed, executor, history).run()
    assert executor.executed == ["other"]
    assert {r.step.name: r.reason for r in reports}["other"] == "definition changed"


def test_failure_blocks_dependents_only_and_the_next_run_resumes() -> None:
    pipeline, executor, history = make()
    executor.failing = {"ab"}
    reports = statuses(Runner(pipeline, executor, history).run())
    assert reports == {
        "src_a": "succeeded",
        "src_b": "succeeded",
        "ab": "failed",
        "final": "blocked",
        "other": "succeeded",
    }
    executor.failing = set()
    executor.executed.clear()
    Runner(pipeline, executor, history).run()
    assert executor.executed == ["ab", "final"]


def test_failure_report_keeps_the_message_and_fix() -> None:
    pipeline, executor, history = make()
    executor.failing = {"src_b"}
    report = {r.step.name: r for r in Runner(pipeline, executor, history).run()}["src_b"]
    assert report.error is not None and "boom" in report.error and "stop failing" in report.error


def test_unexpected_exceptions_are_recorded_not_raised() -> None:
    pipeline, executor, history = make()

    def explode(step: Step, token: int, observed: Seen) -> None:
        raise ZeroDivisionError("oops")

    executor.execute = explode  # type: ignore[method-assign]
    reports = Runner(pipeline, executor, history).run()
    assert statuses(reports)["src_a"] == "failed"
    assert "unexpected ZeroDivisionError: oops" in (reports[0].error or "")


def test_missing_output_forces_a_rerun() -> None:
    pipeline, executor, history = make()
    Runner(pipeline, executor, history).run()
    executor.missing_outputs = {"final"}
    executor.executed.clear()
    reports = Runner(pipeline, executor, history).run()
    assert executor.executed == ["final"]
    assert {r.step.name: r.reason for r in reports}["final"] == "its output is missing or damaged"


def test_force_and_dry_run() -> None:
    pipeline, executor, history = make()
    dry = Runner(pipeline, executor, history).run(dry_run=True)
    assert set(statuses(dry).values()) == {"planned"}
    assert executor.executed == []
    Runner(pipeline, executor, history).run()
    executor.sources["src_b"] = "B2"
    plan = {r.step.name: r for r in Runner(pipeline, executor, history).run(dry_run=True)}
    assert plan["src_a"].status == "skipped"
    assert plan["src_b"].status == "planned"
    assert plan["other"].reason == "runs if src_b changes its output"
    executor.executed.clear()
    Runner(pipeline, executor, history).run(force=True)
    assert len(executor.executed) == 5


def test_execute_is_handed_what_observing_its_inputs_found() -> None:
    """The step works on what its cache key was made of, not on a second look."""
    pipeline, executor, history = make()
    Runner(pipeline, executor, history).run()
    assert executor.observed["src_a"] == Seen({"file": InputState("A")}, "src_a")
    assert executor.observed["ab"].step == "ab"
    assert set(executor.observed["ab"].inputs) == {"src_a", "src_b"}


def test_a_step_whose_inputs_cannot_be_seen_cheaply_runs_every_time_and_says_why() -> None:
    """An observation that says only a read can tell (a database server, an API) runs the
    step although its key is unchanged; its dependents still go by their keys."""
    pipeline, executor, history = make()
    Runner(pipeline, executor, history).run()
    executor.unobservable["src_a"] = "a sql source is read to find what is new"
    reports = {r.step.name: r for r in Runner(pipeline, executor, history).run()}
    assert reports["src_a"].status == "succeeded"
    assert reports["src_a"].reason == "a sql source is read to find what is new"
    assert all(r.status == "skipped" for n, r in reports.items() if n != "src_a")
