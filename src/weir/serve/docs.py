"""/docs: Swagger UI from files shipped in the package (static/), never from a CDN.

The page and its assets are sent with a Content-Security-Policy that lets them load
scripts, styles and data from this server only (images may also be `data:` URLs, which the
stylesheet uses for its icons), and that forbids framing the page.
"""

from __future__ import annotations

import html
from importlib import resources

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "docs.js": "text/javascript; charset=utf-8",
    "LICENSE": "text/plain; charset=utf-8",
}
POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/docs.js" data-openapi="{openapi}"></script>
</body>
</html>
"""


def add_docs(app: FastAPI) -> None:
    """GET /docs and its assets (kept out of the OpenAPI document)."""
    page = PAGE.format(
        title=html.escape(f"{app.title} - API"), openapi=html.escape(app.openapi_url or "")
    )
    loaded: dict[str, bytes] = {}

    async def docs(_: Request) -> Response:
        return HTMLResponse(page, headers=HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return Response(status_code=404, headers=HEADERS)
        if name not in loaded:
            loaded[name] = (resources.files("weir.serve") / "static" / name).read_bytes()
        headers = {**HEADERS, "Cache-Control": "public, max-age=3600"}
        return Response(loaded[name], media_type=ASSETS[name], headers=headers)

    app.router.routes.append(Route("/docs", docs, methods=["GET"], include_in_schema=False))
    app.router.routes.append(Route("/docs/{name}", asset, methods=["GET"], include_in_schema=False))
