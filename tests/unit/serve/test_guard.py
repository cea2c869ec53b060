"""The server's front door, driven as ASGI: what is refused before a route runs, and that
nothing of a refused request's body is read."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weir.serve import auth
from weir.serve.auth import Keys, digest
from weir.serve.guard import ID, RULES, Guard, json_content_type, loopback_host, loopback_origin

CALLER, ADMIN = "p" * 32, "a" * 32
KEYS = Keys({digest(CALLER): "predict", digest(ADMIN): "admin"})
JSON = (b"content-type", b"application/json")


@dataclass
class Call:
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[bytes, bytes] = field(default_factory=dict)
    reached: bool = False  # the route ran
    read: bytes = b""  # what the route read of the body
    received: int = 0  # messages the guard took from the client


def run(
    guard_keys: Keys,
    path: str,
    headers: list[tuple[bytes, bytes]],
    chunks: Iterable[bytes] = (),
    method: str = "POST",
    limit: int = 1000,
) -> Call:
    call = Call()
    pending = iter(chunks)
    upcoming = next(pending, None)

    async def receive() -> dict[str, Any]:
        nonlocal upcoming
        call.received += 1
        if upcoming is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk, upcoming = upcoming, next(pending, None)
        return {"type": "http.request", "body": chunk, "more_body": upcoming is not None}

    async def route(scope: Any, receive: Any, send: Any) -> None:
        call.reached = True
        while True:
            message = await receive()
            call.read += message.get("body", b"")
            if not message.get("more_body"):
                break
        call.body = {"id": scope.get(ID)}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            call.status = message["status"]
            call.headers = dict(message["headers"])
        elif call.status != 200:
            call.body = json.loads(message["body"])

    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    asyncio.run(Guard(route, guard_keys, limit)(scope, receive, send))
    return call


def local(*extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"127.0.0.1:8080"), *extra]


@pytest.mark.parametrize("path", sorted(RULES))
def test_every_keyed_route_refuses_a_missing_key_before_reading_the_body(path: str) -> None:
    endless = (b"x" * 100 for _ in iter(int, 1))  # a body that never ends
    call = run(KEYS, path, local(JSON, (b"content-length", b"900")), endless)
    assert call.status == 401 and not call.reached and call.received == 0
    assert call.headers[b"connection"] == b"close"  # the unread body is not drained
    assert call.headers[b"www-authenticate"] == b"Bearer"


@pytest.mark.parametrize("path", sorted(p for p, rule in RULES.items() if rule.role == "admin"))
def test_admin_routes_need_the_admin_role(path: str) -> None:
    caller = (b"authorization", b"Bearer " + CALLER.encode())
    assert run(KEYS, path, local(caller)).status == 403
    admin = (b"x-api-key", ADMIN.encode())
    assert run(KEYS, path, local(admin, JSON), [b"{}"]).status == 200


def test_a_declared_body_over_the_cap_is_refused_unread() -> None:
    key = (b"x-api-key", CALLER.encode())
    call = run(KEYS, "/predict/batch", local(key, JSON, (b"content-length", b"48000000")))
    assert call.status == 413 and not call.reached and call.received == 0
    assert "serve.max_body_bytes" in call.body["detail"]
    # any path: a declared length over the cap is not waited for
    assert run(Keys({}), "/nowhere", local((b"content-length", b"5000"))).status == 413


def test_a_chunked_body_is_counted_as_it_arrives_and_refused_past_the_cap() -> None:
    endless = (b"x" * 300 for _ in iter(int, 1))
    call = run(Keys({}), "/predict", local(JSON, (b"transfer-encoding", b"chunked")), endless)
    assert call.status == 413 and not call.reached and call.received == 4  # 1,200 > 1,000


def test_a_body_within_the_cap_reaches_the_route_whole() -> None:
    chunks = [b'{"rows": [', b"1, 2", b"]}"]
    call = run(Keys({}), "/predict/batch", local(JSON, (b"transfer-encoding", b"chunked")), chunks)
    assert call.status == 200 and call.read == b'{"rows": [1, 2]}'


@pytest.mark.parametrize(
    "host",
    [b"evil.example", b"evil.example:8080", b"127.0.0.1.evil.example", b"localhost.evil.example",
     b"127.1", b"0.0.0.0", b"[::ffff:7f00:1]", b"localhost:x", b"[::1]x", b"", b"10.0.0.1"],
)  # fmt: skip
def test_without_keys_a_host_that_is_not_loopback_is_refused(host: bytes) -> None:
    call = run(Keys({}), "/admin/promote", [(b"host", host), JSON], [b'{"version": 1}'])
    assert call.status == 403 and not call.reached and call.received == 0


def test_without_keys_a_request_without_host_is_refused() -> None:
    assert run(Keys({}), "/model", [], method="GET").status == 400


@pytest.mark.parametrize(
    "host", [b"127.0.0.1", b"127.0.0.1:8080", b"localhost", b"LOCALHOST:80", b"localhost.",
             b"[::1]", b"[::1]:8080", b"127.5.6.7:1"],
)  # fmt: skip
def test_loopback_hosts_are_served(host: bytes) -> None:
    assert run(Keys({}), "/model", [(b"host", host)], method="GET").status == 200


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [(b"null", False), (b"https://evil.example", False), (b"file://", False),
     (b"http://localhost:3000", True), (b"http://[::1]:8080", True),
     (b"http://127.0.0.1:8080/path", False), (b"javascript://localhost", False)],
)  # fmt: skip
def test_without_keys_an_origin_must_be_a_page_on_this_machine(
    origin: bytes, allowed: bool
) -> None:
    call = run(Keys({}), "/predict", local(JSON, (b"origin", origin)), [b"{}"])
    assert call.status == (200 if allowed else 403)


def test_without_keys_a_cross_site_browser_request_is_refused() -> None:
    call = run(Keys({}), "/predict", local(JSON, (b"sec-fetch-site", b"cross-site")), [b"{}"])
    assert call.status == 403 and not call.reached


def test_with_keys_host_and_origin_are_the_keys_business() -> None:
    key = (b"x-api-key", CALLER.encode())
    headers = [(b"host", b"api.example"), (b"origin", b"https://app.example"), key, JSON]
    assert run(KEYS, "/predict", headers, [b"{}"]).status == 200


@pytest.mark.parametrize(
    "kind",
    [None, b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
     b"application/json; charset=latin-1", b"application/jsonx", b"text/json"],
)  # fmt: skip
def test_a_body_that_is_not_declared_json_is_refused_with_415(kind: bytes | None) -> None:
    headers = local(*([(b"content-type", kind)] if kind else []), (b"content-length", b"2"))
    call = run(Keys({}), "/predict", headers, [b"{}"])
    assert call.status == 415 and not call.reached


@pytest.mark.parametrize(
    "kind", [b"application/json", b"Application/JSON", b"application/json; charset=utf-8",
             b'application/json;charset="UTF-8"']
)  # fmt: skip
def test_json_content_types(kind: bytes) -> None:
    assert json_content_type(kind)


@pytest.mark.parametrize(
    "value", [b"x" * 129, b"a b", b"a\nb", b"\x1b[31mred", b"<script>", b"", b"caf\xc3\xa9"]
)
def test_request_ids_are_limited_in_length_and_characters(value: bytes) -> None:
    call = run(Keys({}), "/predict", local(JSON, (b"x-request-id", value)), [b"{}"])
    assert call.status == 400 and not call.reached
    assert "X-Request-ID" in call.body["detail"] and len(json.dumps(call.body)) < 400


def test_a_valid_request_id_reaches_the_route() -> None:
    value = b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f"
    call = run(Keys({}), "/predict", local(JSON, (b"x-request-id", value)), [b"{}"])
    assert call.status == 200 and call.body["id"] == value.decode()


def test_keys_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stored hash (and every remembered key) is compared, whichever matches: no
    early exit, no dict lookup by the secret."""
    compared: list[object] = []
    real = hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: compared.append(a) or real(a, b))
    keys = Keys({digest(f"key-{i:016d}"): "predict" for i in range(5)})
    assert keys.role("key-0000000000000000") == "predict"
    assert len(compared) == 5  # all five hashes
    compared.clear()
    assert keys.role("key-0000000000000000") == "predict"  # remembered
    assert len(compared) == 1  # the one remembered key (no hash needed)
    compared.clear()
    assert keys.role("wrong-key-0000000") is None
    assert len(compared) == 1 + 5
    assert keys.role("k" * 10_000) is None  # not hashed at all


