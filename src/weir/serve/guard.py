"""The server's front door: every request passes here before any route reads a byte of it.

What a request needs is the rule of the route the router will take for it (RULES, by the
route's path), however its path is spelled; a route with no rule is refused. Then, in this
order, from the headers alone (nothing read from the body yet):

0. Each header the guard decides by comes once (two Hosts, keys, content types: 400), and
   no Upgrade to another protocol (400).
1. Without API keys (loopback only): the Host must be a loopback name or address, and an
   Origin, when sent, too; a browser's cross-site request is refused. A page on another
   site cannot then reach the server through DNS rebinding (its Host is the attacker's
   name) nor by a cross-site form or fetch (its Origin is the other site).
2. The key, on every route that does work or shows the model: 401 or 403 before the body;
   a Bearer key and an X-API-Key at once: 400.
3. X-Request-ID: at most 128 characters of a safe set, or 400; it is echoed and logged.
4. Bodies: a declared Content-Length over the cap is refused unread (413, any route); a
   Transfer-Encoding other than chunked is not done (501). Routes that take a body want a
   JSON content type and no Content-Encoding (415 otherwise: form posts, text/plain and
   multipart are what a cross-site page can send without asking; gzip is not decoded),
   and a body without a Content-Length (chunked) is counted as it arrives and refused as
   soon as it passes the cap (413).

Only then is the body read (whole, at most the cap) and handed to the route, which parses
it once. Refusals close the connection, so an unread body is not drained.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute, Match

from weir.serve.auth import Keys

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Rule:
    """What a path needs: a role (None: open to all) and whether it takes a body."""

    role: str | None
    body: bool


# By path, whatever the method: HEAD /metrics needs the key as GET /metrics does.
RULES = {
    "/predict": Rule("predict", body=True),
    "/predict/batch": Rule("predict", body=True),
    "/model": Rule("predict", body=False),
    "/metrics": Rule("predict", body=False),
    "/admin/reload": Rule("admin", body=False),
    "/admin/promote": Rule("admin", body=True),
}
OPEN = Rule(None, body=False)
# Routes open to all; a route in neither table is refused (403), so a new route without a
# rule fails closed.
OPEN_ROUTES = frozenset({"/health", "/ready", "/openapi.json", "/docs", "/docs/{name}"})
NO_RULE = Rule("none", body=False)
REQUEST_ID = re.compile(r"[A-Za-z0-9._:;=/+@-]{1,128}")
ROLE, ID = "weir.role", "weir.request_id"  # what the guard leaves in the scope for routes


class RefusedError(Exception):
    def __init__(
        self, status: int, detail: str, fix: str, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.fix, self.headers = status, detail, fix, headers


class GoneError(Exception):
    """The client went away before its body had arrived (it hung up, or the connection
    was cut off for being too slow, see `weir.serve.protocol`)."""


def loopback_host(value: str) -> bool:
    """`localhost`, `localhost.`, an IPv4 loopback address or `[::1]`, with an optional
    port. Nothing a DNS name can be made to point at: no other name, however it resolves."""
    host = value.strip().lower()
    if host.startswith("["):
        address, _, rest = host[1:].partition("]")
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return False
    else:
        address, colon, port = host.partition(":")
        if colon and not port.isdigit():
            return False
        if address in ("localhost", "localhost."):
            return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def loopback_origin(value: str) -> bool:
    """An Origin (`scheme://host[:port]`) of an http(s) page served from loopback; `null`
    (sandboxed frames, file: pages, redirects) is not."""
    scheme, sep, rest = value.strip().lower().partition("://")
    return bool(sep) and scheme in ("http", "https") and "/" not in rest and loopback_host(rest)


def json_content_type(value: bytes) -> bool:
    """`application/json`, with any parameters but a charset other than UTF-8."""
    if value == b"application/json":
        return True
    kind, *params = value.decode("latin-1").split(";")
    if kind.strip().lower() != "application/json":
        return False
    for param in params:
        name, _, given = param.partition("=")
        if name.strip().lower() == "charset" and given.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


class Guard:
    """Pure ASGI middleware (no per-request task or Request object): what it adds to a
    request is one pass over the headers, a dict lookup, the key check and, for routes
    with a body, the body read that the route would have done anyway."""

    def __init__(
        self, app: ASGIApp, keys: Keys, max_body_bytes: int, routes: Sequence[BaseRoute] = ()
    ) -> None:
        self.app, self.keys, self.limit, self.routes = app, keys, max_body_bytes, routes
        self._hosts_ok: set[bytes] = set()  # Host values already found loopback (a few)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            path = scope["path"]
            rule = RULES.get(path) or (OPEN if path in OPEN_ROUTES else self._routed(scope))
            length = self._check(scope, rule)
            if rule.body:
                receive = await self._read(receive, length)
        except RefusedError as refused:
            await _refuse(send, refused)
            return
        except GoneError:  # nobody to answer; the route would only fail on a part body
            return
        await self.app(scope, receive, send)

    def _routed(self, scope: Scope) -> Rule:
        """The rule of the route the router will take for a path not spelled as in RULES,
        found by asking the routes as the router asks them. The spelling is no way around
        a rule: Starlette's patterns end in `$`, which also matches before a final
        newline, so `/admin/promote%0A` is routed to /admin/promote. Paths of no route are
        open (the router answers 404)."""
        for route in self.routes:
            found, _ = route.matches(scope)
            if found is not Match.NONE:
                template = getattr(route, "path", None)
                if template in OPEN_ROUTES:
                    return OPEN
                return RULES.get(template, NO_RULE)  # type: ignore[arg-type]
        return OPEN

    def _check(self, scope: Scope, rule: Rule) -> int | None:
        """Everything decided from the headers; returns the declared body length."""
        found = _deciding_headers(scope["headers"])
        if not self.keys.enabled:
            self._loopback_only(
                found.get(b"host"), found.get(b"origin"), found.get(b"sec-fetch-site")
            )
        if b"upgrade" in found:
            raise RefusedError(
                400,
                "this server speaks HTTP/1.1 only: it does not switch protocols (Upgrade)",
                "send the request without an Upgrade header",
            )
        role = self.keys.role(key) if self.keys.enabled and (key := _key(found)) else None
        scope[ROLE] = role
        if rule is NO_RULE:
            raise RefusedError(
                403, "this route has no access rule (a bug in Weir)", "report it to Weir's authors"
            )
        if rule.role is not None and self.keys.enabled:
            _authorize(role, rule.role)
        if (request_id := found.get(b"x-request-id")) is not None:
            scope[ID] = _request_id(request_id)
        declared = _length(found.get(b"content-length"))
        if declared is not None and declared > self.limit:
            raise _too_large(self.limit, f"its Content-Length is {declared:,} bytes")
        coding = found.get(b"transfer-encoding")
        if coding is not None and coding.strip().lower() != b"chunked":
            raise RefusedError(
                501,
                f"Transfer-Encoding {coding.decode('latin-1')[:60]!r} is not supported",
                "send the body as it is, with Content-Length or 'Transfer-Encoding: chunked'",
            )
        if rule.body and (declared or coding is not None):
            _json_body(found)
        return declared

    def _loopback_only(self, host: bytes | None, origin: bytes | None, site: bytes | None) -> None:
        fix = (
            "call the server as http://127.0.0.1:PORT (or localhost, [::1]); to serve other "
            "hosts, add an API key (weir api-key add NAME) and listen on their address"
        )
        if host is None:
            raise RefusedError(400, "the request has no Host header", fix)
        if host not in self._hosts_ok:
            if not loopback_host(host.decode("latin-1")):
                shown = host.decode("latin-1")[:100]
                raise RefusedError(
                    403,
                    f"Host {shown!r} is not a loopback name: without API keys the server "
                    "answers only requests addressed to this machine",
                    fix,
                )
            if len(self._hosts_ok) < 16:
                self._hosts_ok.add(host)
        if origin is not None and not loopback_origin(origin.decode("latin-1")):
            raise RefusedError(
                403,
                f"Origin {origin.decode('latin-1')[:100]!r} is not a page on this machine: "
                "without API keys the server answers no other site's pages",
                fix,
            )
        if site == b"cross-site":
            raise RefusedError(403, "a cross-site request from a browser (Sec-Fetch-Site)", fix)

    async def _read(self, receive: Receive, declared: int | None) -> Receive:
        """The whole body, counted against the cap as it arrives, replayed to the route."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise GoneError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise _too_large(self.limit, f"more than {self.limit:,} bytes arrived")
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return _replay({"type": "http.request", "body": body, "more_body": False}, receive)


