"""The project file (weir.yaml) as pydantic models.

Every model forbids unknown keys, so a typo is an error with a suggestion rather than a
silently ignored setting. Defaults are the laptop defaults of DESIGN.md.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from weir.project.base import _DECIMAL, COLUMN_TYPES, Documented, Strict
from weir.project.cleaning import CleanConfig, GovernanceConfig
from weir.project.ml_config import MlflowConfig, ServeConfig, TrainConfig
from weir.project.monitor_config import MonitorConfig
from weir.project.schedule_config import ScheduleConfig
from weir.project.sources import Source

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# Tables Weir makes beside the project's: a table's quarantine (NAME__quarantine) and a
# model's prediction log (MODEL__predictions). No project table may end so.
QUARANTINE_SUFFIX = "__quarantine"
PREDICTION_LOG_SUFFIX = "__predictions"
RESERVED_SUFFIXES = (QUARANTINE_SUFFIX, PREDICTION_LOG_SUFFIX)


def _check_identifier(name: str, what: str) -> str:
    if not IDENTIFIER.match(name):
        raise ValueError(
            f"{what} name '{name}' must be lower case letters, digits and underscores, "
            "starting with a letter or underscore"
        )
    return name


class EngineConfig(Strict):
    kind: str = Field(
        default="duckdb",
        description="the engine that runs SQL models, checks and cleaning, by its registered "
        "name (weir.engines.ENGINES); default duckdb, in process",
    )
    threads: int | None = Field(default=None, ge=1, description="DuckDB threads; default: all")
    memory_limit: str | None = Field(default=None, description="e.g. '4GB'; default: DuckDB's")
    query_timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="a query over data (a SQL model, a check, cleaning) that runs longer is "
        "stopped and its step fails; default: no limit",
    )

    @field_validator("kind")
    @classmethod
    def _kind_is_a_name(cls, value: str) -> str:
        # Which names exist is the engines' registry's to say (the project file is read
        # without importing any engine); the app checks the name against it when it builds
        # the engine, with a suggestion. Here: only that it is a name at all.
        if not IDENTIFIER.match(value):
            raise ValueError(f"engine kind '{value}' is not an engine name, e.g. duckdb")
        return value


class CatalogConfig(Strict):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<workspace>/catalog.db",
    )


Severity = Literal["error", "warn", "quarantine"]
_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> int:
    """'36h' -> 129600. Units: s, m, h, d, w."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(
            f"'{text}' is not a duration; write a number and a unit, e.g. 30m, 36h, 7d"
        )
    return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]


class _Check(Strict):
    severity: Severity = "error"
    description: str | None = None


class _RowCheck(_Check):
    """A rule judged row by row: its failing rows can be quarantined."""


class _TableCheck(_Check):
    """A rule judged on the whole table: error or warn only."""

    @field_validator("severity")
    @classmethod
    def _not_quarantine(cls, value: str) -> str:
        if value == "quarantine":
            raise ValueError(
                "this rule judges the whole table, so there are no rows to quarantine; use error or warn"
            )
        return value


class NotNullCheck(_RowCheck):
    rule: Literal["not_null"]
    columns: list[str] = Field(min_length=1)


class UniqueCheck(_TableCheck):
    rule: Literal["unique"]
    columns: list[str] = Field(min_length=1, description="together form the key")


class AcceptedValuesCheck(_RowCheck):
    rule: Literal["accepted_values"]
    column: str
    values: list[str | int | float | bool] = Field(min_length=1)


class RangeCheck(_RowCheck):
    rule: Literal["range"]
    column: str
    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)
    inclusive: bool = Field(default=True, description="whether min and max themselves pass")

    @model_validator(mode="after")
    def _bounds(self) -> RangeCheck:
        if self.min is None and self.max is None:
            raise ValueError("give at least one of 'min' and 'max'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class RowCountCheck(_TableCheck):
    rule: Literal["row_count"]
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class RegexCheck(_RowCheck):
    rule: Literal["regex"]
    column: str
    pattern: str = Field(description="RE2 syntax; the whole value must match")


class ExpressionCheck(_RowCheck):
    rule: Literal["expression"]
    expression: str = Field(description="a SQL boolean over the row; a row fails unless it is true")


class RelationshipsCheck(_RowCheck):
    rule: Literal["relationships"]
    column: str
    to: str = Field(description="the table the values must exist in")
    field: str = Field(description="the column of `to` holding the valid values")


class AggregateCheck(_TableCheck):
    rule: Literal["aggregate"]
    expression: str = Field(description="a SQL aggregate over the table, e.g. avg(amount)")
    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _bounds(self) -> AggregateCheck:
        if self.min is None and self.max is None:
            raise ValueError("give at least one of 'min' and 'max'")
        return self


class FreshnessCheck(_TableCheck):
    rule: Literal["freshness"]
    column: str = Field(description="a timestamp or date column")
    max_age: str = Field(description="e.g. 30m, 36h, 7d: the newest value must be younger")

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)
        return value


