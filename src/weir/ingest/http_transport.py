"""How an HTTP source's requests travel: a transport seam, the real one, and one in memory.

The fetcher (weir.ingest.http_fetch) decides what to request and what an answer means:
origins, redirects, retries, paging, size limits, JSON. A `Transport` only carries one
request and hands back the status, the headers and the body's raw bytes (still compressed,
so the fetcher can bound them as they are inflated). Two transports implement it:

- `DeadlineTransport`, the real one, over urllib with only HTTP and HTTPS handlers and no
  redirect handler (the fetcher follows redirects itself, only where credentials may go).
  Its deadline bounds the request in all, connecting, the headers and the body: a timer
  shuts the connection's socket when `seconds` have passed, whatever it is doing. (A
  per-operation timeout, urllib's or httpx's, lets a server that sends a byte every few
  seconds hold a load forever.)
- `MockTransport`, in memory: a function from request to response, as httpx's
  MockTransport is, so that retries, paging, Retry-After and errors are tested without a
  socket or a wait. (httpx itself is not a dependency of Weir; the seam is its shape.)

A transport raises `TransportError` when no whole answer came (refused connection, reset,
a broken body), `TransportTimeout` when the deadline passed; the fetcher retries both.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

CHUNK = 64 * 1024


class TransportError(Exception):
    """No whole answer came: the connection was refused or reset, or the body broke off."""


class TransportTimeout(TransportError):  # noqa: N818 - a kind of TransportError
    """The request's deadline passed before its answer was complete."""


class Headers:
    """Response headers, looked up without regard to case (as HTTP says)."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = [(k.lower(), v) for k, v in pairs]

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self._pairs if k == wanted), default)


@dataclass(frozen=True)
class HttpRequest:
    """One request: the URL as it is sent (already checked and %-encoded), its headers."""

    url: str
    headers: Mapping[str, str]
    method: str = "GET"


@dataclass
class HttpResponse:
    """An answer whose body is read as it comes: `body` yields its raw bytes (compressed if
    the Content-Encoding says so); `close` lets go of the connection, read or not."""

    status: int
    headers: Headers = field(default_factory=Headers)
    body: Iterable[bytes] = ()
    reason: str = ""
    close: Callable[[], None] = lambda: None

    @classmethod
    def of(
        cls,
        status: int,
        content: bytes | Iterable[bytes] = b"",
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """A response held in memory (for MockTransport handlers)."""
        chunks = [content] if isinstance(content, bytes) else content
        return cls(
            status, Headers((headers or {}).items()), chunks, http.client.responses.get(status, "")
        )

    @classmethod
    def json(
        cls, body: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        return cls.of(
            status,
            json.dumps(body).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )


class Transport(Protocol):
    """Carries one request; raises TransportError when no whole answer came."""

    def handle(self, request: HttpRequest) -> HttpResponse: ...


class MockTransport:
    """A transport in memory: `handler(request)` answers, or raises TransportError to act
    out a refused connection or a timeout. Every request is kept in `requests`."""

    def __init__(self, handler: Callable[[HttpRequest], HttpResponse]) -> None:
        self.handler = handler
        self.requests: list[HttpRequest] = []

    def handle(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        return self.handler(request)


class DeadlineTransport:
    """The real transport: urllib, HTTP and HTTPS only (through the environment's proxies),
    no redirects followed, every request bounded in all by `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def handle(self, request: HttpRequest) -> HttpResponse:
        deadline = _Deadline(self.seconds)
        deadline.start()
        sent = urllib.request.Request(
            request.url, headers=dict(request.headers), method=request.method
        )
        try:
            answer: Any = _opener(deadline).open(sent, timeout=self.seconds)
        except urllib.error.HTTPError as exc:  # any status but 2xx: no redirect handler
            answer = exc
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            deadline.cancel()
            raise _failure(exc, deadline, self.seconds) from None
        status = answer.code if isinstance(answer, urllib.error.HTTPError) else answer.status

        def close() -> None:
            deadline.cancel()
            with contextlib.suppress(OSError, http.client.HTTPException):
                answer.close()

        return HttpResponse(
            status,
            Headers(answer.headers.items()),
            _chunks(answer, deadline, self.seconds),
            str(answer.reason or ""),
            close,
        )


def _chunks(answer: Any, deadline: _Deadline, seconds: float) -> Iterator[bytes]:
    """The body as it arrives; a body cut off by the deadline is a TransportTimeout."""
    try:
        while chunk := answer.read(CHUNK):
            yield chunk
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise _failure(exc, deadline, seconds) from None
    if deadline.expired:
        raise TransportTimeout(_timeout_text(seconds))


def _failure(exc: BaseException, deadline: _Deadline, seconds: float) -> TransportError:
    if deadline.expired:
        return TransportTimeout(_timeout_text(seconds))
    reason = getattr(exc, "reason", exc)
    return TransportError(f"{type(exc).__name__}: {reason}")


def _timeout_text(seconds: float) -> str:
    return f"no complete answer within timeout_seconds ({seconds:g} s)"


class _Deadline:
    """Closes a request's connection when its time is up, whatever the socket is doing."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        super().connect()
        self.deadline.watch(self.sock)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        super().connect()
        self.deadline.watch(self.sock)


class _Handler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPConnection, deadline=self.deadline), req)


class _SecureHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPSConnection, deadline=self.deadline), req)


@contextlib.contextmanager
def deadline_opener(seconds: float) -> Iterator[tuple[urllib.request.OpenerDirector, _Deadline]]:
    """An opener for one request bounded in all (connecting, sending, the answer's headers
    and body): its connections are shut when `seconds` have passed, whatever the socket is
    doing; `deadline.expired` then says so. HTTP and HTTPS only, no redirects."""
    with _Deadline(seconds) as deadline:
        yield _opener(deadline), deadline


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """HTTP and HTTPS (through the environment's proxies), no redirects, no other scheme."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _Handler(deadline),
        _SecureHandler(deadline),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener
