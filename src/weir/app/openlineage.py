"""OpenLineage run events for every step that runs, with schema and column-lineage facets.

Events go to an NDJSON file and/or an HTTP endpoint (Marquez's /api/v1/lineage, DataHub's
OpenLineage endpoint). Emitting is best effort by design: a lineage server that is down
must not stop the pipeline, so failures are reported as warnings, never raised.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from weir.app.lineage import ColumnGraph
from weir.app.workspace import Workspace
from weir.core.secrets import Secrets, display_url, url_secrets
from weir.core.version import __version__
from weir.dag import Step, StepReport
from weir.ingest.http_fetch import deadline_opener, split_userinfo
from weir.project.model import OpenLineageConfig

PRODUCER = f"https://weir.dev/weir/{__version__}"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
SCHEMA_FACET = (
    "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
)
COLUMN_FACET = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"
ERROR_FACET = (
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
)


class OpenLineageEmitter:
    def __init__(
        self,
        ws: Workspace,
        config: OpenLineageConfig,
        graph: Callable[[set[str]], ColumnGraph],
        reads: Callable[[Step], list[str]],
        writes: Callable[[Step], list[str]],
    ) -> None:
        self.ws = ws
        self.config = config
        self.build_graph = graph
        self.graph = ColumnGraph()
        self.reads = reads
        self.writes = writes  # what a step's kind makes: its outputs, once it succeeded
        self.run_ids: dict[str, str] = {}
        self.warnings: list[str] = []
        self.secrets = url_secrets(config.url) if config.url else Secrets()

    def started(self, step: Step) -> None:
        self.run_ids[step.name] = str(uuid.uuid4())
        self._emit(self._event("START", step, outputs=False))

    def finished(self, report: StepReport) -> None:
        if report.step.name not in self.run_ids:
            return  # skipped and blocked steps did not run
        kind = "COMPLETE" if report.status == "succeeded" else "FAIL"
        if report.status == "succeeded":
            self.graph = self.build_graph({report.step.target})  # its (new) columns' lineage only
        event = self._event(kind, report.step, outputs=report.status == "succeeded")
        if report.error:
            event["run"]["facets"] = {
                "errorMessage": {
                    "_producer": PRODUCER,
                    "_schemaURL": ERROR_FACET,
                    "message": report.error,
                    "programmingLanguage": "python",
                }
            }
        self._emit(event)

    def _dataset(self, table: str, *, lineage: bool) -> dict[str, Any]:
        record = self.ws.catalog.current_version(table)
        facets: dict[str, Any] = {}
        if record is not None:
            facets["schema"] = {
                "_producer": PRODUCER,
                "_schemaURL": SCHEMA_FACET,
                "fields": [{"name": f["name"], "type": f["type"]} for f in record.schema],
            }
        if lineage:
            fields = {}
            for column in self.graph.columns.get(table, []):
                parents = sorted(self.graph.parents.get((table, column), ()))
                if parents:
                    fields[column] = {
                        "inputFields": [
                            {"namespace": self.config.namespace, "name": t, "field": c}
                            for t, c in parents
                        ]
                    }
            if fields:
                facets["columnLineage"] = {
                    "_producer": PRODUCER,
                    "_schemaURL": COLUMN_FACET,
                    "fields": fields,
                }
        return {"namespace": self.config.namespace, "name": table, "facets": facets}

    def _event(self, kind: str, step: Step, *, outputs: bool) -> dict[str, Any]:
        produced = self.writes(step)
        return {
            "eventType": kind,
            "eventTime": datetime.now(UTC).isoformat(),
            "producer": PRODUCER,
            "schemaURL": SPEC,
            "run": {"runId": self.run_ids[step.name]},
            "job": {
                "namespace": self.config.namespace,
                "name": f"{self.ws.project.name}.{step.name}",
            },
            "inputs": [self._dataset(t, lineage=False) for t in self.reads(step)],
            "outputs": [self._dataset(t, lineage=True) for t in produced] if outputs else [],
        }

    def _emit(self, event: dict[str, Any]) -> None:
        text = json.dumps(event, separators=(",", ":"))
        if self.config.file:
            path = self.ws.project.root / self.config.file
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(text + "\n")
        if self.config.url:
            self._post(self.config.url, text)

    def _post(self, url: str, text: str) -> None:
        """POST one event. User info in the URL becomes a Basic header (urllib would look
        'user:password@host' up in DNS); redirects are not followed, so that header goes
        nowhere else; the answer is read only in part; and `timeout_seconds` bounds the
        whole request, so an endpoint answering a byte at a time cannot hold the run."""
        bare, basic = split_userinfo(url)
        headers = {"Content-Type": "application/json"}
        if basic:
            headers["Authorization"] = f"Basic {basic}"
        request = urllib.request.Request(bare, data=text.encode(), headers=headers, method="POST")
        seconds = self.config.timeout_seconds
        with deadline_opener(seconds) as (opener, deadline):
            try:
                with opener.open(request, timeout=seconds) as response:
                    response.read(65536)
            except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
                problem = str(exc)
            else:
                problem = ""
            if deadline.expired:
                problem = f"no complete answer within timeout_seconds ({seconds:g} s)"
        if problem:
            self.warnings.append(
                self.secrets.redact(
                    f"OpenLineage event not delivered to {display_url(url)}: {problem}"
                )
            )
