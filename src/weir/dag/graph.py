"""The pipeline as pure data: steps, their dependencies, and a deterministic order.

No I/O here. The app layer builds a Pipeline from the project; the runner executes it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from weir.core.errors import ConfigError
from weir.core.suggest import suggestion_text


@dataclass(frozen=True)
class Step:
    """One node of the DAG.

    name:       unique, 'kind:target' (e.g. 'sql:customer_totals')
    target:     the table or model the step makes or checks
    after:      names of the steps that must finish first
    definition: what the user declared for this step; hashed into the cache key
    code:       what identifies the code that runs the step (SQL text, a version string)
    where:      a place the user can find the definition (a file, a key path)
    always:     a reason to run on every run (its result depends on the clock, say)
    """

    name: str
    kind: str
    target: str
    after: tuple[str, ...] = ()
    definition: Mapping[str, Any] = field(default_factory=dict)
    code: str = ""
    where: str = ""
    always: str | None = None


class Pipeline:
    """Steps in a dependency order that is the same on every run."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self._steps: dict[str, Step] = {}
        for step in steps:
            if step.name in self._steps:
                raise ConfigError(f"two steps are named '{step.name}'", fix="rename one of them")
            self._steps[step.name] = step
        for step in self._steps.values():
            for dependency in step.after:
                if dependency not in self._steps:
                    raise ConfigError(
                        f"{step.where or step.name}: depends on unknown step '{dependency}'",
                        fix=suggestion_text(dependency, self._steps),
                    )
        self.order: list[Step] = self._topological_order()

    def _topological_order(self) -> list[Step]:
        waiting = {name: set(step.after) for name, step in self._steps.items()}
        dependents: dict[str, list[str]] = {name: [] for name in self._steps}
        for name, step in self._steps.items():
            for dependency in step.after:
                dependents[dependency].append(name)
        ready = [name for name, deps in waiting.items() if not deps]
        heapq.heapify(ready)
        order: list[Step] = []
        while ready:
            name = heapq.heappop(ready)
            order.append(self._steps[name])
            for child in dependents[name]:
                waiting[child].discard(name)
                if not waiting[child]:
                    heapq.heappush(ready, child)
        if len(order) != len(self._steps):
            cycle = self._find_cycle({n for n, d in waiting.items() if d})
            where = " -> ".join(self._steps[n].where or n for n in cycle)
            raise ConfigError(
                f"the pipeline has a cycle: {where}",
                fix="a table cannot depend on itself, directly or through other models",
            )
        return order

    def _find_cycle(self, candidates: set[str]) -> list[str]:
        """One cycle among the steps that could not be ordered, closed (first == last)."""
        start = min(candidates)
        path: list[str] = []
        seen: dict[str, int] = {}
        node = start
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = min(d for d in self._steps[node].after if d in candidates)
        return [*path[seen[node] :], node]

    def __getitem__(self, name: str) -> Step:
        try:
            return self._steps[name]
        except KeyError:
            raise ConfigError(f"no step '{name}'", fix=suggestion_text(name, self._steps)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._steps

    def __len__(self) -> int:
        return len(self._steps)

    def names(self) -> list[str]:
        return [step.name for step in self.order]

    def upstream(self, name: str) -> set[str]:
        """Every step `name` depends on, directly or not."""
        found: set[str] = set()
        stack = list(self[name].after)
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(self._steps[current].after)
        return found

    def downstream(self, name: str) -> set[str]:
        """Every step that depends on `name`, directly or not."""
        self[name]
        found: set[str] = set()
        frontier = {name}
        while frontier:
            frontier = {s.name for s in self._steps.values() if frontier & set(s.after)} - found
            found |= frontier
        return found
