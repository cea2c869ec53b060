"""Turn a project into a Pipeline of steps (pure: reads the project, touches no data).

The shared part is done here: SQL models parsed (their reads refused where they would see
raw PII), views kept from what cannot read them, every check compiled against the sandbox.
Then each registered step kind plans its own steps (`weir.app.kinds`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from weir.app.kinds import KINDS, Planning, StepKind
from weir.app.kinds.planning import view_models
from weir.app.workspace import engine_factory
from weir.core.errors import ConfigError
from weir.core.plugins import Registry
from weir.dag import Pipeline, Step
from weir.engines.sandbox import SandboxError, check_sql, parser
from weir.project import Project
from weir.project.secrets import project_secrets
from weir.quality import compile_check
from weir.transform import SqlModel, parse_model

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


@dataclass(frozen=True)
class Plan:
    pipeline: Pipeline
    sql_models: dict[str, SqlModel]


def build_plan(project: Project, kinds: Registry[StepKind] = KINDS) -> Plan:
    engine_factory(project)  # an engine this Weir has, or the plan stops here
    models: dict[str, SqlModel] = {}
    views = view_models(project)
    planning = Planning(project, models, views, project_secrets(project.config))
    tables = project.tables()
    with parser() as connection:
        for name, file in project.sql_models.items():
            display = file.path.relative_to(project.root).as_posix()
            model = parse_model(
                file, [t for t in tables if t != name] + [name], display, connection
            )
            planning.refuse_raw_pii(display, model.dependencies)
            models[name] = model
        _refuse_reading_views(project, views)
        _compile_checks(project, connection)
    steps: list[Step] = []
    for kind in kinds:
        steps += kinds.get(kind).plan(planning)
    return Plan(Pipeline(steps), models)


def _refuse_reading_views(project: Project, views: set[str]) -> None:
    """A view has no stored version: only SQL models can read it."""
    config = project.config
    uses = [(f"checks.{t}", t) for t in config.checks]
    uses += [(f"ml.{n}.table", s.table) for n, s in config.ml.items()]
    uses += [(f"clean.{t}", t) for t in project.cleaned_tables()]
    uses += [(f"steps.{n}.inputs", t) for n, s in config.steps.items() for t in s.inputs]
    uses += [
        (f"checks.{t} (relationships to)", c.to)
        for t, checks in config.checks.items()
        for c in checks
        if c.rule == "relationships"
    ]
    for where, table in uses:
        if table in views:
            raise ConfigError(
                f"{where}: '{table}' is a view, which keeps no data to check, train on or pass to Python",
                fix=f"make it a table (models.{table}.materialized: table) or read it from a SQL model",
            )


def _compile_checks(project: Project, parser: DuckDBPyConnection) -> None:
    """Compile every check now and check the SQL it will run against the engine's sandbox,
    so an expression that does not parse, or names what the sandbox refuses, stops the plan
    with its place before anything runs."""
    for table, checks in project.config.checks.items():
        for index, check in enumerate(checks):
            where = f"weir.yaml checks.{table}[{index}]"
            try:
                for compiled in compile_check(check):
                    check_sql(compiled.count_sql(), ["t", *compiled.reads], parser, what=where)
            except SandboxError as exc:
                raise ConfigError(exc.message, fix=exc.fix) from None
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc.message}", fix=exc.fix) from None
