"""GET /health, /ready and /metrics: is the process up, is it ready, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from weir.serve.auth import Keys
from weir.serve.guard import ROLE
from weir.serve.routes.keyed import KEYED
from weir.serve.served import Served


def health_router(served: Served, keys: Keys) -> APIRouter:
    router = APIRouter()

    @router.get("/health", summary="The process is up")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", summary="A model is loaded and the prediction log is writing")
    def ready(request: Request) -> JSONResponse:
        """Ready or not (the status), for anyone: a balancer's probe sends no key. What is
        served and what is wrong (messages may name files) only with a key, or on a
        server without keys (loopback only)."""
        problems = not_ready(served)
        status = 200 if not problems else 503
        if keys.enabled and request.scope.get(ROLE) is None:
            return JSONResponse({"ready": not problems}, status_code=status)
        body = {
            "ready": not problems,
            "model": served.model,
            "version": served.holder.current.version,
            "problems": problems,
        }
        return JSONResponse(body, status_code=status)

    @router.get("/metrics", dependencies=KEYED, summary="Prometheus metrics")
    def prometheus() -> Response:
        metrics, log = served.metrics, served.log
        if served.shadow:
            metrics.shadow.queued.labels(served.model).set(served.shadow.queued)
        if log:
            metrics.log_buffered.set(log.buffered)
            metrics.log_written.set(log.written)
            metrics.log_stalled.set(log.stalled_seconds())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def not_ready(served: Served) -> list[str]:
    """What keeps the server from being ready: a promotion it cannot serve, a prediction
    log that fails or writes nothing."""
    problems = [served.blocked] if served.blocked else []
    log = served.log
    if log and log.failures and log.buffered:
        problems.append(f"prediction log: {log.last_error}")
    elif log and log.stalled_seconds() > log.stall_limit:
        problems.append(
            f"prediction log: {log.buffered} waiting, none written for "
            f"{log.stalled_seconds():.0f} s: the writer runs at the lowest CPU priority, "
            "and the machine leaves it none (serve.onnx_threads: 0 under load is one cause)"
        )
    return problems
