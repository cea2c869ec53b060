"""A BodyRoute is one route with one handler: the OpenAPI document from its endpoint's
signature, the body validated from its bytes and handed to that endpoint."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from weir.serve.body_route import STARTED, BodyRoute
from weir.serve.schemas import batch_model


class Row(BaseModel):
    a: int
    b: str


Batch = batch_model("m", Row, 3)


def app() -> FastAPI:
    served = FastAPI()

    async def one(row: Row, request: Request) -> Response:
        return JSONResponse({"a": row.a, "timed": STARTED in request.scope})

    def many(batch: Batch) -> dict[str, Any]:  # type: ignore[valid-type]
        return {"rows": len(batch.rows)}  # type: ignore[attr-defined]

    served.router.add_api_route("/one", one, methods=["POST"], route_class_override=BodyRoute)
    served.router.add_api_route("/many", many, methods=["POST"], route_class_override=BodyRoute)
    return served


def post(served: FastAPI, path: str, body: bytes, method: str = "POST") -> tuple[int, Any]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(served(scope, receive, send))
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(text)


def test_the_endpoint_gets_the_validated_body_and_the_request() -> None:
    assert post(app(), "/one", b'{"a": 1, "b": "x"}') == (200, {"a": 1, "timed": True})
    assert post(app(), "/many", b'{"rows": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}') == (
        200,
        {"rows": 2},
    )


def test_refusals_keep_fastapis_shape_and_fields_given_twice_are_refused() -> None:
    status, body = post(app(), "/one", b'{"a": "one", "b": "x"}')
    assert status == 422 and body["detail"][0]["loc"] == ["body", "a"]
    status, body = post(app(), "/one", b"{not json")
    assert status == 422 and body["detail"][0]["input"] == {}  # not echoed
    status, body = post(app(), "/one", b'{"a": 1, "b": "x", "a": 2}')
    assert status == 422 and body["detail"][0]["type"] == "duplicate_key"
    status, body = post(app(), "/many", b'{"rows": [{"a": 1, "b": "x", "b": "y"}]}')
    assert status == 422 and "'b' is given twice" in body["detail"][0]["msg"]
    assert post(app(), "/one", b"", method="GET")[0] == 405


def test_the_openapi_document_comes_from_the_endpoint() -> None:
    document = app().openapi()
    schema = document["paths"]["/one"]["post"]["requestBody"]["content"]["application/json"]
    assert schema["schema"] == {"$ref": "#/components/schemas/Row"}
    assert [r.path for r in app().routes if isinstance(r, BodyRoute)] == ["/one", "/many"]
