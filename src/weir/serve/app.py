"""The FastAPI application of one model: its routers (predictions, admin, health and
metrics) behind the guard and the metrics, with the docs and the error shapes.

Built for one model: see `weir.serve.routes.predict` for what a promotion with other inputs
does. Every route that takes a body is a `BodyRoute` (one handler, the body read in one
pass).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError

from weir.core.errors import NotFoundError, WeirError
from weir.project.ml_config import ServeConfig
from weir.serve.auth import Keys
from weir.serve.body_route import safe_json
from weir.serve.docs import add_docs
from weir.serve.errors import public_errors
from weir.serve.guard import Guard
from weir.serve.metrics import MetricsMiddleware
from weir.serve.routes import admin_router, health_router, predict_router
from weir.serve.served import Served

if TYPE_CHECKING:  # only a type here: the weir.app package loads every stage
    from weir.app.workspace import Workspace


def request_ids() -> Callable[[], str]:
    """Request ids shaped like uuid4().hex: unique per server (a random half) and per
    request (a counter), at a fraction of uuid4's cost (it reads the kernel's random
    source on every call)."""
    prefix, counter = secrets.token_hex(8), itertools.count()
    return lambda: f"{prefix}{next(counter):016x}"


def create_app(
    ws: Workspace,
    model: str,
    *,
    config: ServeConfig,
    keys: Keys,
    version: int | None = None,
    log_path: Path | None = None,
) -> FastAPI:
    served = Served.start(ws, model, config, version, log_path)
    first = served.holder.current
    app = FastAPI(
        title=f"Weir: {model}",
        version=str(first.version),
        description=f"Predictions of model {model} ({first.task}); fields are the model's inputs.",
        lifespan=served.lifespan,
        docs_url=None,  # served from the package's own files, see weir.serve.docs
        redoc_url=None,
        # One spelling per route: no 307 from /predict/ to a Location built from the
        # request's Host header (unchecked when keys are set).
        redirect_slashes=False,
    )
    # Added first, so it runs inside the metrics: refusals are counted too.
    # The guard is given the routes so it decides by the route the router will take.
    app.add_middleware(
        Guard, keys=keys, max_body_bytes=config.max_body_bytes, routes=app.router.routes
    )
    app.add_middleware(MetricsMiddleware, metrics=served.metrics)
    app.add_exception_handler(RequestValidationError, invalid)  # type: ignore[arg-type]
    app.add_exception_handler(WeirError, weir_error)  # type: ignore[arg-type]
    add_docs(app)
    routers = [
        predict_router(served, request_ids()),
        health_router(served, keys),
        admin_router(served),
    ]
    mount(app, routers)
    app.state.holder, app.state.log, app.state.metrics = served.holder, served.log, served.metrics
    return app


def mount(app: FastAPI, routers: list[APIRouter]) -> None:
    """The routers' routes, in order, each one among the app's own and ahead of the docs:
    the app's router tries its routes in turn, and /predict is the one to find fast. The
    guard finds the route the router takes by asking each (FastAPI's include_router would
    keep a router whole, as one entry that matches for all of its routes)."""
    app.router.routes[0:0] = [route for router in routers for route in router.routes]


async def invalid(_: Request, exc: RequestValidationError) -> Response:
    """422 naming each field. The echoed input is made safe to send back: NaN and Infinity
    as text, and non-ASCII escaped, so even lone surrogates (invalid UTF-8, found by
    schemathesis) do not turn the answer into a 500."""
    return safe_json({"detail": jsonable_encoder(public_errors(list(exc.errors())))}, 422)


async def weir_error(_: Request, exc: WeirError) -> Response:
    status = 404 if isinstance(exc, NotFoundError) else 400
    return safe_json({"detail": exc.message, "fix": exc.fix}, status)