CheckConfig = Annotated[
    NotNullCheck
    | UniqueCheck
    | AcceptedValuesCheck
    | RangeCheck
    | RowCountCheck
    | RegexCheck
    | ExpressionCheck
    | RelationshipsCheck
    | AggregateCheck
    | FreshnessCheck,
    Field(discriminator="rule"),
]
ROW_CHECKS = (
    NotNullCheck,
    AcceptedValuesCheck,
    RangeCheck,
    RegexCheck,
    ExpressionCheck,
    RelationshipsCheck,
)


class NewRows(Strict):
    column: str = Field(
        description="rows whose value here is above the table's current maximum are new"
    )


class IncrementalConfig(Strict):
    strategy: Literal["append", "merge"]
    unique_key: list[str] = Field(
        default_factory=list, description="merge: rows with the same key are updated"
    )
    new_rows: NewRows | None = Field(
        default=None, description="default: every row the SQL returns is new"
    )

    @model_validator(mode="after")
    def _key(self) -> IncrementalConfig:
        if self.strategy == "merge" and not self.unique_key:
            raise ValueError("strategy merge needs unique_key")
        if self.strategy == "append" and self.new_rows is None:
            raise ValueError(
                "strategy append needs new_rows, or every run would append everything again"
            )
        return self


class ModelConfig(Documented):
    """Optional settings for a SQL model whose SQL lives in sql/NAME.sql (or in the file's
    `-- weir:` header block)."""

    materialized: Literal["table", "view", "incremental"] = "table"
    incremental: IncrementalConfig | None = None

    @model_validator(mode="after")
    def _incremental(self) -> ModelConfig:
        if (self.materialized == "incremental") != (self.incremental is not None):
            raise ValueError(
                "materialized: incremental goes with an 'incremental:' section, and only it"
            )
        return self


_FUNCTION = re.compile(r"^[A-Za-z0-9_./-]+\.py:[A-Za-z_][A-Za-z0-9_]*$")


class PythonStepConfig(Documented):
    """A table made by a Python function: `function: steps/file.py:name`."""

    function: str = Field(description="'path/to/file.py:function', relative to the project")
    inputs: list[str] = Field(
        default_factory=list, description="tables passed as keyword arguments"
    )
    format: Literal["arrow", "pandas", "polars"] = Field(
        default="arrow", description="what the function takes and returns"
    )
    lineage: dict[str, list[str]] = Field(
        default_factory=dict, description="output column -> input 'table.column's it derives from"
    )

    @field_validator("function")
    @classmethod
    def _function(cls, value: str) -> str:
        if not _FUNCTION.match(value):
            raise ValueError(f"'{value}' is not 'path/to/file.py:function_name'")
        return value

    @property
    def path(self) -> str:
        return self.function.rsplit(":", 1)[0]

    @property
    def name(self) -> str:
        return self.function.rsplit(":", 1)[1]


class OpenLineageConfig(Strict):
    """Where run events go, for Marquez, DataHub or any OpenLineage consumer."""

    file: str | None = Field(
        default=None, description="NDJSON file inside the project, one event a line"
    )
    url: str | None = Field(
        default=None, description="HTTP endpoint, e.g. http://marquez:5000/api/v1/lineage"
    )
    namespace: str = Field(default="weir", description="the namespace of jobs and datasets")
    timeout_seconds: float = Field(default=5.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class ProfilesConfig(Strict):
    enabled: bool = Field(default=True, description="profile every committed table version")
    sample_above: int = Field(
        default=2_000_000, ge=1, description="rows above which the distribution is sampled"
    )
    sample_rows: int = Field(
        default=1_000_000, ge=1000, description="about how many rows the sample holds"
    )


class ProjectConfig(Strict):
    name: str
    workspace: str = ".weir"
    engine: EngineConfig = Field(default_factory=EngineConfig)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    profiles: ProfilesConfig = Field(default_factory=ProfilesConfig)
    openlineage: OpenLineageConfig | None = None
    mlflow: MlflowConfig | None = None
    serve: ServeConfig = Field(default_factory=ServeConfig)
    sources: dict[str, Source] = Field(default_factory=dict)
    checks: dict[str, list[CheckConfig]] = Field(default_factory=dict)
    clean: dict[str, CleanConfig] = Field(default_factory=dict)
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    steps: dict[str, PythonStepConfig] = Field(default_factory=dict)
    ml: dict[str, TrainConfig] = Field(default_factory=dict)
    monitor: dict[str, MonitorConfig] = Field(
        default_factory=dict, description="model (of ml:) -> how it is watched once served"
    )
    schedule: ScheduleConfig | None = None

    def clean_target(self, table: str) -> str | None:
        """The table a raw table is cleaned into, if it is cleaned or governed."""
        config = self.clean.get(table)
        if config is None and not self.governance.for_table(table):
            return None
        return (config.into if config and config.into else None) or f"clean_{table}"

    @field_validator("sources", "models", "ml", "clean", "steps")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            _check_identifier(name, "table or model")
        return value


def duckdb_type(type_name: str) -> str:
    """The DuckDB SQL type for a declared column type."""
    match = _DECIMAL.match(type_name)
    if match:
        return f"DECIMAL({match.group(1)},{match.group(2)})"
    return COLUMN_TYPES[type_name]
