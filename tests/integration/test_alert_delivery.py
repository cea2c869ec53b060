"""Alerts delivered to a real HTTP receiver on 127.0.0.1 (http.server in a thread)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from weir.core.errors import DeliveryError
from weir.monitor.alerts import Alert, Finding, alert_from_json
from weir.monitor.delivery import LogSink, TerminalSink, deliver_all
from weir.monitor.webhook import WebhookRefusedError, WebhookSink

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, tzinfo=UTC)
FAST = {"backoff_seconds": 0.01, "timeout_seconds": 2.0}


def alert(n: int) -> Alert:
    return Alert(
        id=f"fraud-drift-{n:04d}.opened",
        incident=f"fraud-drift-{n:04d}",
        check="fraud/drift",
        event="opened",
        at=T0 + timedelta(days=n),
        window=f"2026-12-{n:02d}",
        summary=f"2 of 12 features drifted on day {n}",
        details=(Finding("amount", 0.41, 0.12, "wasserstein_iqr"),),
        report=f"file:///reports/{n}.html",
    )


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver; `answer(request)` says (status, headers) for each request."""

    answer: Callable[[Request], tuple[int, dict[str, str]]] = lambda _: (200, {})
    got: list[Request] = field(default_factory=list)
    url: str = ""

    def ids(self) -> list[str]:
        return [json.loads(r.body)["id"] for r in self.got]


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that stopped waiting (the slow-receiver test) is not an error here."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = Request(self.path, dict(self.headers.items()), self.rfile.read(length))
            state.got.append(request)
            status, headers = state.answer(request)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_receiver_gets_the_alert_as_signed_json(receiver: Receiver, tmp_path: Path) -> None:
    sink = WebhookSink(
        receiver.url + "/hooks/weir",
        {"Authorization": "Bearer tok-123456"},
        secret="hmac-secret-0001",
        **FAST,
    )
    report = deliver_all([alert(1)], [sink], tmp_path / "outbox.jsonl")
    assert report.ok and [o.status for o in report.outcomes] == ["delivered"]
    (request,) = receiver.got
    assert request.path == "/hooks/weir"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer tok-123456"
    assert request.headers["X-Weir-Alert-Id"] == alert(1).id
    assert request.headers["X-Weir-Event"] == "opened"
    expected = hmac.new(b"hmac-secret-0001", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Weir-Signature-256"] == f"sha256={expected}"
    body = json.loads(request.body)
    assert body["schema"] == "weir.alert" and body["schema_version"] == 1
    assert body["details"] == [
        {"name": "amount", "statistic": "wasserstein_iqr", "value": 0.41, "threshold": 0.12}
    ]
    assert body["report"] == "file:///reports/1.html" and body["at"] == "2026-12-02T00:00:00Z"
    assert alert_from_json(request.body) == alert(1)


def test_credentials_in_the_url_become_basic_auth(receiver: Receiver, tmp_path: Path) -> None:
    host = receiver.url.removeprefix("http://")
    sink = WebhookSink(f"http://weir:p%40ss@{host}/hook?x=1", **FAST)
    deliver_all([alert(1)], [sink], tmp_path / "outbox.jsonl")
    (request,) = receiver.got
    assert request.headers["Authorization"] == "Basic d2VpcjpwQHNz"  # base64("weir:p@ss")
    assert request.path == "/hook?x=1"


def test_a_500_then_a_200_is_retried_and_delivered_once(receiver: Receiver, tmp_path: Path) -> None:
    statuses = iter([500, 200])
    receiver.answer = lambda _: (next(statuses), {})
    report = deliver_all([alert(1)], [WebhookSink(receiver.url, **FAST)], tmp_path / "o.jsonl")
    assert report.ok and report.outcomes[0].status == "delivered"
    assert receiver.ids() == [alert(1).id, alert(1).id]


def test_a_429_waits_as_the_receiver_asks(receiver: Receiver, tmp_path: Path) -> None:
    statuses = iter([429, 200])
    receiver.answer = lambda _: (next(statuses), {"Retry-After": "0"})
    waits: list[float] = []
    sink = WebhookSink(receiver.url, sleep=waits.append, **FAST)
    assert deliver_all([alert(1)], [sink], tmp_path / "o.jsonl").ok
    assert waits == [0.0] and len(receiver.got) == 2


def test_a_retry_after_beyond_the_limit_is_not_waited_but_queued(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.answer = lambda _: (503, {"Retry-After": "3600"})
    waits: list[float] = []
    sink = WebhookSink(receiver.url, sleep=waits.append, max_retry_after_seconds=5, **FAST)
    report = deliver_all([alert(1)], [sink], tmp_path / "o.jsonl")
    assert waits == [] and len(receiver.got) == 1
    assert report.outcomes[0].status == "queued" and "Retry-After" in report.outcomes[0].message


def test_a_400_is_not_retried_and_is_reported(receiver: Receiver, tmp_path: Path) -> None:
    receiver.answer = lambda _: (400, {})
    outbox = tmp_path / "outbox.jsonl"
    report = deliver_all([alert(1), alert(2)], [WebhookSink(receiver.url, **FAST)], outbox)
    assert receiver.ids() == [alert(1).id, alert(2).id]  # one request each: not retried
    assert [o.status for o in report.outcomes] == ["refused", "refused"]
    assert "HTTP 400 Bad Request" in report.outcomes[0].message
    assert report.waiting == 0 and outbox.read_text() == ""


def test_a_redirect_is_not_followed(receiver: Receiver, tmp_path: Path) -> None:
    receiver.answer = lambda _: (307, {"Location": "http://elsewhere.invalid/"})
    with pytest.raises(WebhookRefusedError, match="redirect") as caught:
        WebhookSink(receiver.url, **FAST).deliver(alert(1))
    assert caught.value.fix and "redirects to" in caught.value.fix
    assert len(receiver.got) == 1


def test_a_receiver_that_is_down_gets_the_queue_in_order_when_it_is_back(
    receiver: Receiver, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.jsonl"
    down = WebhookSink(f"http://127.0.0.1:{closed_port()}/hook", attempts=2, **FAST)
    first = deliver_all([alert(1), alert(2)], [down], outbox)
    assert [o.status for o in first.outcomes] == ["queued", "queued"]
    assert "not delivered after 2 attempts" in first.outcomes[0].message
    assert "refused" in first.outcomes[0].message.lower()
    assert first.waiting == 2
    # the receiver is back (the sink's name keys the queue, not its URL)
    back = WebhookSink(receiver.url + "/hook", **FAST)
    second = deliver_all([alert(3)], [back, TerminalSink()], outbox)
    assert receiver.ids() == [alert(1).id, alert(2).id, alert(3).id]
    assert second.waiting == 0 and outbox.read_text() == ""


@pytest.mark.timeout(60)
def test_a_slow_receiver_is_given_up_on_in_bounded_time_and_the_alert_kept(
    receiver: Receiver, tmp_path: Path
) -> None:
    """The receiver answers only after the test lets it, which is after delivery returned:
    were the wait not bounded, deliver_all would never return (and the timeout fails it)."""
    release = threading.Event()

    def stall(_: Request) -> tuple[int, dict[str, str]]:
        release.wait(30)
        return 200, {}

    receiver.answer = stall
    sink = WebhookSink(receiver.url, timeout_seconds=0.2, attempts=2, backoff_seconds=0.01)
    outbox = tmp_path / "outbox.jsonl"
    try:
        report = deliver_all([alert(1), alert(2)], [sink], outbox)
    finally:
        release.set()
    assert [o.status for o in report.outcomes] == ["queued", "queued"]
    assert "no answer within timeout_seconds (0.2 s)" in report.outcomes[0].message
    # at most two attempts at alert 1 reached the receiver; alert 2 waits behind it, untried
    assert 1 <= len(receiver.got) <= 2 and set(receiver.ids()) == {alert(1).id}
    assert [entry["alert"]["id"] for entry in map(json.loads, outbox.open())] == [
        alert(1).id,
        alert(2).id,
    ]


@pytest.fixture
def trickler() -> Iterator[tuple[str, threading.Event, list[int]]]:
    """A receiver that answers a byte every 50 ms until released: each read finishes well
    within any timeout, so only a deadline on the whole request stops waiting for it."""
    release, requests = threading.Event(), []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)

    def answer(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            requests.append(1)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: ")
            while not release.wait(0.05):
                conn.sendall(b"a")

    def serve() -> None:
        while not release.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = listener.accept()
                threading.Thread(target=answer, args=(conn,), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", release, requests
    release.set()
    server.join()
    listener.close()


@pytest.mark.timeout(60)
def test_a_receiver_that_trickles_its_answer_is_given_up_on_too(
    trickler: tuple[str, threading.Event, list[int]], tmp_path: Path
) -> None:
    url, release, requests = trickler
    sink = WebhookSink(url, timeout_seconds=0.3, attempts=2, backoff_seconds=0.01)
    try:
        report = deliver_all([alert(1)], [sink], tmp_path / "outbox.jsonl")
    finally:
        release.set()
    assert report.outcomes[0].status == "queued" and 1 <= len(requests) <= 2
    assert "no answer within timeout_seconds (0.3 s)" in report.outcomes[0].message


def test_secrets_never_reach_errors_reports_or_files(receiver: Receiver, tmp_path: Path) -> None:
    receiver.answer = lambda r: (401 if r.path.startswith("/refuse") else 503, {})
    host = receiver.url.removeprefix("http://")
    secrets = ["url-pass-8812", "query-tok-7731", "hdr-secret-4410", "hmac-key-5529", "Zm9v"]
    headers = {"Authorization": "Bearer hdr-secret-4410", "X-Api-Key": "Zm9v"}
    slack_path = "/T000/B000/pathsecret0123456789"
    flaky = WebhookSink(
        f"http://weir:url-pass-8812@{host}{slack_path}?token=query-tok-7731",
        headers,
        secret="hmac-key-5529",
        name="flaky",
        attempts=2,
        **FAST,
    )
    refusing = WebhookSink(
        f"http://weir:url-pass-8812@{host}/refuse?code=query-tok-7731",
        headers,
        secret="hmac-key-5529",
        name="refusing",
        **FAST,
    )
    outbox, log = tmp_path / "outbox.jsonl", tmp_path / "alerts.jsonl"
    report = deliver_all([alert(1)], [flaky, refusing, LogSink(log)], outbox)
    assert [o.status for o in report.outcomes] == ["queued", "refused", "delivered"]
    # the secrets did go where they belong
    assert receiver.got[0].headers["Authorization"] == "Bearer hdr-secret-4410"
    assert "token=query-tok-7731" in receiver.got[0].path
    errors: list[str] = []
    for sink in (flaky, refusing):
        with pytest.raises((DeliveryError, WebhookRefusedError)) as caught:
            sink.deliver(alert(2))
        errors += [str(caught.value), repr(caught.value)]
    shown = "\n".join([*report.lines(), *errors, outbox.read_text(), log.read_text()])
    assert "HTTP 503" in shown and "HTTP 401" in shown and host in shown
    basic = base64.b64encode(b"weir:url-pass-8812").decode()
    for secret in [*secrets, "pathsecret0123456789", basic]:
        assert secret not in shown
