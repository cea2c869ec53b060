"""An OpenLineage endpoint an outsider controls: it may answer a byte at a time.

Events are sent while the pipeline runs, one before and one after every step, so an
endpoint that holds a request holds the run. `openlineage.timeout_seconds` bounds the
whole request (connecting, sending, the answer's headers and body), as an HTTP source's
`timeout_seconds` does; before, it bounded each socket read, so a byte every few seconds
kept a step waiting without end. What happened is said as a warning, as for any endpoint
that is down, and the run goes on.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.sources import write_project

from weir.app import open_workspace, run_project
from weir.project import load_project


class TricklingEndpoint:
    """Reads a request, then answers `200 OK` with headers or body a byte every 0.2 s;
    the whole answer, sent at that pace, takes about `seconds`."""

    def __init__(self, part: str, seconds: float = 6.0) -> None:
        self.part = part
        self.pace = 0.2
        self.count = int(seconds / self.pace)
        self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/api/v1/lineage"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            try:
                _read_request(connection)
                self.requests += 1
                if self.part == "headers":
                    connection.sendall(b"HTTP/1.0 200 OK\r\n")
                    for i in range(self.count):
                        time.sleep(self.pace)
                        connection.sendall(f"X-Pad-{i}: x\r\n".encode())
                    connection.sendall(b"Content-Length: 2\r\n\r\n{}")
                else:
                    head = f"HTTP/1.0 200 OK\r\nContent-Length: {self.count}\r\n\r\n"
                    connection.sendall(head.encode())
                    for _ in range(self.count):
                        time.sleep(self.pace)
                        connection.sendall(b"x")
            except OSError:
                pass  # the client hung up, as it should

    def close(self) -> None:
        self.sock.close()


def _read_request(connection: socket.socket) -> None:
    """The whole request, headers and body, so that closing sends no reset."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)


@pytest.fixture(params=["headers", "body"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[TricklingEndpoint]:
    server = TricklingEndpoint(request.param)
    yield server
    server.close()


def test_a_trickling_endpoint_is_cut_off_at_the_timeout_and_the_run_goes_on(
    endpoint: TricklingEndpoint, tmp_path: Path
) -> None:
    root = write_project(
        tmp_path / "p",
        {"events": {"format": "csv", "path": "data/events.csv"}},
        openlineage={"url": endpoint.url, "timeout_seconds": 1},
    )
    (root / "data").mkdir()
    (root / "data" / "events.csv").write_text("id\n1\n")
    ws = open_workspace(load_project(root))
    try:
        result = run_project(ws)
    finally:
        ws.close()
    assert [r.status for r in result.reports] == ["succeeded"]
    assert endpoint.requests == 2  # START and COMPLETE were sent
    assert len(result.warnings) == 2, result.warnings
    assert all("within timeout_seconds (1 s)" in w for w in result.warnings), result.warnings
