"""A project on disk: weir.yaml, sql/*.sql, and where its workspace lives."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from weir.core.errors import ConfigError
from weir.core.suggest import suggestion_text
from weir.project.loader import (
    PROJECT_FILE,
    Problem,
    ProjectFileError,
    parse_project_text,
    read_project_text,
)
from weir.project.model import IDENTIFIER, RESERVED_SUFFIXES, ModelConfig, ProjectConfig
from weir.project.sql_header import merge_docs, model_docs

SQL_DIR = "sql"


@dataclass(frozen=True)
class SqlModelFile:
    """A SQL model: the file name (without .sql) is the table it makes."""

    name: str
    path: Path
    text: str


@dataclass(frozen=True)
class Project:
    root: Path
    file: Path
    config: ProjectConfig
    sql_models: Mapping[str, SqlModelFile] = field(default_factory=dict)
    model_settings: Mapping[str, ModelConfig] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def workspace(self) -> Path:
        return self.root / self.config.workspace

    @property
    def lake_root(self) -> Path:
        return self.workspace / "lake"

    @property
    def artifacts_root(self) -> Path:
        return self.workspace / "artifacts"

    @property
    def catalog_url(self) -> str:
        if self.config.catalog.url:
            return self.config.catalog.url
        return f"sqlite:///{(self.workspace / 'catalog.db').as_posix()}"

    def tables(self) -> list[str]:
        """Every table the project makes: sources, cleaned tables, then SQL models."""
        return [
            *self.config.sources,
            *self.cleaned_tables().values(),
            *self.sql_models,
            *self.config.steps,
        ]

    def cleaned_tables(self) -> dict[str, str]:
        """Raw table -> the table its clean step makes."""
        config = self.config
        raw = list(
            dict.fromkeys([*config.clean, *(n.split(".")[0] for n in config.governance.columns)])
        )
        return {
            table: target for table in raw if (target := config.clean_target(table)) is not None
        }

    def docs(self, table: str) -> dict[str, object]:
        """Description, owner, tags and column descriptions of any table, wherever declared."""
        config = self.config
        if table in config.sources:
            return config.sources[table].docs()
        if table in self.model_settings:
            return self.model_settings[table].docs()
        if table in config.steps:
            return config.steps[table].docs()
        cleaned_from = {target: raw for raw, target in self.cleaned_tables().items()}
        if table in cleaned_from and cleaned_from[table] in config.clean:
            return config.clean[cleaned_from[table]].docs()
        return {"description": None, "owner": None, "tags": [], "columns": {}, "classes": {}}

    def ungoverned_pii(self, table: str) -> list[str]:
        """PII columns of `table` that its clean step governs: nothing but that step may read it."""
        return sorted(c for c, p in self.config.governance.for_table(table).items() if p.is_pii)


def find_project_file(start: Path) -> Path:
    """weir.yaml in `start` or the nearest parent directory, like git finds .git."""
    start = start.resolve()
    if start.is_file():
        return start
    for directory in (start, *start.parents):
        candidate = directory / PROJECT_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {PROJECT_FILE} in {start} or any parent directory",
        fix="run weir inside a project, pass --project DIR, or create one with 'weir init DIR'",
    )


def _inside_root(relative: str) -> bool:
    """True when a configured path cannot leave the project directory (checked lexically)."""
    if not relative or relative.startswith(("/", "\\", "~")) or "//" in relative or "#" in relative:
        return False
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    return ".." not in parts and not (len(relative) > 1 and relative[1] == ":")


def _path_problems(config: ProjectConfig) -> list[Problem]:
    """Paths holding control characters: NUL ends a path at the operating system (Python
    refuses it with a traceback), and ESC or a line break in a name is a terminal escape or
    a forged line wherever the path is printed."""
    paths = {"workspace": config.workspace}
    if config.openlineage and config.openlineage.file:
        paths["openlineage.file"] = config.openlineage.file
    for name, source in config.sources.items():
        for key, path in source.local_paths().items():
            paths[f"sources.{name}.{key}"] = path
    for name, step in config.steps.items():
        paths[f"steps.{name}.function"] = step.path
    return [
        Problem(key, "the path holds a control character", "name files with printable characters")
        for key, path in paths.items()
        if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in path)
    ]


def load_project(path: Path | str = ".", env: Mapping[str, str] | None = None) -> Project:
    """Load and validate a project; every problem is reported in one ConfigError."""
    file = find_project_file(Path(path))
    root = file.parent
    text = read_project_text(file)
    config = parse_project_text(text, file, os.environ if env is None else env)
    problems: list[Problem] = []
    sql_models: dict[str, SqlModelFile] = {}
    sql_dir = root / SQL_DIR
    if sql_dir.is_dir():
        for sql_file in sorted(sql_dir.glob("*.sql")):
            name = sql_file.stem
            if not IDENTIFIER.match(name):
                problems.append(
                    Problem(
                        f"{SQL_DIR}/{sql_file.name}",
                        f"'{name}' is not a valid table name",
                        "rename the file to lower case letters, digits and underscores",
                    )
                )
                continue
            sql_models[name] = SqlModelFile(name, sql_file, sql_file.read_text(encoding="utf-8"))
    problems.extend(_cross_check(config, sql_models))
    settings: dict[str, ModelConfig] = {}
    for name, model in sql_models.items():
        from_file, found = model_docs(model.text, f"{SQL_DIR}/{model.path.name}")
        merged, conflicts = merge_docs(from_file, config.models.get(name), name)
        problems.extend(found + conflicts)
        settings[name] = merged
    if problems:
        raise ProjectFileError(file, problems)
    return Project(
        root=root, file=file, config=config, sql_models=sql_models, model_settings=settings
    )


def _reserved_names(
    config: ProjectConfig,
    sql_models: Mapping[str, SqlModelFile],
    cleaned: Mapping[str, str | None],
) -> list[Problem]:
    """Names ending like the tables Weir makes beside a project's (NAME__quarantine,
    MODEL__predictions): such a table would be written over by Weir's, or over it."""
    named = [(f"sources.{n}", n) for n in config.sources]
    named += [(f"{SQL_DIR}/{m.path.name}", n) for n, m in sql_models.items()]
    named += [(f"steps.{n}", n) for n in config.steps]
    named += [(f"clean.{raw}.into", target) for raw, target in cleaned.items() if target]
    return [
        Problem(
            where,
            f"'{name}' ends with '{suffix}', which Weir reserves for its own tables",
            "choose a name that does not end so",
        )
        for where, name in named
        for suffix in RESERVED_SUFFIXES
        if name.endswith(suffix)
    ]


