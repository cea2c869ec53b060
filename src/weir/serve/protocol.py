"""The HTTP/1.1 connection as uvicorn runs it (httptools), with the bounds uvicorn leaves
open. They hold before the guard (`weir.serve.guard`) can see a request, which is only
once its head is complete:

- **The head** (request line and headers) is at most HEAD_BYTES, or 431. uvicorn's
  parser keeps every header it is sent: 300 MB of headers took 300 MB of memory, from a
  caller without a key.
- **Time.** A request must arrive whole (head and body) within `request_seconds` of its
  first byte, or 408; a connection that has not sent a byte of its next request (nor of
  its first) is closed after uvicorn's keep-alive timeout. uvicorn times out only
  connections it has answered once: one that sent nothing, or a byte a second (slowloris),
  was held for ever.
- **Connections.** At most as many as the process's limit of open files leaves room for
  (RESERVED_FILES are kept for the server's own files): one more is answered 503 and
  closed, so callers cannot take the descriptors the server needs to reload a model or
  write its log.

What a request costs past its head is the guard's business (the body cap).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_BYTES = 64 * 1024
REQUEST_SECONDS = 30.0  # at least; longer when serve.max_body_bytes is large, see below
BODY_RATE = 128 * 1024  # bytes per second a largest body must arrive at, at the least
RESERVED_FILES = 128
STATUS = {
    408: b"408 Request Timeout",
    431: b"431 Request Header Fields Too Large",
    503: b"503 Service Unavailable",
}
REASONS = {408: "too_slow", 431: "head_too_large", 503: "too_many_connections"}


def open_file_limit() -> int:
    """Connections the process can hold and still open its own files."""
    try:
        import resource
    except ImportError:  # not a Unix
        return 1024
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 65_536
    return max(16, soft - RESERVED_FILES)


def bounded_protocol(
    max_body_bytes: int,
    *,
    head_bytes: int = HEAD_BYTES,
    max_connections: int | None = None,
    request_seconds: float | None = None,
    refused: Callable[[str], None] | None = None,
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the bounds above, for `uvicorn.run(http=...)`.
    A request may take REQUEST_SECONDS, or the time for a body of `max_body_bytes` at
    BODY_RATE when that is longer. `refused` is told the reason of each refusal (the app
    never sees these requests, so /metrics counts them this way)."""
    seconds = request_seconds or max(REQUEST_SECONDS, max_body_bytes / BODY_RATE)
    connections = max_connections or open_file_limit()

    class Bounded(BoundedHttpToolsProtocol):
        pass

    Bounded.head_bytes, Bounded.request_seconds = head_bytes, seconds
    Bounded.max_connections = connections
    Bounded.told = (refused,) if refused else ()
    return Bounded


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    head_bytes = HEAD_BYTES
    request_seconds = REQUEST_SECONDS
    max_connections = 1024
    told: tuple[Callable[[str], None], ...] = ()  # of each refusal, see `bounded_protocol`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = 0  # bytes of the head being read; -1 once it is complete
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refuse(503, "too many connections", "try again shortly")
            return
        # Idle from the start: closed as uvicorn closes a connection idle after an answer.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def data_received(self, data: bytes) -> None:
        if self._deadline is None:  # a request's first byte: its time starts
            self._deadline = self.loop.call_later(self.request_seconds, self._too_slow)
        if self._head >= 0:
            self._head += len(data)
        super().data_received(data)
        if self._head > self.head_bytes and not self.transport.is_closing():
            self._refuse(
                431,
                f"the request's head (request line and headers) passed {self.head_bytes:,} bytes",
                "send fewer or shorter headers",
            )

    def on_headers_complete(self) -> None:
        self._head = -1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head = 0
        self._stop_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def _stop_clock(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered already: nothing more to say
            return
        self._refuse(
            408,
            f"the request did not arrive whole within {self.request_seconds:g} s",
            "send the request at once",
        )

    def _refuse(self, status: int, detail: str, fix: str) -> None:
        body = json.dumps({"detail": detail, "fix": fix}).encode()
        head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
            STATUS[status],
            len(body),
        )
        for tell in self.told:  # before the caller can see the answer
            tell(REASONS[status])
        self.transport.write(head + b"connection: close\r\n\r\n" + body)
        self.transport.close()
