"""What `weir serve` refuses, over real sockets: work or bodies before the key, bodies past
the cap, requests addressed to another host or sent by another site's page, bodies that are
not JSON, long request ids; and what it shows without a key."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.test_learn_cli import write_project
from tests.e2e.test_serve import ROW, Server, call

from weir.serve.guard import RULES

pytestmark = pytest.mark.e2e

CALLER, ADMIN = "p" * 32, "a" * 32
KEYS = {"WEIR_API_KEYS": f"predict:{CALLER},admin:{ADMIN}"}
CAP = 65_536


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trust") / "houses"
    write_project(root, rows=300)
    text = (root / "weir.yaml").read_text()
    text = text.replace("mlflow:\n  tracking_uri: sqlite:///" + str(root / "mlflow.db") + "\n", "")
    text += f"serve:\n  max_batch: 50\n  max_body_bytes: {CAP}\n  log: {{flush_seconds: 0.3}}\n"
    (root / "weir.yaml").write_text(text)
    for args in (["train", "quick"], ["models", "promote", "quick@1"]):
        subprocess.run(
            [sys.executable, "-m", "weir", *args], cwd=root, check=True, capture_output=True
        )
    return root


@pytest.fixture(scope="module")
def open_server(project: Path) -> Iterator[Server]:
    server = Server(project, "quick")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keyed(project: Path) -> Iterator[Server]:
    server = Server(project, "quick", env=KEYS)
    yield server
    server.stop()


def raw(port: int, head: str, body: bytes = b"", *, more: Iterable[bytes] = ()) -> bytes:
    """Send a request as bytes (any headers, any framing), then read the answer until the
    server closes or 10 s pass; `more` is sent after the head and body, as long as the
    server takes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        try:
            for chunk in more:
                sock.sendall(chunk)
        except OSError:  # the server answered and closed while we were still sending
            pass
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except (TimeoutError, ConnectionResetError):
            pass
    return answer


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> Any:
    return json.loads(answer.partition(b"\r\n\r\n")[2])


def post_head(port: int, path: str, length: int, *extra: str, host: str | None = None) -> str:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host or f'127.0.0.1:{port}'}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *extra,
    ]
    return "\n".join(lines) + "\n"


def test_every_route_that_works_is_keyed_and_known_to_the_guard(keyed: Server) -> None:
    """The guard's table must cover every route of the API: a new route without a rule
    would be served without a key."""
    spec = call(keyed.port, "GET", "/openapi.json")[1]
    assert set(spec["paths"]) == set(RULES) | {"/health", "/ready"}
    for path, rule in RULES.items():
        # 48 MB announced, none sent: an answer at all shows the body was not awaited
        answer = raw(keyed.port, post_head(keyed.port, path, 48_000_000))
        assert status_of(answer) == 401, (path, answer[:300])
        assert rule.role in ("predict", "admin")


def test_an_unauthenticated_48_mb_batch_is_refused_before_it_is_read(keyed: Server) -> None:
    head = post_head(keyed.port, "/predict/batch", 48_000_000)
    megabyte = b'{"rows": [' + b"1," * 500_000
    answer = raw(keyed.port, head, more=iter([megabyte] * 48))
    assert status_of(answer) == 401 and b"connection: close" in answer.lower()
    assert len(answer) < 1000
    assert call(keyed.port, "GET", "/health")[0] == 200


def test_a_keyed_body_over_the_cap_is_refused_unread(keyed: Server) -> None:
    head = post_head(keyed.port, "/predict/batch", 48_000_000, f"Authorization: Bearer {CALLER}")
    answer = raw(keyed.port, head)
    assert status_of(answer) == 413 and "serve.max_body_bytes" in body_of(answer)["detail"]


def test_a_chunked_body_is_refused_once_it_passes_the_cap(open_server: Server) -> None:
    port = open_server.port
    head = f"POST /predict/batch HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Type: application/json\nTransfer-Encoding: chunked\n"
    chunk = b"%x\r\n%s\r\n" % (8192, b" " * 8192)
    answer = raw(port, head, more=iter([chunk] * 1000))  # 8 MB offered, 64 KB allowed
    assert status_of(answer) == 413
    assert call(port, "POST", "/predict", ROW)[0] == 200


def test_a_content_length_that_lies_does_not_stretch_the_body(open_server: Server) -> None:
    """The body is what Content-Length says: a shorter claim cuts it (the rest is read as
    a next request, which is not HTTP: uvicorn answers 400 and closes), a longer one waits
    for bytes that never come."""
    port = open_server.port
    body = json.dumps(ROW).encode()
    answer = raw(port, post_head(port, "/predict", 5), body)
    assert status_of(answer) in (400, 422)  # '{"are' is no row, the rest no request
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(post_head(port, "/predict", 1000).replace("\n", "\r\n").encode() + b"\r\n")
        sock.sendall(body)
        sock.shutdown(socket.SHUT_WR)  # 1000 promised, 50 sent, then nothing
        assert sock.recv(100) == b""  # no answer to a request that never finished
    assert call(port, "POST", "/predict", ROW)[0] == 200


