"""The registry of connectors: source kind (weir.yaml's `kind`) -> connector class.

Adding a kind of source is one module with a class that follows `Connector` (copy
file_connector.py, the smallest) and one line here; its project-file model goes in
weir.project.sources, and the contract suite (tests/contract) then runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from weir.core.plugins import Registry
from weir.ingest.connector import Connector, SourceConfig, SourceContext
from weir.ingest.file_connector import FileConnector
from weir.ingest.http_connector import HttpConnector
from weir.ingest.sql_connector import SqlConnector

ConnectorType = Callable[[SourceContext, Any], Connector]

CONNECTORS: Registry[ConnectorType] = Registry("source kind")
CONNECTORS.add(FileConnector.kind, FileConnector)
CONNECTORS.add(SqlConnector.kind, SqlConnector)
CONNECTORS.add(HttpConnector.kind, HttpConnector)


def connector_for(context: SourceContext, source: SourceConfig) -> Connector:
    """The connector of a configured source, by its kind."""
    return CONNECTORS.get(source.kind)(context, source)
