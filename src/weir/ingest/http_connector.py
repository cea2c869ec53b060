"""The HTTP connector: a JSON API, page by page, through a transport (the real one, or a
MockTransport in tests).

An API has nothing cheap to show, so it is read every run; a load whose content equals the
table's current version commits nothing (the app compares them). With `incremental.cursor`
only records whose cursor is above the committed maximum are loaded and appended.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import ClassVar

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
from weir.ingest.http import read_http
from weir.ingest.http_transport import Transport
from weir.ingest.state import CursorState, Migration, SourceState
from weir.project.sources import HttpSource, SourceSettings


class HttpConnector:
    kind: ClassVar[str] = "http"
    repeats_content: ClassVar[bool] = True
    settings: ClassVar[type[SourceSettings]] = HttpSource
    state_type: ClassVar[type[SourceState]] = CursorState
    migrations: ClassVar[Mapping[int, Migration]] = MIGRATIONS

    def __init__(
        self, context: SourceContext, source: HttpSource, transport: Transport | None = None
    ) -> None:
        self.context = context
        self.source = source
        self.transport = transport

    @property
    def name(self) -> str:
        return self.context.name

    @property
    def capabilities(self) -> Capabilities:
        gaps = {Capability.CHEAP_OBSERVE: "an HTTP API is read to find what is new"}
        if self.source.incremental is None:
            gaps[Capability.INCREMENTAL] = "no incremental.cursor: every load reads every page"
        return Capabilities(gaps)

    def observe(self) -> Observation:
        return must_read(self.kind)

    def read(
        self,
        prior: SourceState | None,
        *,
        observation: Observation | None = None,
        options: ReadOptions = ReadOptions(),  # noqa: B008 - frozen, shared safely
    ) -> AbstractContextManager[SourceRead]:
        return released(
            read_http(
                self.context.engine,
                self.name,
                self.source,
                prior=prior if isinstance(prior, CursorState) else None,
                progress=options.progress,
                transport=self.transport,
            )
        )

    def after_commit(self, position: SourceState) -> None:
        """Nothing to acknowledge: an API keeps its records."""
