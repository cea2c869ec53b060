"""POST /predict and /predict/batch, and GET /model: what is served.

(No postponed annotations here: FastAPI reads the generated request types from them.)

Request schemas come from the version served at start; a promoted version with other
inputs is not swapped in (the server says so in /ready and the log): serving it needs a
restart, so clients see the new schema in /openapi.json. With a shadow, the schema also
takes, optionally, the fields only the challenger takes (weir.serve.shadow); sampled
requests are handed to the shadow after the answer is sent, and it writes their log rows.
"""

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask

from weir.ml.rows import MISSING
from weir.serve.body_route import STARTED, BodyRoute
from weir.serve.errors import public_errors
from weir.serve.guard import ID
from weir.serve.model import LoadedModel, NotFiniteError
from weir.serve.routes.keyed import KEYED
from weir.serve.schemas import batch_model, request_model, response_model
from weir.serve.served import Served
from weir.serve.shadow import Job

REFUSALS: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 413: {}, 415: {}, 422: {}}


def predict_router(served: Served, new_request_id: Callable[[], str]) -> APIRouter:
    model, task = served.model, served.holder.current.task
    shadow = served.shadow
    optional = {n: shadow.carried[n] for n in sorted(shadow.optional)} if shadow else None
    row_type = request_model(model, served.inputs, optional)
    batch_type = batch_model(model, row_type, served.config.max_batch)
    answers = Answers(served, new_request_id)
    router = APIRouter()

    async def predict(row: row_type, request: Request) -> Response:  # type: ignore[valid-type]
        return answers.reply([row], request, batch=False)

    async def predict_batch(batch: batch_type, request: Request) -> Response:  # type: ignore[valid-type]
        return answers.reply(batch.rows, request, batch=True)  # type: ignore[attr-defined]

    single = {200: {"model": response_model(model, task, batch=False)}, **REFUSALS}
    many = {200: {"model": response_model(model, task, batch=True)}, **REFUSALS}
    for path, endpoint, responses, summary in (
        ("/predict", predict, single, "One prediction"),
        ("/predict/batch", predict_batch, many, f"Up to {served.config.max_batch} predictions"),
    ):
        router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            responses=responses,
            summary=summary,
            dependencies=KEYED,
            route_class_override=BodyRoute,
        )

    @router.get("/model", dependencies=KEYED, summary="What is served")
    def info() -> dict[str, Any]:
        current = served.holder.current
        return {
            "model": model,
            "version": current.version,
            "stage": current.stage,
            "task": current.task,
            "inputs": current.inputs,
            "classes": current.classes,
            "decision_threshold": current.threshold,
            "quantized": current.quantized,
            "shadow": shadow_info(served),
        }

    return router


def shadow_info(served: Served) -> dict[str, Any] | None:
    """The shadow's challenger, and why it does not answer (every request), if it does not."""
    shadow, config = served.shadow, served.config.shadow
    if shadow is None or config is None:
        return None
    current = shadow.holder.current
    return {
        "stage": config.stage,
        "fraction": config.fraction,
        "version": current.version if current else None,
        "problem": shadow.holder.problem,
    }


class Answers:
    """The model's answers to validated rows: counted, sent, then logged (or handed to the
    shadow, which logs them with its answers)."""

    def __init__(self, served: Served, new_request_id: Callable[[], str]) -> None:
        self.served, self.new_request_id = served, new_request_id
        self.counted: dict[int, Any] = {}  # prediction counters by version, labelled once
        # the log's input JSON of a row: the served model's inputs (not the shadow's extra)
        self.dump = served.shadow.dump if served.shadow else _dump

    def reply(self, rows: list[BaseModel], request: Request, batch: bool) -> Response:
        """The answer, with its prediction-log lines written after it is sent: the caller
        does not wait for them, and the time goes while it reads the answer."""
        current = self.served.holder.current  # one model for the whole request, even across a swap
        request_id = request.scope.get(ID) or self.new_request_id()
        prepared = [row.model_dump() for row in rows]
        answers = self.answer(current, prepared)
        head = {"model": self.served.model, "version": current.version, "request_id": request_id}
        body = {**head, "predictions": answers} if batch else {**head, **answers[0]}
        background = None
        log, shadow, dump = self.served.log, self.served.shadow, self.dump
        if log or shadow:
            latency = (time.perf_counter() - request.scope[STARTED]) * 1000

            async def log_answers() -> None:  # async: run in place, not in a thread
                if shadow:
                    job = Job(request_id, current.version, rows, prepared, answers, latency)
                    if shadow.offer(job):
                        return  # the shadow writes its rows
                if log:
                    for row, output in zip(rows, answers, strict=True):
                        log.add(request_id, current.version, dump(row), output, latency)

            background = BackgroundTask(log_answers)
        return JSONResponse(body, headers={"X-Request-ID": request_id}, background=background)

    def answer(self, current: LoadedModel, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        metrics, model = self.served.metrics, self.served.model
        refused = unknown_category(current, rows)
        if refused is not None:
            metrics.errors.labels(model, "unknown_category").inc()
            raise HTTPException(422, public_errors([refused]))
        try:
            answers = current.predict(rows)
        except NotFiniteError as exc:
            metrics.errors.labels(model, "not_finite").inc()
            raise HTTPException(422, public_errors(not_finite(exc.rows, len(rows)))) from None
        self.counted.get(current.version) or self.counted.setdefault(
            current.version, metrics.predictions.labels(model, str(current.version))
        )
        self.counted[current.version].inc(len(rows))
        return answers


def _dump(row: BaseModel) -> str:
    return row.model_dump_json()


def unknown_category(current: LoadedModel, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The 422 error for the first category the model did not see in training, if any."""
    for column, known in current.known_categories.items():
        for index, row in enumerate(rows):
            value = row.get(column)
            seen = MISSING if value in (None, "") else value
            if seen not in known:
                where = ["body", column] if len(rows) == 1 else ["body", "rows", index, column]
                what = "a missing value" if seen == MISSING else f"unknown category {value!r}"
                message = f"{what} for {column}: the model refuses what it did not see in training"
                return {"type": "unknown_category", "loc": where, "msg": message, "input": value}
    return None


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
