"""What the routes of one server share: the model being served (swapped on promotion),
its metrics, the prediction log, and why a promoted version is not served."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weir.catalog import ModelVersionRecord
from weir.project.ml_config import ServeConfig
from weir.serve.log import LogCommits, PredictionLog
from weir.serve.metrics import Metrics
from weir.serve.model import ModelHolder
from weir.serve.shadow import Shadow, log_columns, start_shadow

if TYPE_CHECKING:  # only a type here: the weir.app package loads every stage
    from weir.app.workspace import Workspace

logger = logging.getLogger("weir.serve")


@dataclass
class Served:
    ws: Workspace
    model: str
    config: ServeConfig
    holder: ModelHolder
    metrics: Metrics
    log: PredictionLog | None
    first: int  # the version served at start, whose inputs the request schemas take
    inputs: dict[str, str]
    pinned: bool  # a version was asked for: no promotion is looked for
    blocked: str | None = None  # why the registry's version is not served
    log_in_lake: bool = False  # the log is the lake table the catalog records at the end
    shadow: Shadow | None = None  # the challenger answering beside (weir.serve.shadow)

    @classmethod
    def start(
        cls,
        ws: Workspace,
        model: str,
        config: ServeConfig,
        version: int | None = None,
        log_path: Path | None = None,
    ) -> Served:
        """Load the model and start the prediction log's writer: by default into the lake
        table MODEL__predictions, which the catalog records when the server stops
        (`log_path`, for tests, writes elsewhere and records nothing); and the shadow, if
        one is configured."""
        holder = ModelHolder(ws, model, config.stage, version, config.onnx_threads)
        first = holder.current
        metrics = Metrics()
        metrics.version.labels(model).set(first.version)
        log, in_lake = None, False
        if config.log.enabled:
            if log_path is None:
                log_path, in_lake = _lake_log(ws, model), True
            log = PredictionLog(
                log_path,
                first.inputs,
                config.log.flush_rows,
                config.log.flush_seconds,
                model,
                config.busy_poll_ms / 1000,
                _log_commits(model),
                shadow_columns=log_columns(first.task) if config.shadow else None,
            )
        shadow = None
        if config.shadow is not None:
            shadow = start_shadow(ws, model, config.shadow, first, metrics.shadow, log)
        pinned = version is not None
        return cls(
            ws,
            model,
            config,
            holder,
            metrics,
            log,
            first.version,
            first.inputs,
            pinned,
            log_in_lake=in_lake,
            shadow=shadow,
        )

    def other_inputs(self, wanted: ModelVersionRecord) -> str | None:
        """Why `wanted` cannot be swapped in: its inputs differ from the request schemas'."""
        serving = wanted.details.serving
        if serving is not None and serving.inputs == self.inputs:
            return None
        return (
            f"v{wanted.version} takes other inputs than v{self.first}; "
            "restart weir serve to serve it"
        )

    def refresh(self) -> bool:
        """Serve the version the registry names now, if it can be; True if it was swapped.
        The shadow's challenger follows its own stage (also when the version is pinned)."""
        if self.shadow is not None:
            self.shadow.holder.refresh()
        if self.pinned:
            return False
        try:
            swapped, self.blocked = self.holder.refresh(self.other_inputs)
        except Exception as exc:  # the registry is unreachable or empty: keep serving
            self.blocked = str(exc)
            return False
        if swapped:
            self.metrics.version.labels(self.model).set(self.holder.current.version)
            logger.warning("now serving %s v%s", self.model, self.holder.current.version)
        return swapped

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Any) -> AsyncIterator[None]:
        """While the server runs: look for promotions (unless pinned); at the end, write
        what the prediction log holds."""

        async def watch() -> None:
            while True:
                await asyncio.sleep(self.config.reload_seconds)
                await asyncio.to_thread(self.refresh)

        # Everything loaded so far (libraries, the model) lives as long as the process:
        # frozen, full garbage collections stop walking it. Without this, rows waiting in
        # the prediction log set off full collections over a million objects (p99 73 ms
        # instead of about 1 ms under load).
        gc.collect()
        gc.freeze()
        watched = not self.pinned or self.shadow is not None
        task = asyncio.create_task(watch()) if watched else None
        try:
            yield
        finally:
            if task:
                task.cancel()
            if self.shadow:  # its rows go to the log: first
                await asyncio.to_thread(self.shadow.close)
            if self.log:
                await asyncio.to_thread(self.log.close)
                if self.log_in_lake:
                    await asyncio.to_thread(self.record_log)
            gc.unfreeze()  # back to normal collection (and a clean interpreter exit)

    def record_log(self) -> None:
        """The log's new versions into the catalog, once the writer has written all. A
        catalog that is busy or unreachable only delays it: the next `weir tables` or
        `weir show` of the log records them (weir.app.prediction_log)."""
        from weir.app.prediction_log import record_prediction_log

        try:
            done = record_prediction_log(self.ws, self.model)
        except Exception as exc:  # the answers are in the lake; only the record waits
            logger.warning(
                "prediction log of %s not recorded in the catalog now (%s); 'weir tables' "
                "records it later",
                self.model,
                getattr(exc, "message", None) or type(exc).__name__,
            )
            return
        for note in done.notes:
            logger.warning("prediction log: %s", note)
        if done.versions:
            logger.info("prediction log %s: recorded versions %s", done.table, done.versions)


def _lake_log(ws: Workspace, model: str) -> Path:
    """The lake table's folder (a log in the old place is moved there first, and said)."""
    from weir.app.prediction_log import open_log  # the weir.app package loads every stage

    path, notes = open_log(ws, model)
    for note in notes:
        logger.warning("%s", note)
    return path


def _log_commits(model: str) -> LogCommits:
    from weir.app.lake_format import COMMIT_ID_KEY, MODEL_VERSIONS_KEY
    from weir.app.prediction_log import SHADOW_VERSIONS_KEY, log_metadata

    return LogCommits(log_metadata(model), MODEL_VERSIONS_KEY, COMMIT_ID_KEY, SHADOW_VERSIONS_KEY)
