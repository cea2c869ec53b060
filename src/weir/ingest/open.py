"""One entry point for every source kind: the step that commits does not care where rows
come from."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from weir.engines.duckdb import DuckDBEngine
from weir.ingest.base import Progress, SourceRead
from weir.ingest.files import FileState, read_files
from weir.ingest.http import read_http
from weir.ingest.sql import read_sql
from weir.project.sources import FileSource, HttpSource, SqlSource


@contextmanager
def open_source(
    engine: DuckDBEngine,
    root: Path,
    name: str,
    source: FileSource | SqlSource | HttpSource,
    *,
    prior: Mapping[str, Any] | None,
    progress: Progress | None = None,
    observed: list[FileState] | None = None,
    careful: bool = False,
    scratch: Path | None = None,
) -> Iterator[SourceRead]:
    """Open a streaming read; `prior` is the state committed with the table's last load.
    `careful` and `scratch`: a file source's second attempt, after `RereadError`.
    However the caller leaves, the stream is released before the connector closes (see
    SourceRead.release)."""
    if isinstance(source, FileSource):
        opened = read_files(
            engine,
            root,
            name,
            source,
            prior=prior,
            progress=progress,
            observed=observed,
            careful=careful,
            scratch=scratch,
        )
    elif isinstance(source, SqlSource):
        opened = read_sql(root, name, source, prior=prior, progress=progress)
    else:
        opened = read_http(engine, name, source, progress=progress)
    with opened as read:
        try:
            yield read
        finally:
            read.release()
