"""The registry of connectors: source kind (weir.yaml's `kind`) -> connector class.

Adding a kind of source is one module with a class that follows `Connector` (copy
append_log.py, a whole kind in one file) and one `register` line here. Its settings model
(a `SourceSettings` subclass, the class's `settings`) is registered with it in
weir.project's SOURCE_KINDS, so weir.yaml accepts the kind; the contract suite
(tests/contract) then runs it, once it has a kit.
"""

from __future__ import annotations

from typing import Any, Protocol

from weir.core.plugins import Registry
from weir.ingest.append_log import AppendLogConnector
from weir.ingest.connector import Connector, SourceConfig, SourceContext
from weir.ingest.file_connector import FileConnector
from weir.ingest.http_connector import HttpConnector
from weir.ingest.sql_connector import SqlConnector
from weir.project.sources import SOURCE_KINDS, SourceSettings


class ConnectorType(Protocol):
    """A connector class: its kind, its settings model, and how it is bound to a source."""

    @property
    def kind(self) -> str: ...

    @property
    def settings(self) -> type[SourceSettings]: ...

    def __call__(self, context: SourceContext, source: Any) -> Connector: ...


CONNECTORS: Registry[ConnectorType] = Registry("source kind")


def register(connector: ConnectorType) -> None:
    """A kind of source: its connector, and its settings model for weir.yaml (the three
    first kinds' models are registered by weir.project itself)."""
    CONNECTORS.add(connector.kind, connector)
    if SOURCE_KINDS.find(connector.kind) is not connector.settings:
        SOURCE_KINDS.add(connector.kind, connector.settings)


register(FileConnector)
register(SqlConnector)
register(HttpConnector)
register(AppendLogConnector)


def connector_for(context: SourceContext, source: SourceConfig) -> Connector:
    """The connector of a configured source, by its kind."""
    return CONNECTORS.get(source.kind)(context, source)
