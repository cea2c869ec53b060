"""Run the API with uvicorn (uvloop and httptools when installed), one worker per process."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from weir.core.errors import ConfigError
from weir.serve.auth import LOOPBACK, Keys, load_keys

if TYPE_CHECKING:  # only a type here: the weir.app package loads every stage
    from weir.app.workspace import Workspace

logger = logging.getLogger("weir.serve")


def serve(
    ws: Workspace,
    model: str,
    *,
    host: str | None = None,
    port: int | None = None,
    version: int | None = None,
    announce: Callable[[str, int], None] | None = None,
) -> None:
    """Serve until stopped. `announce(host, port)` is called once every check has passed and
    the model is loaded, so nothing claims to serve on a bind that is then refused."""
    import uvicorn

    from weir.serve.app import create_app
    from weir.serve.protocol import bounded_protocol

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
    port = port or config.port
    if announce is not None:
        announce(host, port)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,  # no "server: uvicorn" to tell a scanner what to try
        loop="auto",
        http=bounded_protocol(config.max_body_bytes, refused=app.state.metrics.refused),
    )


class BackgroundServer:
    """The API in a thread of this process, on a free loopback port (the demo, tests)."""

    def __init__(self, ws: Workspace, model: str) -> None:
        import socket

        import uvicorn

        from weir.serve.app import create_app
        from weir.serve.protocol import bounded_protocol

        config = ws.project.config.serve
        keys = Keys({})  # loopback only, in this process: the caller is the process itself
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        app = create_app(ws, model, config=config, keys=keys)
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                http=bounded_protocol(config.max_body_bytes),
            )
        )
        self.thread = threading.Thread(target=self.server.run, name="weir-demo-server", daemon=True)

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise ConfigError("the demo server did not start", fix="see the messages above")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True  # finishes requests in flight, then the log is flushed
        self.thread.join(timeout=30)

    def post(
        self, path: str, body: object, headers: dict[str, str] | None = None
    ) -> dict[str, object]:
        import json
        import urllib.request

        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body, default=str).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, object] = json.loads(response.read())
            return answer