def _cross_check(config: ProjectConfig, sql_models: Mapping[str, SqlModelFile]) -> list[Problem]:
    problems: list[Problem] = []
    raw_tables = [*config.sources, *sql_models, *config.steps]
    cleaned = {
        t: config.clean_target(t)
        for t in [*config.clean, *(n.split(".")[0] for n in config.governance.columns)]
    }
    tables = [*raw_tables, *(c for c in cleaned.values() if c)]
    for raw, target in cleaned.items():
        key = f"clean.{raw}" if raw in config.clean else f"governance.columns ({raw}.*)"
        if raw not in raw_tables:
            problems.append(
                Problem(key, f"no table '{raw}' to clean", suggestion_text(raw, raw_tables))
            )
        if target in raw_tables or list(cleaned.values()).count(target) > 1:
            problems.append(
                Problem(
                    f"clean.{raw}.into",
                    f"'{target}' is already a table's name",
                    "choose another name with 'into'",
                )
            )
        elif target is not None and not IDENTIFIER.match(target):
            problems.append(
                Problem(
                    f"clean.{raw}.into",
                    f"'{target}' is not a valid table name",
                    "lower case letters, digits and underscores",
                )
            )
    problems.extend(_path_problems(config))
    problems.extend(_reserved_names(config, sql_models, cleaned))
    if not _inside_root(config.workspace):
        problems.append(
            Problem("workspace", "must be a relative path inside the project", "e.g. '.weir'")
        )
    if config.openlineage and config.openlineage.file and not _inside_root(config.openlineage.file):
        problems.append(
            Problem(
                "openlineage.file",
                "must be a relative path inside the project",
                "e.g. .weir/openlineage.ndjson",
            )
        )
    for name, source in config.sources.items():
        problems += [
            Problem(
                f"sources.{name}.{key}",
                f"'{path}' leaves the project directory",
                "use a path relative to the project, without '..' (link data in if needed)",
            )
            for key, path in source.local_paths().items()
            if not _inside_root(path)
        ]
        if name in sql_models:
            problems.append(
                Problem(
                    f"sources.{name}",
                    f"'{name}' is both a source and sql/{name}.sql",
                    "rename the source or the SQL file",
                )
            )
    for name, step in config.steps.items():
        if name in config.sources or name in sql_models:
            problems.append(
                Problem(f"steps.{name}", f"'{name}' is already a table's name", "rename the step")
            )
        if not _inside_root(step.path):
            problems.append(
                Problem(
                    f"steps.{name}.function",
                    f"'{step.path}' leaves the project directory",
                    "keep step code in the project, e.g. steps/",
                )
            )
        for table in step.inputs:
            if table == name or table not in tables:
                problems.append(
                    Problem(
                        f"steps.{name}.inputs",
                        f"no table '{table}' to read",
                        suggestion_text(table, [t for t in tables if t != name]),
                    )
                )
        for column, origins in step.lineage.items():
            for origin in origins:
                if origin.split(".")[0] not in step.inputs or "." not in origin:
                    problems.append(
                        Problem(
                            f"steps.{name}.lineage.{column}",
                            f"'{origin}' is not 'table.column' of one of its inputs",
                            f"inputs: {', '.join(step.inputs)}",
                        )
                    )
    for name in config.models:
        if name not in sql_models:
            problems.append(
                Problem(
                    f"models.{name}",
                    f"no file {SQL_DIR}/{name}.sql for this model",
                    suggestion_text(name, sql_models),
                )
            )
    for table, checks in config.checks.items():
        if table not in tables:
            problems.append(
                Problem(f"checks.{table}", f"no table '{table}'", suggestion_text(table, tables))
            )
        for index, check in enumerate(checks):
            if check.rule == "relationships" and check.to not in tables:
                problems.append(
                    Problem(
                        f"checks.{table}.{index}.to",
                        f"no table '{check.to}'",
                        suggestion_text(check.to, tables),
                    )
                )
    for model_name, train in config.ml.items():
        if train.table not in tables:
            problems.append(
                Problem(
                    f"ml.{model_name}.table",
                    f"no table '{train.table}'",
                    suggestion_text(train.table, tables),
                )
            )
    return problems + _monitor_problems(config, tables)


def _monitor_problems(config: ProjectConfig, tables: Sequence[str]) -> list[Problem]:
    """A monitor names a model of ml: and tables of the project (its reference, current
    data and labels); the prediction log and batch-scored tables are Weir's, not declared."""
    problems: list[Problem] = []
    for name, monitor in config.monitor.items():
        if name not in config.ml:
            problems.append(
                Problem(
                    f"monitor.{name}", f"no model '{name}' in ml:", suggestion_text(name, config.ml)
                )
            )
        reference = monitor.reference.split("@")[0]
        if monitor.reference != "training" and reference not in tables:
            problems.append(
                Problem(
                    f"monitor.{name}.reference",
                    f"no table '{reference}'",
                    "'training' (the model's own training rows) or "
                    + suggestion_text(reference, tables),
                )
            )
        if monitor.labels and monitor.labels.table not in tables:
            problems.append(
                Problem(
                    f"monitor.{name}.labels.table",
                    f"no table '{monitor.labels.table}'",
                    suggestion_text(monitor.labels.table, tables),
                )
            )
    return problems
