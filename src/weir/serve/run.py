"""Run the API with uvicorn (uvloop and httptools when installed), one worker per process."""

from __future__ import annotations

import logging

from weir.app.workspace import Workspace
from weir.core.errors import ConfigError
from weir.serve.auth import LOOPBACK, load_keys

logger = logging.getLogger("weir.serve")


def serve(
    ws: Workspace,
    model: str,
    *,
    host: str | None = None,
    port: int | None = None,
    version: int | None = None,
) -> None:
    import uvicorn

    from weir.serve.app import create_app

    config = ws.project.config.serve
    host = host or config.host
    keys_file = (
        ws.project.root / config.api_keys_file
        if config.api_keys_file
        else ws.project.workspace / "api_keys"
    )
    keys = load_keys(keys_file)
    if not keys.enabled:
        if host not in LOOPBACK:
            raise ConfigError(
                f"serve: no API key is configured, so Weir will not listen on {host}",
                fix="add one with 'weir api-key add NAME --role predict' (or set WEIR_API_KEYS), or serve on 127.0.0.1",
            )
        logger.warning("no API key configured: serving on %s only, without authentication", host)
    app = create_app(ws, model, config=config, keys=keys, version=version)
    uvicorn.run(
        app,
        host=host,
        port=port or config.port,
        log_level="warning",
        access_log=False,
        loop="auto",
        http="auto",
    )
