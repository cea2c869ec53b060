"""What every project-file model shares: strictness and the declared column types."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

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


class Strict(BaseModel):
    """Base of every project-file model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