def _replay(first: Message, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # after the body: only a disconnect can come
        sent = True
        return first

    return replay


# Headers the guard decides by: each may come once. Two Hosts, keys or content types would
# be read one way here and maybe another by a proxy in front (RFC 9110 requires a 400 for
# two Hosts); two Content-Lengths are refused by the HTTP parser already.
DECIDING = frozenset(
    (b"host", b"authorization", b"x-api-key", b"content-type", b"content-length",
     b"content-encoding", b"transfer-encoding", b"x-request-id", b"origin",
     b"sec-fetch-site", b"upgrade")
)  # fmt: skip


SHOWN = {b"x-api-key": "X-API-Key", b"x-request-id": "X-Request-ID"}


def _deciding_headers(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in DECIDING:
            if name in found:
                shown = SHOWN.get(name) or name.decode("latin-1").title()
                raise RefusedError(
                    400,
                    f"the request has more than one {shown} header",
                    f"send {shown} once",
                )
            found[name] = value
    return found


def _key(found: dict[bytes, bytes]) -> bytes | None:
    """The key sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`; both at once is
    refused rather than one of them chosen (another Authorization scheme is not a key)."""
    key, authorization = found.get(b"x-api-key"), found.get(b"authorization")
    if authorization is None or authorization[:7].lower() != b"bearer ":
        return key
    if key is not None:
        raise RefusedError(
            400,
            "the request has two keys (Authorization: Bearer and X-API-Key)",
            "send one of them",
        )
    return authorization[7:].strip()


def _json_body(found: dict[bytes, bytes]) -> None:
    """A body the route can parse: declared JSON in UTF-8, not compressed (the server
    decodes no Content-Encoding, and would read gzip as broken JSON)."""
    content_type = found.get(b"content-type")
    if not (content_type and json_content_type(content_type)):
        shown = content_type.decode("latin-1")[:60] if content_type else "none"
        raise RefusedError(
            415,
            f"the body must be JSON (Content-Type: application/json); it was {shown!r}",
            "send 'Content-Type: application/json' with a UTF-8 JSON body",
        )
    coding = found.get(b"content-encoding", b"identity").strip().lower()
    if coding not in (b"identity", b""):
        raise RefusedError(
            415,
            f"Content-Encoding {coding.decode('latin-1')[:60]!r} is not supported",
            "send the JSON uncompressed",
        )


def _authorize(role: str | None, needed: str) -> None:
    if role is None:
        raise RefusedError(
            401,
            "missing or unknown API key",
            "send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
            ((b"www-authenticate", b"Bearer"),),
        )
    if not Keys.allows(role, needed):
        raise RefusedError(
            403, f"this key's role ({role}) may not {needed}", f"use a key with the {needed} role"
        )


def _request_id(value: bytes) -> str:
    text = value.decode("latin-1")
    if len(text) > 128 or not REQUEST_ID.fullmatch(text):
        raise RefusedError(
            400,
            f"X-Request-ID must be 1 to 128 characters of letters, digits and . _ : ; = / + @ -; "
            f"it was {len(text)} characters",
            "send an id such as a UUID, or none (the server then makes one)",
        )
    return text


def _length(value: bytes | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise RefusedError(400, "Content-Length is not a number of bytes", "send a valid request")
    return int(value)


def _too_large(limit: int, what: str) -> RefusedError:
    return RefusedError(
        413,
        f"the body is too large: {what}, and the limit is {limit:,} (serve.max_body_bytes)",
        "send fewer rows per request, or raise serve.max_body_bytes",
    )


async def _refuse(send: Send, refused: RefusedError) -> None:
    body = json.dumps({"detail": refused.detail, "fix": refused.fix}, ensure_ascii=True).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # an unread body is not drained
        *refused.headers,
    ]
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