def test_loopback_helpers() -> None:
    assert loopback_host("[::1]:8080") and not loopback_host("[::2]")
    assert loopback_origin("https://localhost") and not loopback_origin("null")


@given(st.text(max_size=300))
def test_host_and_origin_parsers_take_any_text_and_admit_only_loopback(text: str) -> None:
    admitted = loopback_host(text)
    if admitted:
        name = text.strip().lower()
        name = name[1 : name.index("]")] if name.startswith("[") else name.partition(":")[0]
        assert name in ("localhost", "localhost.") or ipaddress.ip_address(name).is_loopback
    assert not loopback_origin(text) or text.strip().lower().startswith(("http://", "https://"))


@given(
    st.from_regex(r"[0-9]{0,5}", fullmatch=True),
    st.sampled_from(["localhost", "127.0.0.1", "[::1]"]),
)
def test_every_loopback_name_with_any_port_is_admitted(port: str, name: str) -> None:
    assert loopback_host(f"{name}:{port}" if port else name)


@given(st.binary(max_size=200))
def test_content_types_parse_any_bytes_and_admit_only_json(value: bytes) -> None:
    if json_content_type(value):  # never raises; admits only application/json
        assert value.decode("latin-1").split(";")[0].strip().lower() == "application/json"


def routed(path: str, headers: list[tuple[bytes, bytes]], keys: Keys = KEYS) -> Call:
    """`path` sent through the guard to a Starlette router holding the API's paths: the
    guard must decide by the route the router takes, whatever the path's spelling."""
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, Router

    async def endpoint(_: object) -> PlainTextResponse:
        return PlainTextResponse("{}")

    router = Router(
        [Route(p, endpoint, methods=["GET", "POST"]) for p in (*RULES, "/health", "/docs/{name}")]
    )
    call = Call()

    async def receive() -> dict[str, Any]:
        call.received += 1
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            call.status = message["status"]
        elif call.status == 200:
            call.reached = True

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(Guard(router, keys, 1000, router.routes)(scope, receive, send))
    return call