def test_a_refused_batch_does_not_echo_its_rows(open_server: Server) -> None:
    rows = [{**ROW, "district": "x" * 900, "area": "80"} for _ in range(50)]
    status, error = call(open_server.port, "POST", "/predict/batch", {"rows": rows})
    assert status == 422 and len(json.dumps(error)) < 8_000  # the request was 50 KB
    assert error["detail"][-1]["type"] == "more_errors"
    too_many = {"rows": [ROW] * 51}
    status, error = call(open_server.port, "POST", "/predict/batch", too_many)
    assert status == 422 and error["detail"][0]["input"].startswith("a list of 51 items")


def test_a_forged_host_cannot_promote_without_keys(open_server: Server) -> None:
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1."""
    port = open_server.port
    body = json.dumps({"version": 1, "stage": "archived"}).encode()
    for extra, host in (
        ((), f"evil.example:{port}"),
        (("Origin: http://evil.example",), f"evil.example:{port}"),
        (("Origin: null",), None),  # a sandboxed frame
        (("Origin: https://evil.example",), None),  # a cross-site form
        (("Sec-Fetch-Site: cross-site",), None),
    ):
        head = post_head(port, "/admin/promote", len(body), *extra, host=host)
        assert status_of(raw(port, head, body)) == 403, (extra, host)
    status, info = call(port, "GET", "/model")
    assert status == 200 and info["stage"] == "production"


def test_a_cross_site_text_plain_post_is_not_answered(open_server: Server) -> None:
    """A form or fetch from another site may send text/plain without asking first."""
    port = open_server.port
    before = metric(port, 'weir_predictions_total{model="quick",version="1"}')
    body = json.dumps(ROW).encode()
    for kind in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        head = post_head(port, "/predict", len(body)).replace("application/json", kind)
        assert status_of(raw(port, head, body)) == 415, kind
    assert metric(port, 'weir_predictions_total{model="quick",version="1"}') == before


def test_strict_types_over_http(open_server: Server) -> None:
    status, error = call(open_server.port, "POST", "/predict", {**ROW, "area": "80"})
    assert status == 422 and error["detail"][0]["loc"] == ["body", "area"]
    status, error = call(open_server.port, "POST", "/predict", {**ROW, "area": 1e39})
    assert status == 422 and "float32" in error["detail"][0]["msg"]


def test_ready_and_metrics_show_nothing_without_a_key(keyed: Server) -> None:
    assert call(keyed.port, "GET", "/ready") == (200, {"ready": True})
    status, shown = call(keyed.port, "GET", "/ready", key=f"predict:{CALLER}")
    assert status == 200 and shown["model"] == "quick" and shown["problems"] == []
    assert call(keyed.port, "GET", "/metrics")[0] == 401


def test_request_ids_are_checked_before_they_are_echoed(open_server: Server) -> None:
    port = open_server.port
    body = json.dumps(ROW).encode()
    head = post_head(port, "/predict", len(body), "X-Request-ID: " + "r" * 5000)
    answer = raw(port, head, body)
    assert status_of(answer) == 400 and b"r" * 200 not in answer
    head = post_head(
        port, "/predict", len(body), "X-Request-ID: order-42:retry=1", "Connection: close"
    )
    answer = raw(port, head, body)
    assert status_of(answer) == 200 and body_of(answer)["request_id"] == "order-42:retry=1"
    assert b"x-request-id: order-42:retry=1" in answer.lower()


def test_docs_come_from_the_server_itself(open_server: Server) -> None:
    port = open_server.port
    answer = raw(port, f"GET /docs HTTP/1.1\nHost: 127.0.0.1:{port}\nConnection: close\n")
    assert status_of(answer) == 200
    head, _, page = answer.partition(b"\r\n\r\n")
    policy = next(
        line for line in head.decode().lower().splitlines() if line.startswith("content-security")
    )
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe" not in policy and "http" not in policy
    assert b"http" not in page and b"<script>" not in page  # no CDN, no inline script
    for asset, kind in (
        ("swagger-ui-bundle.js", b"text/javascript"),
        ("swagger-ui.css", b"text/css"),
        ("docs.js", b"text/javascript"),
    ):
        assert f'"/docs/{asset}"'.encode() in page
        got = raw(port, f"GET /docs/{asset} HTTP/1.1\nHost: 127.0.0.1:{port}\nConnection: close\n")
        assert status_of(got) == 200 and b"content-type: " + kind in got.lower()
    missing = raw(
        port, f"GET /docs/../auth.py HTTP/1.1\nHost: 127.0.0.1:{port}\nConnection: close\n"
    )
    assert status_of(missing) == 404


def metric(port: int, name: str) -> float:
    status, text = call(port, "GET", "/metrics")
    assert status == 200
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0
