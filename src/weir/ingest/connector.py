"""The connector protocol: what every kind of source does, so the app need not tell them apart.

A connector is one source of a project, bound to where it is read (`SourceContext`). The
step that loads it calls, in this order:

1. `observe()` - what is there, cheaply, for the run's cache key: the files' sizes and
   hashes, an SQLite database's digest. A server database or an HTTP API has nothing cheap
   to show; its observation says so (`always`: "a sql source is read to find what is
   new"), and the step runs every time.
2. `read(prior, observation=..., options=...)` - a context manager giving a `SourceRead`:
   the rows as Arrow batches over a bound fixed before the first row (the files observed,
   a SQL cursor's window), the records set aside with their place, the position after
   this load (`SourceRead.position`, typed and versioned) and, for the summary, what the
   load read (`SourceRead.incremental`). `prior` is the position committed with the
   table's last load, as `load_state` reads it (None: load everything).
3. The app commits the rows with `dump_state(read.position)` in the same Delta commit.
4. `after_commit(position)` - once the commit is durable: a stream source acknowledges its
   offsets to the broker here; a file, SQL or HTTP source has nothing to do.

A connector never writes and never names a step: its errors are `SourceError`s naming the
source. What it cannot do is declared in `capabilities`, each gap with its reason, and the
contract suite (tests/contract) skips those cases saying why, never silently.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from weir.dag import InputState
from weir.engines.duckdb import DuckDBEngine
from weir.ingest.base import Progress, SourceRead
from weir.ingest.files import FileState
from weir.ingest.state import Migration, SourceState, load_state, unversioned
from weir.project.sources import SourceSettings

SourceConfig = SourceSettings
"""A source's settings in weir.yaml, of the connector's kind (`Connector.settings`)."""


class Capability(enum.StrEnum):
    """What a connector may lack (a gap is declared with its reason)."""

    INCREMENTAL = "incremental"  # reads only what is new after the committed position
    CHEAP_OBSERVE = "cheap_observe"  # observe() tells without reading whether anything changed


@dataclass(frozen=True)
class Capabilities:
    """The gaps of a connector, as configured: capability -> why it is missing."""

    gaps: Mapping[Capability, str] = field(default_factory=dict)

    def has(self, capability: Capability) -> bool:
        return capability not in self.gaps

    def why_not(self, capability: Capability) -> str:
        return self.gaps[capability]


@dataclass(frozen=True)
class SourceContext:
    """Where a source is read from: the project's root (relative paths), the engine that
    types files and JSON (and its scratch folder), and the source's name in weir.yaml."""

    engine: DuckDBEngine
    root: Path
    name: str


@dataclass(frozen=True)
class ReadOptions:
    """How to read: `progress(rows, bytes)` as rows stream; `careful` and `scratch` for a
    file source's second attempt after RereadError (other connectors never raise it)."""

    progress: Progress | None = None
    careful: bool = False
    scratch: Path | None = None


@dataclass(frozen=True)
class Observation:
    """What a source is now, for the cache key: `inputs` (label -> fingerprint); or, when
    nothing cheap can tell (a server database, an API), `always`: why it must be read."""

    inputs: Mapping[str, InputState] = field(default_factory=dict)
    always: str | None = None


@dataclass(frozen=True)
class FileObservation(Observation):
    """A file source's observation keeps each file's state: the read loads those files as
    observed, without hashing a multi-GB file twice."""

    files: tuple[FileState, ...] = ()


def must_read(kind: str) -> Observation:
    """The observation of a source that only a read can tell about."""
    return Observation(always=f"a {kind} source is read to find what is new")


class Connector(Protocol):
    """One source, bound to its context; see the module docstring for the order of calls."""

    kind: ClassVar[str]
    # A full load may bring back exactly the table's content (a database table or an API
    # that did not change): the app stages such a load and commits it only if it differs.
    # False where a changed input (a file's hash) is what made the step run.
    repeats_content: ClassVar[bool]
    settings: ClassVar[type[SourceSettings]]
    state_type: ClassVar[type[SourceState]]
    migrations: ClassVar[Mapping[int, Migration]]

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def observe(self) -> Observation: ...

    def read(
        self,
        prior: SourceState | None,
        *,
        observation: Observation | None = None,
        options: ReadOptions = ReadOptions(),
    ) -> AbstractContextManager[SourceRead]: ...

    def after_commit(self, position: SourceState) -> None: ...


MIGRATIONS: Mapping[int, Migration] = {1: unversioned}
"""The migrations of the three first connectors: their state changed shape in none."""


def load_position(connector: Connector, data: Mapping[str, Any] | None) -> SourceState | None:
    """The connector's typed position from the JSON committed with the table's rows."""
    return load_state(connector.state_type, connector.migrations, connector.name, data)


@contextmanager
def released(opened: AbstractContextManager[SourceRead]) -> Iterator[SourceRead]:
    """`opened`, whose stream is released before its connector closes, however the caller
    leaves (see SourceRead.release)."""
    with opened as read:
        try:
            yield read
        finally:
            read.release()
