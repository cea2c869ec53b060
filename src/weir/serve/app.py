"""The FastAPI application: predictions, model info, health, metrics, admin.

(No postponed annotations here: FastAPI reads the generated request types from them.)

Built for one model. Request schemas come from the version served at start; a promoted
version with other inputs is not swapped in (the server says so in /ready and the log):
serving it needs a restart, so clients see the new schema in /openapi.json.
"""

import asyncio
import contextlib
import gc
import itertools
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from weir.app.workspace import Workspace
from weir.core.errors import NotFoundError, WeirError
from weir.ml.features import MISSING
from weir.project.ml_config import ServeConfig
from weir.serve.auth import Keys
from weir.serve.docs import add_docs
from weir.serve.errors import public_errors
from weir.serve.guard import ID, ROLE, Guard
from weir.serve.log import PredictionLog
from weir.serve.metrics import Metrics, MetricsMiddleware
from weir.serve.model import LoadedModel, ModelHolder, NotFiniteError
from weir.serve.schemas import batch_model, repeated_key, request_model, response_model

logger = logging.getLogger("weir.serve")


class Promotion(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no version from a string

    version: int = Field(ge=1, le=2**31 - 1)
    stage: Literal["candidate", "staging", "production", "archived"] = "production"
    reason: str = Field(default="", max_length=1000)

    @field_validator("reason")
    @classmethod
    def _text(cls, value: str) -> str:
        value.encode("utf-8")  # lone surrogates cannot be stored; UnicodeError is a ValueError
        return value


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
    holder = ModelHolder(ws, model, config.stage, version, config.onnx_threads)
    first = holder.current
    metrics = Metrics()
    metrics.version.labels(model).set(first.version)
    log = (
        PredictionLog(
            log_path or ws.project.workspace / "predictions" / model,
            first.inputs,
            config.log.flush_rows,
            config.log.flush_seconds,
            model,
            config.busy_poll_ms / 1000,
        )
        if config.log.enabled
        else None
    )
    state: dict[str, Any] = {"blocked": None}
    new_request_id = request_ids()
    counted: dict[int, Any] = {}  # prediction counters by version, labelled once

    def other_inputs(wanted: Any) -> str | None:
        if (wanted.details.get("serving") or {}).get("inputs") == first.inputs:
            return None
        return f"v{wanted.version} takes other inputs than v{first.version}; restart weir serve to serve it"

    def refresh() -> bool:
        try:
            swapped, state["blocked"] = holder.refresh(other_inputs)
        except Exception as exc:  # the registry is unreachable or empty: keep serving
            state["blocked"] = str(exc)
            return False
        if swapped:
            metrics.version.labels(model).set(holder.current.version)
            logger.warning("now serving %s v%s", model, holder.current.version)
        return swapped

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def watch() -> None:
            while True:
                await asyncio.sleep(config.reload_seconds)
                await asyncio.to_thread(refresh)

        # Everything loaded so far (libraries, the model) lives as long as the process:
        # frozen, full garbage collections stop walking it. Without this, rows waiting in
        # the prediction log set off full collections over a million objects (p99 73 ms
        # instead of about 1 ms under load).
        gc.collect()
        gc.freeze()
        task = asyncio.create_task(watch()) if version is None else None
        try:
            yield
        finally:
            if task:
                task.cancel()
            if log:
                await asyncio.to_thread(log.close)
            gc.unfreeze()  # back to normal collection (and a clean interpreter exit)

    app = FastAPI(
        title=f"Weir: {model}",
        version=str(first.version),
        description=f"Predictions of model {model} ({first.task}); fields are the model's inputs.",
        lifespan=lifespan,
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
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    add_docs(app)
    row_type = request_model(model, first.inputs)
    batch_type = batch_model(model, row_type, config.max_batch)

    # The guard checks keys before a route runs; these only put the two ways of sending
    # a key into the OpenAPI document (and /docs's Authorize button).
    bearer = HTTPBearer(auto_error=False, description="a key: Authorization: Bearer KEY")
    api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="or X-API-Key: KEY")
    keyed = [Depends(bearer), Depends(api_key)]

    def answer(current: LoadedModel, validated: list[BaseModel]) -> list[dict[str, Any]]:
        rows = [row.model_dump() for row in validated]
        for column, known in current.known_categories.items():
            for index, row in enumerate(rows):
                value = row.get(column)
                seen = MISSING if value in (None, "") else value
                if seen not in known:
                    metrics.errors.labels(model, "unknown_category").inc()
                    where = ["body", column] if len(rows) == 1 else ["body", "rows", index, column]
                    what = "a missing value" if seen == MISSING else f"unknown category {value!r}"
                    message = (
                        f"{what} for {column}: the model refuses what it did not see in training"
                    )
                    detail = {
                        "type": "unknown_category",
                        "loc": where,
                        "msg": message,
                        "input": value,
                    }
                    raise HTTPException(422, public_errors([detail]))
        try:
            answers = current.predict(rows)
        except NotFiniteError as exc:
            metrics.errors.labels(model, "not_finite").inc()
            raise HTTPException(422, public_errors(not_finite(exc.rows, len(rows)))) from None
        counted.get(current.version) or counted.setdefault(
            current.version, metrics.predictions.labels(model, str(current.version))
        )
        counted[current.version].inc(len(rows))
        return answers

    def respond(
        body: dict[str, Any],
        current: LoadedModel,
        validated: list[BaseModel],
        answers: list[dict[str, Any]],
        started: float,
    ) -> Response:
        """The answer, with its prediction-log lines written after it is sent: the caller
        does not wait for them, and the time goes while it reads the answer."""
        request_id = body["request_id"]
        background = None
        if log:
            latency = (time.perf_counter() - started) * 1000

            async def log_answers() -> None:  # async: run in place, not in a thread
                for row, output in zip(validated, answers, strict=True):
                    log.add(request_id, current.version, row.model_dump_json(), output, latency)

            background = BackgroundTask(log_answers)
        return JSONResponse(body, headers={"X-Request-ID": request_id}, background=background)

    single_response = response_model(model, first.task, batch=False)
    batch_response = response_model(model, first.task, batch=True)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        """422 naming each field. The echoed input is made safe to send back: NaN and
        Infinity as text, and non-ASCII escaped, so even lone surrogates (invalid UTF-8,
        found by schemathesis) do not turn the answer into a 500."""
        return _safe_json({"detail": jsonable_encoder(public_errors(list(exc.errors())))}, 422)

    @app.exception_handler(WeirError)
    async def weir_error(_: Request, exc: WeirError) -> Response:
        status = 404 if isinstance(exc, NotFoundError) else 400
        return _safe_json({"detail": exc.message, "fix": exc.fix}, status)

    def reply(rows: list[BaseModel], request: Request, started: float, batch: bool) -> Response:
        current = holder.current  # one model for the whole request, even across a swap
        request_id = request.scope.get(ID) or new_request_id()
        answers = answer(current, rows)
        head = {"model": model, "version": current.version, "request_id": request_id}
        body = {**head, "predictions": answers} if batch else {**head, **answers[0]}
        return respond(body, current, rows, answers, started)

    documented = {200: {"model": single_response}, 401: {}, 403: {}, 413: {}, 415: {}, 422: {}}

    @app.post("/predict", responses=documented, summary="One prediction", dependencies=keyed)  # type: ignore[arg-type]
    async def predict(row: row_type, request: Request) -> Response:  # type: ignore[valid-type]
        """The contract of /predict, for OpenAPI; `predict_direct` answers it (matched first)."""
        return reply([row], request, time.perf_counter(), batch=False)

    async def predict_direct(request: Request) -> Response:
        """/predict without FastAPI's per-request machinery (dependency solving, json.loads
        into Python, then validation): pydantic validates the JSON bytes in one Rust pass.
        The guard has checked the key, the content type and the size before the body was
        read. Errors keep FastAPI's shape: loc starts with 'body'. Returned as a Response:
        the generated types are already checked, and FastAPI's response validation would
        cost as much as the model itself."""
        started = time.perf_counter()
        row = validated(row_type, await request.body())
        if isinstance(row, Response):
            return row
        return reply([row], request, started, batch=False)

    batch_documented = {200: {"model": batch_response}, 401: {}, 403: {}, 413: {}, 415: {}, 422: {}}

    @app.post(
        "/predict/batch",
        responses=batch_documented,  # type: ignore[arg-type]
        summary=f"Up to {config.max_batch} predictions",
        dependencies=keyed,
    )
    async def predict_batch(batch: batch_type, request: Request) -> Response:  # type: ignore[valid-type]
        """The contract of /predict/batch, for OpenAPI; `batch_direct` answers it."""
        return reply(batch.rows, request, time.perf_counter(), batch=True)  # type: ignore[attr-defined]

    async def batch_direct(request: Request) -> Response:
        """/predict/batch as `predict_direct` does /predict: the body, already capped by
        the guard, validated in one pass that stops at max_batch + 1 rows."""
        started = time.perf_counter()
        batch = validated(batch_type, await request.body(), row_type)
        if isinstance(batch, Response):
            return batch
        return reply(batch.rows, request, started, batch=True)  # type: ignore[attr-defined]

    app.router.routes[0:0] = [
        Route("/predict", predict_direct, methods=["POST"]),
        Route("/predict/batch", batch_direct, methods=["POST"]),
    ]

    @app.get("/model", dependencies=keyed, summary="What is served")
    def info() -> dict[str, Any]:
        current = holder.current
        return {
            "model": model,
            "version": current.version,
            "stage": current.stage,
            "task": current.task,
            "inputs": current.inputs,
            "classes": current.classes,
            "decision_threshold": current.threshold,
            "quantized": current.quantized,
        }

    @app.get("/health", summary="The process is up")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="A model is loaded and the prediction log is writing")
    def ready(request: Request) -> JSONResponse:
        """Ready or not (the status), for anyone: a balancer's probe sends no key. What is
        served and what is wrong (messages may name files) only with a key, or on a
        server without keys (loopback only)."""
        problems = [state["blocked"]] if state["blocked"] else []
        if log and log.failures and log.buffered:
            problems.append(f"prediction log: {log.last_error}")
        elif log and log.stalled_seconds() > log.stall_limit:
            problems.append(
                f"prediction log: {log.buffered} waiting, none written for "
                f"{log.stalled_seconds():.0f} s: the writer runs at the lowest CPU priority, "
                "and the machine leaves it none (serve.onnx_threads: 0 under load is one cause)"
            )
        status = 200 if not problems else 503
        if keys.enabled and request.scope.get(ROLE) is None:
            return JSONResponse({"ready": not problems}, status_code=status)
        body = {
            "ready": not problems,
            "model": model,
            "version": holder.current.version,
            "problems": problems,
        }
        return JSONResponse(body, status_code=status)

    @app.get("/metrics", dependencies=keyed, summary="Prometheus metrics")
    def prometheus() -> Response:
        if log:
            metrics.log_buffered.set(log.buffered)
            metrics.log_written.set(log.written)
            metrics.log_stalled.set(log.stalled_seconds())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/reload", dependencies=keyed, summary="Look for a promotion now")
    def reload() -> dict[str, Any]:
        swapped = refresh()
        return {
            "model": model,
            "version": holder.current.version,
            "swapped": swapped,
            "problem": state["blocked"],
        }

    @app.post("/admin/promote", dependencies=keyed, summary="Promote a version, then reload")
    def promote(promotion: Promotion) -> dict[str, Any]:
        """The contract of /admin/promote, for OpenAPI; `promote_direct` answers it, so
        its body is read as the predictions' are (a field given twice is refused)."""
        moves = ws.catalog.set_stage(
            model,
            promotion.version,
            promotion.stage,
            promotion.reason or "promoted through the API",
        )
        swapped = refresh()
        return {
            "moves": [f"v{m.version}: {m.from_stage} -> {m.to_stage}" for m in moves],
            "version": holder.current.version,
            "swapped": swapped,
        }

    async def promote_direct(request: Request) -> Response:
        promotion = validated(Promotion, await request.body())
        if isinstance(promotion, Response):
            return promotion
        return JSONResponse(await run_in_threadpool(promote, promotion))  # type: ignore[arg-type]

    app.router.routes[0:0] = [Route("/admin/promote", promote_direct, methods=["POST"])]
    app.state.holder, app.state.log, app.state.metrics = holder, log, metrics
    return app


