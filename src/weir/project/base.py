"""What every project-file model shares: strictness and the declared column types."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Engine-neutral column types a project may declare, mapped to DuckDB SQL types.
COLUMN_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "bool": "BOOLEAN",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float32": "FLOAT",
    "float64": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
}
_DECIMAL = re.compile(r"^decimal\((\d{1,2}),\s*(\d{1,2})\)$")

Ambiguous = Literal["earliest", "latest", "quarantine"]
Nonexistent = Literal["shift_forward", "quarantine"]


@dataclass(frozen=True)
class TimeRule:
    """What a source declared about times written without an offset: the zone they were
    written in, and what a wall-clock time that the zone makes ambiguous (it happens twice)
    or non-existent (it is skipped) becomes. Applied by `weir.project.times` to every kind."""

    zone: str | None = None
    ambiguous: Ambiguous = "quarantine"
    nonexistent: Nonexistent = "quarantine"


class Strict(BaseModel):
    """Base of every project-file model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Documented(Strict):
    """What people need to know about a table: shown by weir catalog and weir describe."""

    description: str | None = None
    owner: str | None = Field(default=None, description="a person or team to ask")
    tags: list[str] = Field(default_factory=list)
    column_descriptions: dict[str, str] = Field(
        default_factory=dict, description="column -> what it means"
    )
    column_classes: dict[str, str] = Field(
        default_factory=dict,
        description="column -> class (e.g. pii.email, sensitive); governance.columns acts on classes",
    )

    def docs(self) -> dict[str, object]:
        return {
            "description": self.description,
            "owner": self.owner,
            "tags": list(self.tags),
            "columns": dict(self.column_descriptions),
            "classes": dict(self.column_classes),
        }


def check_zone(value: str) -> str:
    """An IANA time zone name (Europe/Paris, UTC), with a suggestion when it is not one."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        from weir.core.suggest import suggestion_text

        raise ValueError(
            f"'{value}' is not a time zone; {suggestion_text(value, zoneinfo.available_timezones())}"
        ) from None
    return value


class TimeKeys(Strict):
    """The keys that declare the time rule, the same wherever times are read: a source of any
    kind, and the cleaning rule parse_datetime."""

    timezone: str | None = Field(
        default=None,
        description="zone of times written without an offset, e.g. Europe/Paris or UTC; "
        "without it such a time is refused",
    )
    ambiguous_times: Ambiguous = Field(
        default="quarantine",
        description="a local time that happens twice (clocks go back): earliest, latest "
        "(counted) or quarantine",
    )
    nonexistent_times: Nonexistent = Field(
        default="quarantine",
        description="a local time that never happens (clocks go forward): shift_forward "
        "(counted) or quarantine",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone(value)

    @property
    def time_rule(self) -> TimeRule:
        return TimeRule(self.timezone, self.ambiguous_times, self.nonexistent_times)


def has_directive(fmt: str, letter: str) -> bool:
    """Whether a strptime format holds %<letter> ('%%' being a percent sign)."""
    return re.search(rf"(?<!%)(?:%%)*%{letter}", fmt) is not None


ZONE_NAME_FORMAT = (
    "reads a zone name (%Z), whose ambiguous and skipped times the engine resolves by "
    "itself, outside the declared time rule; read an offset with %z, or write the name as "
    "text in the format ('... UTC') and declare timezone"
)
