"""One entry point for every source kind: the step that commits does not care where rows
come from. A thin wrapper over the connector registry (weir.ingest.connectors), kept for
the app until it calls connectors itself."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from weir.engines.duckdb import DuckDBEngine
from weir.ingest.base import Progress, SourceRead
from weir.ingest.connector import (
    FileObservation,
    ReadOptions,
    SourceConfig,
    SourceContext,
    load_position,
)
from weir.ingest.connectors import connector_for
from weir.ingest.files import FileState


@contextmanager
def open_source(
    engine: DuckDBEngine,
    root: Path,
    name: str,
    source: SourceConfig,
    *,
    prior: Mapping[str, Any] | None,
    progress: Progress | None = None,
    observed: list[FileState] | None = None,
    careful: bool = False,
    scratch: Path | None = None,
) -> Iterator[SourceRead]:
    """Open a streaming read; `prior` is the state committed with the table's last load
    (the JSON object; read, and migrated, as the connector's typed state).
    `careful` and `scratch`: a file source's second attempt, after `RereadError`.
    However the caller leaves, the stream is released before the connector closes (see
    SourceRead.release)."""
    connector = connector_for(SourceContext(engine, root, name), source)
    observation = None if observed is None else FileObservation(files=tuple(observed))
    with connector.read(
        load_position(connector, prior),
        observation=observation,
        options=ReadOptions(progress, careful, scratch),
    ) as read:
        yield read
