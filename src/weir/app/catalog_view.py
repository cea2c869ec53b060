"""The catalog as people browse it: every table with its docs, searched and described."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from weir.app.kinds.planning import maker_step
from weir.app.plan import Plan
from weir.app.workspace import Workspace
from weir.catalog import CheckRecord, VersionRecord
from weir.core.errors import NotFoundError
from weir.core.suggest import suggestion_text
from weir.project import Project


def table_entries(project: Project, plan: Plan) -> list[dict[str, Any]]:
    """One entry per table the project makes: kind, maker step, docs and what it reads."""
    cleaned = project.cleaned_tables()
    cleaned_from = {target: raw for raw, target in cleaned.items()}
    entries = []
    for table in project.tables():
        if table in project.config.sources:
            kind, reads = "source", []
        elif table in cleaned_from:
            kind, reads = "clean", [cleaned_from[table]]
        elif table in project.config.steps:
            kind, reads = "python", list(project.config.steps[table].inputs)
        else:
            kind, reads = "model", list(plan.sql_models[table].dependencies)
        entries.append(
            {
                "name": table,
                "kind": kind,
                "made_by": maker_step(project, table),
                "docs": project.docs(table),
                "reads": reads,
            }
        )
        if kind == "source":
            entries.append(
                {
                    "name": f"{table}__quarantine",
                    "kind": "quarantine",
                    "made_by": f"source:{table}",
                    "docs": {
                        "description": f"rows of {table} set aside, with the reason",
                        "owner": None,
                        "tags": [],
                        "columns": {},
                        "classes": {},
                    },
                    "reads": [],
                }
            )
    return entries


def search(
    entries: list[dict[str, Any]], query: str | None, tag: str | None
) -> list[dict[str, Any]]:
    """Entries whose name, description, owner, tags, column names or descriptions contain
    `query` (any case), and that carry `tag` when one is given."""
    found = []
    for entry in entries:
        docs = entry["docs"]
        if tag and tag not in docs.get("tags", []):
            continue
        if query:
            haystack = " ".join(
                [
                    entry["name"],
                    docs.get("description") or "",
                    docs.get("owner") or "",
                    *docs.get("tags", []),
                    *docs.get("columns", {}).keys(),
                    *docs.get("columns", {}).values(),
                    *docs.get("classes", {}).values(),
                ]
            ).lower()
            if query.lower() not in haystack:
                continue
        found.append(entry)
    return found


@dataclass
class Description:
    entry: dict[str, Any]
    current: VersionRecord | None
    versions: int
    columns: list[dict[str, Any]] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    checks: list[CheckRecord] = field(default_factory=list)


def describe(ws: Workspace, plan: Plan, table: str) -> Description:
    project = ws.project
    entries = {e["name"]: e for e in table_entries(project, plan)}
    if table not in entries:
        raise NotFoundError(
            f"no table '{table}' in this project", fix=suggestion_text(table, entries)
        )
    entry = entries[table]
    current = ws.catalog.current_version(table)
    profile = ws.catalog.profile(current.id) if current else None
    by_name = {c["name"]: c for c in (profile or {}).get("columns", [])}
    cleaned_from = {target: raw for raw, target in project.cleaned_tables().items()}
    governed_as = cleaned_from.get(table, table)
    policies = project.config.governance.for_table(governed_as)
    columns = []
    for field_ in current.schema if current else []:
        name = field_["name"]
        stats = by_name.get(name, {})
        policy = policies.get(name)
        columns.append(
            {
                "name": name,
                "type": field_["type"],
                "description": entry["docs"].get("columns", {}).get(name, ""),
                "class": f"{policy.class_} ({policy.action})"
                if policy
                else entry["docs"].get("classes", {}).get(name, ""),
                "null_fraction": stats.get("null_fraction"),
                "distinct": stats.get("distinct_approx"),
            }
        )
    readers = sorted(name for name, e in entries.items() if table in e["reads"])
    models = sorted(name for name, spec in project.config.ml.items() if spec.table == table)
    return Description(
        entry=entry,
        current=current,
        versions=len(ws.catalog.versions(table)),
        columns=columns,
        readers=readers,
        models=models,
        checks=ws.catalog.latest_checks(table),
    )