@pytest.mark.parametrize("path", sorted(RULES))
@pytest.mark.parametrize("tail", ["\n", "\r\n"])
def test_a_path_the_router_takes_for_a_keyed_route_needs_its_key(path: str, tail: str) -> None:
    """Starlette's route pattern is `^/admin/promote$`, and `$` also matches before a
    final newline: `POST /admin/promote%0A` reached the route without a key."""
    call = routed(path + tail, local(JSON, (b"content-length", b"2")))
    assert call.status in (401, 404) and not call.reached
    admin = (b"x-api-key", ADMIN.encode())
    assert routed(path, local(JSON, admin)).status == 200  # the router's own spelling


def test_a_route_without_a_rule_is_refused_not_left_open() -> None:
    """A route the guard has no rule for is not served without a key by mistake."""
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, Router

    async def endpoint(_: object) -> PlainTextResponse:
        return PlainTextResponse("{}")

    router = Router([Route("/admin/new", endpoint, methods=["POST"])])
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {"type": "http", "method": "POST", "path": "/admin/new", "headers": local()}
    asyncio.run(Guard(router, KEYS, 1000, router.routes)(scope, receive, send))
    assert statuses == [403]


@pytest.mark.parametrize(
    "pair",
    [((b"host", b"evil.example"), (b"host", b"127.0.0.1")),
     ((b"x-api-key", b"wrong"), (b"x-api-key", ADMIN.encode())),
     ((b"authorization", b"Bearer " + CALLER.encode()), (b"authorization", b"Bearer x")),
     ((b"content-type", b"text/plain"), JSON),
     ((b"x-request-id", b"a"), (b"x-request-id", b"b")),
     ((b"origin", b"http://localhost"), (b"origin", b"https://evil.example")),
     ((b"transfer-encoding", b"chunked"), (b"transfer-encoding", b"chunked"))],
)  # fmt: skip
@pytest.mark.parametrize("keys", [Keys({}), KEYS])
def test_a_header_the_guard_decides_by_may_come_only_once(
    pair: tuple[tuple[bytes, bytes], ...], keys: Keys
) -> None:
    headers = [(b"host", b"127.0.0.1"), *pair] if pair[0][0] != b"host" else list(pair)
    call = run(keys, "/admin/promote", [*headers, JSON], [b"{}"] * 3)
    assert call.status == 400 and not call.reached and call.received == 0
    assert "more than one" in call.body["detail"]


