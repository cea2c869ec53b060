"""The step-kind seam: a kind known only to the registry it is added to is planned, run,
cached, recorded, read back and printed through the same path as Weir's own kinds."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text

from weir.app import build_plan, open_workspace, run_project
from weir.app.kinds import KINDS, Observed, Planning, RunContext, StepKind, stored_summary
from weir.cli.render import step_line
from weir.core import ConfigError
from weir.core.plugins import Registry
from weir.dag import Step
from weir.project import load_project


@dataclasses.dataclass(frozen=True, kw_only=True)
class CountSummary:
    table: str
    version: int
    rows: int
    warnings: tuple[str, ...] = ()
    recovered: tuple[str, ...] = ()

    def outcome(self) -> str:
        return f"counted {self.rows} rows of {self.table}@{self.version}"

    def as_record(self) -> dict[str, Any]:
        return {"table": self.table, "version": self.version, "rows": self.rows}

    def redacted(self, redact: Any) -> CountSummary:
        return self


class CountKind(StepKind):
    """Counts each source's rows after it loads: one step per source."""

    name = "count"

    def __init__(self) -> None:
        self.handed: list[Observed] = []

    def plan(self, planning: Planning) -> list[Step]:
        return [
            Step(
                name=f"count:{source}",
                kind=self.name,
                target=source,
                after=(planning.ready_step(source),),
                code="count v1",
            )
            for source in planning.project.config.sources
        ]

    def reads(self, step: Step, ctx: RunContext) -> list[str]:
        return [step.target]

    def execute(self, step: Step, ctx: RunContext, token: int, observed: Observed) -> CountSummary:
        self.handed.append(observed)
        record = ctx.current(step.target)
        return CountSummary(table=step.target, version=record.version, rows=record.row_count)

    def summary_from_record(self, record: Mapping[str, Any]) -> CountSummary:
        return CountSummary(**record)


def with_count() -> tuple[Registry[StepKind], CountKind]:
    kinds: Registry[StepKind] = Registry("step kind")
    for name in KINDS:
        kinds.add(name, KINDS.get(name))
    count = CountKind()
    kinds.add(count.name, count)
    return kinds, count


def project(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "t.csv").write_text("id\n1\n2\n3\n")
    (root / "weir.yaml").write_text(
        "name: p\nprofiles: {enabled: false}\nsources:\n  t: {format: csv, path: data/t.csv}\n"
    )
    return root


def test_a_registered_kind_is_planned_run_recorded_and_printed(tmp_path: Path) -> None:
    root = project(tmp_path)
    kinds, count = with_count()
    plan = build_plan(load_project(root), kinds)
    assert plan.pipeline["count:t"].after == ("source:t",)
    assert "count:t" not in build_plan(load_project(root)).pipeline  # only where registered
    ws = open_workspace(load_project(root))
    try:
        first = {r.step.name: r for r in run_project(ws, kinds=kinds).reports}
        report = first["count:t"]
        assert report.status == "succeeded" and report.summary == CountSummary(
            table="t", version=0, rows=3
        )
        # the runner handed execute what observing the step's inputs found
        [observed] = count.handed
        assert set(observed.inputs) == {"t"} and observed.inputs["t"].label == "v0"
        assert "(counted 3 rows of t@0)" in Text.from_markup(step_line(report)).plain
        stored = ws.catalog.last_success("count:t")
        assert stored is not None and stored.kind == "count"
        assert stored.summary == {"table": "t", "version": 0, "rows": 3}
        assert stored_summary(stored.kind, stored.summary, kinds) == report.summary
        again = {r.step.name: r for r in run_project(ws, kinds=kinds).reports}
        assert again["count:t"].status == "skipped" and len(count.handed) == 1
    finally:
        ws.close()


def test_a_summary_of_a_kind_nobody_registered_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="unknown step kind 'count'"):
        stored_summary("count", {"table": "t", "version": 0, "rows": 3})
