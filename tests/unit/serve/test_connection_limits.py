"""The bounds `weir serve` puts on connections before a request reaches the app: the size
of a request's head, the time a request may take to arrive, idle connections, and the
number of connections. Driven over real sockets against uvicorn in a thread, with small
limits; every wait is bounded generously (what is checked is what happens, not when)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from weir.serve.protocol import HEAD_BYTES, REQUEST_SECONDS, bounded_protocol


async def app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body, answers its length."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


REFUSED: list[str] = []  # what the server was told of its refusals


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    protocol = bounded_protocol(
        4096, head_bytes=2048, max_connections=8, request_seconds=1.0, refused=REFUSED.append
    )
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free, http=protocol, log_level="error", timeout_keep_alive=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield free
    server.should_exit = True
    thread.join(timeout=30)


def answer_of(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or 20 s pass)."""
    sock.settimeout(20)
    received = b""
    with contextlib.suppress(OSError):
        while data := sock.recv(65536):
            received += data
    return received


def request(size: int = 2) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size


def test_requests_within_the_limits_are_answered_and_pipelined(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            request(3) + request(4) + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answer = answer_of(sock)
    assert answer.count(b"HTTP/1.1 200 OK") == 3


def test_a_head_past_the_limit_is_refused_with_431_and_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        with contextlib.suppress(OSError):
            for _ in range(10_000):  # 10 MB offered
                sock.sendall(b"X-Pad: " + b"a" * 1000 + b"\r\n")
        answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 431 ") and b"connection: close" in answer
    assert "head_too_large" in REFUSED


def test_a_request_line_that_never_ends_counts_as_head(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        with contextlib.suppress(OSError):
            for _ in range(1000):
                sock.sendall(b"a" * 10_000 if _ else b"GET /")
        assert answer_of(sock).startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize(
    "start",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
    ],
)
def test_a_request_that_trickles_in_is_cut_off_with_408(port: int, start: bytes) -> None:
    """Slowloris: a byte a second, of the headers or of the body, held the connection
    for as long as the client liked."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(start)
        answer = b""
        with contextlib.suppress(OSError):
            for _ in range(20):  # 20 s of trickling at most; the limit here is 1 s
                sock.sendall(b"X" if b"Content-Length" not in start else b" ")
                time.sleep(0.5)
        answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert "too_slow" in REFUSED


def test_a_silent_connection_is_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        assert sock.recv(100) == b""  # closed by the server (a timeout here is a failure)


def test_connections_past_the_limit_are_refused_and_the_server_keeps_serving(port: int) -> None:
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
    try:
        extra = socket.create_connection(("127.0.0.1", port))
        assert answer_of(extra).startswith(b"HTTP/1.1 503 ")
        assert "too_many_connections" in REFUSED
        extra.close()
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 20  # the server notices the closed ones
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                request(1)[:-1].replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + b"x"
            )
            if answer_of(sock).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.2)
    raise AssertionError("the server did not serve again once connections were closed")


def test_defaults_follow_the_body_cap() -> None:
    assert bounded_protocol(1 << 20).request_seconds == REQUEST_SECONDS
    assert bounded_protocol(1 << 30).request_seconds == (1 << 30) / (128 * 1024)
    assert bounded_protocol(1 << 20).head_bytes == HEAD_BYTES
    assert bounded_protocol(1 << 20).max_connections >= 16
