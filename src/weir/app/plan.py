"""Turn a project into a Pipeline of steps (pure: reads the project, touches no data)."""

from __future__ import annotations

from dataclasses import dataclass

from weir.core.version import __version__
from weir.dag import Pipeline, Step
from weir.project import Project
from weir.transform import SqlModel, parse_model


@dataclass(frozen=True)
class Plan:
    pipeline: Pipeline
    sql_models: dict[str, SqlModel]


def ready_step(project: Project, table: str) -> str:
    """The step after which a table may be read: its checks if it has any, else its maker."""
    if project.config.checks.get(table):
        return f"check:{table}"
    return f"source:{table}" if table in project.config.sources else f"sql:{table}"


def build_plan(project: Project) -> Plan:
    config = project.config
    steps: list[Step] = []
    for name, source in config.sources.items():
        steps.append(
            Step(
                name=f"source:{name}",
                kind="source",
                target=name,
                definition=source.model_dump(mode="json"),
                code=f"weir {__version__} files",
                where=f"weir.yaml sources.{name}",
            )
        )
    tables = project.tables()
    models: dict[str, SqlModel] = {}
    for name, file in project.sql_models.items():
        display = file.path.relative_to(project.root).as_posix()
        model = parse_model(file, [t for t in tables if t != name] + [name], display)
        models[name] = model
        steps.append(
            Step(
                name=f"sql:{name}",
                kind="sql",
                target=name,
                after=tuple(ready_step(project, d) for d in model.dependencies),
                definition={"materialized": "table"},
                code=model.normalised,
                where=display,
            )
        )
    for table, checks in config.checks.items():
        if not checks:
            continue
        producer = f"source:{table}" if table in config.sources else f"sql:{table}"
        steps.append(
            Step(
                name=f"check:{table}",
                kind="check",
                target=table,
                after=(producer,),
                definition={"checks": [c.model_dump(mode="json") for c in checks]},
                code=f"weir {__version__} checks",
                where=f"weir.yaml checks.{table}",
            )
        )
    for name, train in config.ml.items():
        steps.append(
            Step(
                name=f"train:{name}",
                kind="train",
                target=name,
                after=(ready_step(project, train.table),),
                definition=train.model_dump(mode="json"),
                code=f"weir {__version__} train",
                where=f"weir.yaml ml.{name}",
            )
        )
    return Plan(Pipeline(steps), models)
