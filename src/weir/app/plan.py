"""Turn a project into a Pipeline of steps (pure: reads the project, touches no data)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from weir.core.errors import ConfigError
from weir.core.secrets import Secrets
from weir.core.version import __version__
from weir.dag import Pipeline, Step
from weir.engines.sandbox import SandboxError, check_sql, parser
from weir.project import Project
from weir.project.secrets import project_secrets
from weir.quality import compile_check
from weir.transform import SqlModel, code_identity, parse_model

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


@dataclass(frozen=True)
class Plan:
    pipeline: Pipeline
    sql_models: dict[str, SqlModel]


def key_identity(key: str) -> str:
    """What the governance key contributes to the clean step's cache key: a slow, salted
    derivation (scrypt), since the catalog keeps the digest of every definition and one fast
    SHA-256 of the key let anyone holding the catalog test guesses of it by the million."""
    return hashlib.scrypt(
        key.encode(), salt=b"weir-governance-key", n=2**14, r=8, p=1, dklen=32
    ).hex()


def _without_secrets(value: Any, secrets: Secrets) -> Any:
    """A source's configuration as its definition keeps it: every secret (a URL's password,
    credential headers and parameters, the bearer token) replaced by ***. The catalog keeps
    the definition's digest, which must not let a guess of a secret be tested; and a rotated
    password changes no data."""
    if isinstance(value, str):
        return secrets.redact(value)
    if isinstance(value, dict):
        return {k: _without_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v, secrets) for v in value]
    return value


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


def _refuse_raw_pii(project: Project, reader: str, tables: Iterable[str]) -> None:
    """Raw PII never reaches a table past the governed layer: only clean steps read it."""
    cleaned = project.cleaned_tables()
    for table in tables:
        columns = project.ungoverned_pii(table)
        if columns:
            raise ConfigError(
                f"{reader} reads '{table}', whose PII columns ({', '.join(columns)}) are governed "
                f"only in '{cleaned[table]}'",
                fix=f"read '{cleaned[table]}' instead",
            )


def view_models(project: Project) -> set[str]:
    return {n for n, s in project.model_settings.items() if s.materialized == "view"}


def views_read(models: dict[str, SqlModel], views: set[str], name: str) -> list[str]:
    """Views `name` reads, directly or through other views, dependencies first."""
    order: list[str] = []

    def visit(table: str) -> None:
        for dependency in models[table].dependencies:
            if dependency in views and dependency not in order:
                visit(dependency)
                order.append(dependency)

    visit(name)
    return order


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


def _related_tables(checks: list[Any]) -> list[str]:
    return sorted({c.to for c in checks if c.rule == "relationships"})


def _quarantine_definition(project: Project, table: str) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json") for c in checks_of(project, table, ("quarantine",))]


def build_plan(project: Project) -> Plan:
    config = project.config
    secrets = project_secrets(config)
    steps: list[Step] = []
    for name, source in config.sources.items():
        steps.append(
            Step(
                name=f"source:{name}",
                kind="source",
                target=name,
                after=tuple(
                    ready_step(project, t)
                    for t in _related_tables(checks_of(project, name, ("quarantine",)))
                ),
                definition={
                    **_without_secrets(source.model_dump(mode="json"), secrets),
                    "quarantine_checks": _quarantine_definition(project, name),
                },
                code=f"weir {__version__} {source.kind} source",
                where=f"weir.yaml sources.{name}",
                always=None
                if source.kind == "file" or str(getattr(source, "url", "")).startswith("sqlite")
                else f"a {source.kind} source is read to find what is new",
            )
        )
    for raw, target in project.cleaned_tables().items():
        clean = config.clean.get(raw)
        policies = config.governance.for_table(raw)
        key = config.governance.key
        steps.append(
            Step(
                name=f"clean:{raw}",
                kind="clean",
                target=target,
                after=(ready_step(project, raw),),
                definition={
                    "table": raw,
                    "rules": [r.model_dump(mode="json") for r in clean.rules] if clean else [],
                    "governance": {
                        c: p.model_dump(mode="json", by_alias=True) for c, p in policies.items()
                    },
                    # the key changes every pseudonym, so what it derives (never the key) is part
                    # of the definition
                    "key": key_identity(key) if key and policies else None,
                },
                code=f"weir {__version__} clean",
                where=f"weir.yaml clean.{raw}" if clean else f"weir.yaml governance ({raw})",
            )
        )
    tables = project.tables()
    models: dict[str, SqlModel] = {}
    with parser() as connection:
        for name, file in project.sql_models.items():
            display = file.path.relative_to(project.root).as_posix()
            model = parse_model(
                file, [t for t in tables if t != name] + [name], display, connection
            )
            _refuse_raw_pii(project, display, model.dependencies)
            models[name] = model
        views = view_models(project)
        _refuse_reading_views(project, views)
        _compile_checks(project, connection)

    def waits_for(table: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """The steps that must finish before `table` can be read (through views)."""
        if table in views:
            if table in seen:
                raise ConfigError(
                    f"views read each other in a cycle through '{table}'", fix="break the cycle"
                )
            found: set[str] = set()
            for dependency in models[table].dependencies:
                found |= waits_for(dependency, seen | {table})
            return found
        return {ready_step(project, table)}

    for name, model in models.items():
        if name in views:
            continue
        settings = project.model_settings.get(name)
        related = _related_tables(checks_of(project, name, ("quarantine",)))
        after: set[str] = {ready_step(project, t) for t in related}
        for dependency in model.dependencies:
            after |= waits_for(dependency)
        steps.append(
            Step(
                name=f"sql:{name}",
                kind="sql",
                target=name,
                after=tuple(sorted(after)),
                definition={
                    "materialized": settings.materialized if settings else "table",
                    "incremental": settings.incremental.model_dump(mode="json")
                    if settings and settings.incremental
                    else None,
                    "quarantine_checks": _quarantine_definition(project, name),
                    "views": {v: models[v].normalised for v in views_read(models, views, name)},
                },
                code=model.normalised,
                where=model.path,
            )
        )
    for name, spec in config.steps.items():
        _refuse_raw_pii(project, f"steps.{name}", spec.inputs)
        steps.append(
            Step(
                name=f"python:{name}",
                kind="python",
                target=name,
                after=tuple(sorted({ready_step(project, t) for t in spec.inputs})),
                definition={
                    **spec.model_dump(mode="json"),
                    "quarantine_checks": _quarantine_definition(project, name),
                },
                code=code_identity(project.root, spec.path)
                if (project.root / spec.path).is_file()
                else f"missing {spec.path}",
                where=f"weir.yaml steps.{name} ({spec.function})",
            )
        )
    for table in config.checks:
        checks = checks_of(project, table, ("error", "warn"))
        if not checks:
            continue
        related = [ready_step(project, t) for t in _related_tables(checks) if t != table]
        steps.append(
            Step(
                name=f"check:{table}",
                kind="check",
                target=table,
                after=tuple(sorted({maker_step(project, table), *related})),
                definition={"checks": [c.model_dump(mode="json") for c in checks]},
                code=f"weir {__version__} checks",
                where=f"weir.yaml checks.{table}",
                always="freshness depends on the clock"
                if any(c.rule == "freshness" for c in checks)
                else None,
            )
        )
    for name, train in config.ml.items():
        _refuse_raw_pii(project, f"ml.{name}", [train.table])
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
