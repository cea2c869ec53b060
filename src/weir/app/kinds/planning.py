"""What every step kind needs to plan its steps: which step makes a table, after which step
it may be read, and the refusals every reader obeys. Pure: reads the project, touches no data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from weir.core.errors import ConfigError
from weir.core.secrets import Secrets
from weir.project import Project
from weir.transform import SqlModel


def checks_of(project: Project, table: str, severities: tuple[str, ...]) -> list[Any]:
    return [c for c in project.config.checks.get(table, []) if c.severity in severities]


def ready_step(project: Project, table: str) -> str:
    """The step after which a table may be read: its check step if it has one, else its maker.

    Quarantine-severity checks run inside the maker (bad rows never enter a version); error
    and warn checks run in a check step that gates every reader of the table.
    """
    if checks_of(project, table, ("error", "warn")):
        return f"check:{table}"
    return maker_step(project, table)


def maker_step(project: Project, table: str) -> str:
    if table in project.config.sources:
        return f"source:{table}"
    cleaned_from = {target: raw for raw, target in project.cleaned_tables().items()}
    if table in cleaned_from:
        return f"clean:{cleaned_from[table]}"
    if table in project.config.steps:
        return f"python:{table}"
    return f"sql:{table}"


def view_models(project: Project) -> set[str]:
    return {n for n, s in project.model_settings.items() if s.materialized == "view"}


def views_read(models: Mapping[str, SqlModel], views: AbstractSet[str], name: str) -> list[str]:
    """Views `name` reads, directly or through other views, dependencies first."""
    order: list[str] = []

    def visit(table: str) -> None:
        for dependency in models[table].dependencies:
            if dependency in views and dependency not in order:
                visit(dependency)
                order.append(dependency)

    visit(name)
    return order


def related_tables(checks: Iterable[Any]) -> list[str]:
    """The tables `relationships` checks compare with."""
    return sorted({c.to for c in checks if c.rule == "relationships"})


@dataclass(frozen=True)
class Planning:
    """The project as the step kinds plan from it: its SQL models parsed (views among
    them), and its secrets, which no step definition may keep."""

    project: Project
    models: Mapping[str, SqlModel]
    views: set[str]
    secrets: Secrets

    def ready_step(self, table: str) -> str:
        return ready_step(self.project, table)

    def maker_step(self, table: str) -> str:
        return maker_step(self.project, table)

    def checks_of(self, table: str, severities: tuple[str, ...]) -> list[Any]:
        return checks_of(self.project, table, severities)

    def quarantine_definition(self, table: str) -> list[dict[str, Any]]:
        """The quarantine-severity checks of `table`, part of its maker's definition: they
        run inside that step."""
        return [c.model_dump(mode="json") for c in self.checks_of(table, ("quarantine",))]

    def after_quarantine_tables(self, table: str) -> set[str]:
        """The steps after which the tables `table`'s quarantine rules compare with are ready."""
        related = related_tables(self.checks_of(table, ("quarantine",)))
        return {self.ready_step(t) for t in related}

    def refuse_raw_pii(self, reader: str, tables: Iterable[str]) -> None:
        """Raw PII never reaches a table past the governed layer: only clean steps read it."""
        cleaned = self.project.cleaned_tables()
        for table in tables:
            columns = self.project.ungoverned_pii(table)
            if columns:
                raise ConfigError(
                    f"{reader} reads '{table}', whose PII columns ({', '.join(columns)}) are "
                    f"governed only in '{cleaned[table]}'",
                    fix=f"read '{cleaned[table]}' instead",
                )

    def waits_for(self, table: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """The steps that must finish before `table` can be read (through views)."""
        if table in self.views:
            if table in seen:
                raise ConfigError(
                    f"views read each other in a cycle through '{table}'", fix="break the cycle"
                )
            found: set[str] = set()
            for dependency in self.models[table].dependencies:
                found |= self.waits_for(dependency, seen | {table})
            return found
        return {self.ready_step(table)}
