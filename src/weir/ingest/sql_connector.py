"""The SQL connector: a table or query of PostgreSQL, MariaDB/MySQL or SQLite.

An SQLite database is a local file: its digest is a cheap observation, and an unchanged
file is not read again. A server database has nothing cheap to show, so it is read every
run; a load whose content equals the table's current version commits nothing (the app
compares them). With a cursor, a load reads the rows in (committed maximum, maximum now],
the upper bound read before the first row.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import ClassVar

from weir.core.hashing import file_sha256
from weir.dag import InputState
from weir.ingest.base import SourceRead
from weir.ingest.connector import (
    MIGRATIONS,
    Capabilities,
    Capability,
    Observation,
    ReadOptions,
    SourceContext,
    must_read,
    released,
)
from weir.ingest.sql import read_sql, sqlite_file
from weir.ingest.state import CursorState, Migration, SourceState
from weir.project.sources import SourceSettings, SqlSource


class SqlConnector:
    kind: ClassVar[str] = "sql"
    repeats_content: ClassVar[bool] = True
    settings: ClassVar[type[SourceSettings]] = SqlSource
    state_type: ClassVar[type[SourceState]] = CursorState
    migrations: ClassVar[Mapping[int, Migration]] = MIGRATIONS

    def __init__(self, context: SourceContext, source: SqlSource) -> None:
        self.context = context
        self.source = source

    @property
    def name(self) -> str:
        return self.context.name

    @property
    def capabilities(self) -> Capabilities:
        gaps = {}
        if self.source.cursor is None:
            gaps[Capability.INCREMENTAL] = "no cursor column: every load reads the whole result"
        if sqlite_file(self.source, self.context.root) is None:
            gaps[Capability.CHEAP_OBSERVE] = (
                "a database server shows no cheap fingerprint; it is read to find what is new"
            )
        return Capabilities(gaps)

    def observe(self) -> Observation:
        database = sqlite_file(self.source, self.context.root)
        if database is None:
            return must_read(self.kind)
        if not database.is_file():
            return Observation()  # the read says the file is missing, and where
        try:
            label = database.resolve().relative_to(self.context.root.resolve()).as_posix()
        except ValueError:
            label = str(database)
        state = InputState(file_sha256(database), f"{database.stat().st_size} bytes")
        return Observation(inputs={f"database {label}": state})

    def read(
        self,
        prior: SourceState | None,
        *,
        observation: Observation | None = None,
        options: ReadOptions = ReadOptions(),  # noqa: B008 - frozen, shared safely
    ) -> AbstractContextManager[SourceRead]:
        return released(
            read_sql(
                self.context.root,
                self.name,
                self.source,
                prior=prior if isinstance(prior, CursorState) else None,
                progress=options.progress,
            )
        )

    def after_commit(self, position: SourceState) -> None:
        """Nothing to acknowledge: a database keeps its rows."""