def test_two_keys_are_refused_not_chosen_between() -> None:
    both = [(b"authorization", b"Bearer " + CALLER.encode()), (b"x-api-key", ADMIN.encode())]
    call = run(KEYS, "/admin/reload", local(*both))
    assert call.status == 400 and not call.reached and "two keys" in call.body["detail"]
    other_scheme = [(b"authorization", b"Basic dXNlcjpwdw=="), (b"x-api-key", ADMIN.encode())]
    assert run(KEYS, "/admin/reload", local(*other_scheme)).status == 200


@pytest.mark.parametrize(
    ("header", "status"),
    [((b"transfer-encoding", b"gzip, chunked"), 501), ((b"transfer-encoding", b"identity"), 501),
     ((b"content-encoding", b"gzip"), 415), ((b"content-encoding", b"br"), 415),
     ((b"upgrade", b"h2c"), 400), ((b"upgrade", b"websocket"), 400)],
)  # fmt: skip
def test_codings_and_upgrades_the_server_does_not_do_are_refused(
    header: tuple[bytes, bytes], status: int
) -> None:
    call = run(Keys({}), "/predict", local(JSON, (b"content-length", b"2"), header), [b"{}"])
    assert call.status == status and not call.reached and call.received == 0


def test_a_chunked_or_plain_body_is_accepted() -> None:
    for coding in ((b"transfer-encoding", b"Chunked"), (b"content-encoding", b"identity")):
        assert run(Keys({}), "/predict", local(JSON, coding), [b"{}"]).status == 200


def test_a_client_gone_before_its_body_arrived_gets_no_route_and_no_answer() -> None:
    """The route would read a disconnect and raise (a traceback in the server's output
    for every caller that hangs up, or is cut off for being slow)."""
    sent: list[dict[str, Any]] = []
    reached: list[bool] = []
    messages = iter(
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def route(scope: Any, receive: Any, send: Any) -> None:
        reached.append(True)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": local(JSON)}
    asyncio.run(Guard(route, Keys({}), 1000)(scope, receive, send))
    assert not reached and not sent


def test_metrics_count_a_request_nobody_answered_apart_from_a_failure() -> None:
    from weir.serve.metrics import Metrics, MetricsMiddleware

    metrics = Metrics()

    async def silent(scope: Any, receive: Any, send: Any) -> None:
        return None  # the guard, when the caller has gone

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def send(message: Any) -> None:
        return None

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": []}
    asyncio.run(MetricsMiddleware(silent, metrics)(scope, receive, send))
    with pytest.raises(RuntimeError):
        asyncio.run(MetricsMiddleware(failing, metrics)(scope, receive, send))
    count = metrics.registry.get_sample_value
    assert count("weir_requests_total", {"path": "/predict", "status": "499"}) == 1
    assert count("weir_requests_total", {"path": "/predict", "status": "500"}) == 1