def not_finite(rows: list[int], count: int) -> list[dict[str, Any]]:
    """422 errors for rows the model answers with no finite number (neither answered nor
    logged): the place of each row, and what to do."""
    return [
        {
            "type": "not_finite",
            "loc": ["body"] if count == 1 else ["body", "rows", row],
            "msg": "the model's answer for these inputs is not a finite number: they are far "
            "outside what it was trained on",
        }
        for row in rows
    ]


def validated(
    kind: type[BaseModel], body: bytes, row: type[BaseModel] | None = None
) -> BaseModel | Response:
    """The request body as `kind`, or a 422 in FastAPI's shape (loc starts with 'body'); a
    body that is not JSON (or not UTF-8) is not echoed, and one that gives a field twice
    is refused (`row`: the type of a batch's rows)."""
    try:
        value = kind.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            {**e, "loc": ["body", *e["loc"]]}
            | ({"input": {}} if e["type"] == "json_invalid" else {})
            for e in exc.errors(include_url=False, include_context=False)
        ]
        return _safe_json({"detail": jsonable_encoder(public_errors(errors))}, 422)
    rows = len(value.rows) if row is not None else 1  # type: ignore[attr-defined]
    problem = repeated_key(body, tuple((row or kind).model_fields), rows)
    if problem is None:
        return value
    error = {"type": "duplicate_key", "loc": ["body"], "msg": f"{problem}: send each field once"}
    return _safe_json({"detail": [error]}, 422)


def _safe_json(body: Any, status: int) -> Response:
    text = json.dumps(body, ensure_ascii=True, allow_nan=False, default=str)
    return Response(text, status_code=status, media_type="application/json")
