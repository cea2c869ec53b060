"""Benchmark harness: time Weir and a baseline in the same process, interleaved, and print
the ratio. Machines here are noisy, so only the ratio is evidence; absolute times are not.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    name: str
    weir: list[float]
    baseline: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.weir) / statistics.median(self.baseline)

    def report(self) -> str:
        w, b = statistics.median(self.weir), statistics.median(self.baseline)
        return (
            f"{self.name}: weir median {w:.2f}s, baseline median {b:.2f}s over {len(self.weir)} rounds "
            f"-> ratio weir/baseline = {self.ratio:.2f}x"
        )


def compare(
    name: str,
    weir: Callable[[], None],
    baseline: Callable[[], None],
    *,
    rounds: int = 3,
    prepare: Callable[[], None] | None = None,
) -> Result:
    """Alternate baseline and Weir `rounds` times (so drift hits both), timing each call."""
    weir_times: list[float] = []
    baseline_times: list[float] = []
    for round_number in range(rounds):
        order = [("baseline", baseline), ("weir", weir)]
        if round_number % 2:
            order.reverse()
        for label, function in order:
            if prepare:
                prepare()
            started = time.perf_counter()
            function()
            elapsed = time.perf_counter() - started
            (weir_times if label == "weir" else baseline_times).append(elapsed)
            print(f"  round {round_number + 1} {label:<8} {elapsed:7.2f}s", flush=True)
    return Result(name, weir_times, baseline_times)


def run_weir_fresh(directory: Path, succeeded: int | None = None) -> None:
    """`weir run` in-process on a project with an empty workspace (a cold, whole run)."""
    from weir.app import open_workspace, run_project
    from weir.project import load_project

    shutil.rmtree(directory / ".weir", ignore_errors=True)
    workspace = open_workspace(load_project(directory))
    try:
        result = run_project(workspace)
        assert result.ok, [r.error for r in result.reports]
        assert succeeded is None or result.count("succeeded") == succeeded
    finally:
        workspace.close()
