"""A source's position, typed and versioned: what it had loaded when its rows were committed.

The position is committed in the same Delta commit as the rows (the app writes it as JSON
under `weir.source_state`), so it is read back by whatever Weir version loads next. Each
connector has its own state type (files loaded, a cursor reached, later a stream's offsets)
over `SourceState`, which holds what every load commits: the load's id and the table's
schema version, written by the app.

The JSON carries `state_version`. Positions written before it existed are version 1; each
connector registers how to bring an older version up to date (`migrations`: from-version
-> function), so a Weir that changes a state's shape still reads every lake written before.
A position of a newer version than this Weir knows is refused, naming the source and the
fix, rather than read wrongly. Keys of another kind's state (a source whose kind changed)
are dropped when read.

Version 2 renamed nothing: the JSON is today's plus `state_version`, so code that reads the
old keys (`files`, `cursor`, `load`, `schema`) reads it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weir.core.errors import SourceRefusedError

STATE_VERSION = 2
"""The version of the positions this Weir writes."""

Migration = Callable[[dict[str, Any]], dict[str, Any]]
CursorValue = str | int | float | bool | None


class SourceState(BaseModel):
    """What every load commits with its rows, whatever the kind of source."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    state_version: int = STATE_VERSION
    load: str | None = Field(default=None, description="the id of the load (the app's)")
    schema_version: int = Field(
        default=1, alias="schema", description="the table's schema version (the app's)"
    )

    def dump(self) -> dict[str, Any]:
        """The JSON object committed with the rows (keys as today's app reads them)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class FileSeen(BaseModel):
    """A file as it was loaded: new content shows as another size or hash."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    size: int
    sha256: str


class FilesState(SourceState):
    """A file source: every file loaded so far (an incremental source loads the others)."""

    files: dict[str, FileSeen] = Field(default_factory=dict)


class Cursor(BaseModel):
    """The highest value of a cursor (a column, a record's field) among the rows loaded.

    `decimal`: the value is a number kept as text (JSON has no exact decimal), compared as
    a number."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    column: str
    value: CursorValue = None
    decimal: bool = False

    def dump(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if not self.decimal:
            del data["decimal"]  # as written before the key existed
        return data


class CursorState(SourceState):
    """A SQL table or query, or an HTTP API, with an optional cursor."""

    cursor: Cursor | None = None

    def dump(self) -> dict[str, Any]:
        data = super().dump()
        if self.cursor is not None:
            data["cursor"] = self.cursor.dump()
        return data


def unversioned(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2: a position written before `state_version` existed. The keys and
    their meaning did not change; the version is stated from now on."""
    return {**data, "state_version": 2}


S = TypeVar("S", bound=SourceState)


def load_state(
    state_type: type[S],
    migrations: Mapping[int, Migration],
    source: str,
    data: Mapping[str, Any] | None,
) -> S | None:
    """The typed position in `data` (the JSON committed with the rows), brought up to
    STATE_VERSION by `migrations`; None when there is none (a first load, a full refresh)."""
    if data is None:
        return None
    raw = dict(data)
    version = raw.get("state_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _unreadable(source, f"its state_version is {version!r}, not a version number")
    if version > STATE_VERSION:
        raise SourceRefusedError(
            source,
            f"the position committed with the table has state version {version}, written by "
            f"a newer Weir; this one reads versions up to {STATE_VERSION}",
            fix="run the Weir version that wrote it (or a newer one); or load the source "
            "again from its start with 'weir run --full-refresh', which does not read it",
        )
    while version < STATE_VERSION:
        if version not in migrations:
            raise _unreadable(source, f"no migration from state version {version}")
        raw = migrations[version](raw)
        version = int(raw["state_version"])
    try:
        return state_type.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the position"
        raise _unreadable(source, f"{where}: {first['msg']}") from None


def dump_state(state: SourceState) -> dict[str, Any]:
    """The JSON object to commit with the rows."""
    return state.dump()


def _unreadable(source: str, why: str) -> SourceRefusedError:
    return SourceRefusedError(
        source,
        f"the position committed with the table cannot be read: {why}",
        fix="load the source again from its start with 'weir run --full-refresh', which does "
        "not read it",
    )
