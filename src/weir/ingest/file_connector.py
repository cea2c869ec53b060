"""The file connector: CSV, JSON, NDJSON and Parquet files matched by a path or glob.

Observing hashes every file (and counts a plain CSV's lines in the same pass); the read
loads the files as observed. An incremental source loads only the files its position does
not list and appends them; the position lists every file loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import ClassVar

from weir.dag import InputState
from weir.ingest.base import SourceRead
from weir.ingest.connector import (
    MIGRATIONS,
    Capabilities,
    Capability,
    FileObservation,
    Observation,
    ReadOptions,
    SourceContext,
    released,
)
from weir.ingest.files import observe_files, read_files
from weir.ingest.state import FilesState, Migration, SourceState
from weir.project.sources import FileSource, SourceSettings


class FileConnector:
    kind: ClassVar[str] = "file"
    repeats_content: ClassVar[bool] = False
    settings: ClassVar[type[SourceSettings]] = FileSource
    state_type: ClassVar[type[SourceState]] = FilesState
    migrations: ClassVar[Mapping[int, Migration]] = MIGRATIONS

    def __init__(self, context: SourceContext, source: FileSource) -> None:
        self.context = context
        self.source = source

    @property
    def name(self) -> str:
        return self.context.name

    @property
    def capabilities(self) -> Capabilities:
        if self.source.incremental:
            return Capabilities()
        return Capabilities(
            {
                Capability.INCREMENTAL: "incremental: false; every run with a changed file "
                "reloads them all"
            }
        )

    def observe(self) -> FileObservation:
        files = tuple(observe_files(self.context.root, self.name, self.source))
        inputs = {f"file {f.path}": InputState(f.sha256, f"{f.size} bytes") for f in files}
        return FileObservation(inputs=inputs, files=files)

    def read(
        self,
        prior: SourceState | None,
        *,
        observation: Observation | None = None,
        options: ReadOptions = ReadOptions(),  # noqa: B008 - frozen, shared safely
    ) -> AbstractContextManager[SourceRead]:
        observed = observation.files if isinstance(observation, FileObservation) else None
        return released(
            read_files(
                self.context.engine,
                self.context.root,
                self.name,
                self.source,
                prior=prior if isinstance(prior, FilesState) else None,
                progress=options.progress,
                observed=observed,
                careful=options.careful,
                scratch=options.scratch,
            )
        )

    def after_commit(self, position: SourceState) -> None:
        """Nothing to acknowledge: the files stay where they are."""
