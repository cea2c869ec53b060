"""The HTTP fetcher over an in-memory transport: retries, paging, Retry-After and errors,
tested in no time (the real-socket tests are tests/integration/test_http_*.py)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from weir.core.errors import SourceRefusedError, SourceUnavailableError, is_transient
from weir.engines.duckdb import DuckDBEngine
from weir.ingest.http import read_http
from weir.ingest.http_fetch import Fetcher
from weir.ingest.http_transport import (
    HttpRequest,
    HttpResponse,
    MockTransport,
    TransportError,
    TransportTimeout,
)
from weir.project.sources import HttpSource

URL = "https://api.example.com/items"


def source(**extra: Any) -> HttpSource:
    return HttpSource.model_validate({"kind": "http", "url": URL, "backoff_seconds": 1, **extra})


def fetcher(
    answers: list[HttpResponse | Exception], **extra: Any
) -> tuple[Fetcher, MockTransport, list[float]]:
    """A fetcher whose transport gives `answers` in turn; the waits it made are recorded."""

    def handle(request: HttpRequest) -> HttpResponse:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    waits: list[float] = []
    transport = MockTransport(handle)
    return Fetcher("items", source(**extra), transport, sleep=waits.append), transport, waits


def test_5xx_timeouts_and_broken_bodies_are_retried_then_the_page_is_read() -> None:
    fetch, transport, waits = fetcher(
        [
            HttpResponse.of(503),
            TransportTimeout("no complete answer within timeout_seconds (30 s)"),
            TransportError("ConnectionResetError: reset by peer"),
            HttpResponse.of(200, b'[{"id": 1'),  # cut short: retried
            HttpResponse.json([{"id": 1}]),
        ]
    )
    assert fetch.json(URL, 1) == [{"id": 1}]
    assert len(transport.requests) == 5 and len(waits) == 4
    assert all(0.75 * 2**i <= w <= 2**i for i, w in enumerate(waits))  # backoff, jittered


def test_a_429_waits_as_long_as_retry_after_says() -> None:
    fetch, _, waits = fetcher(
        [HttpResponse.of(429, headers={"Retry-After": "7"}), HttpResponse.json([{"id": 1}])]
    )
    assert fetch.json(URL, 1) == [{"id": 1}] and waits == [7.0]


def test_a_retry_after_beyond_the_limit_is_refused_without_waiting() -> None:
    fetch, _, waits = fetcher([HttpResponse.of(429, headers={"Retry-After": "3600"})])
    with pytest.raises(SourceRefusedError, match="asks to wait 3600 s") as refused:
        fetch.json(URL, 1)
    assert waits == [] and "max_retry_after_seconds" in str(refused.value)


def test_persistent_failure_is_unavailable_after_the_retries_naming_page_and_cause() -> None:
    fetch, transport, _ = fetcher([HttpResponse.of(500)] * 3, retries=2)
    with pytest.raises(SourceUnavailableError) as raised:
        fetch.json(URL, 4)
    assert str(raised.value).startswith("source 'items': page 4 (https://api.example.com/items)")
    assert "failed after 3 attempts: HTTP 500" in str(raised.value)
    assert is_transient(raised.value) and len(transport.requests) == 3


@pytest.mark.parametrize(("status", "said"), [(401, "authentication failed"), (404, "refused")])
def test_a_refusal_is_not_retried_and_never_shows_the_token(status: int, said: str) -> None:
    fetch, transport, waits = fetcher([HttpResponse.of(status)], bearer_token="s3cret-t0ken")
    with pytest.raises(SourceRefusedError, match=said) as refused:
        fetch.json(URL, 1)
    assert len(transport.requests) == 1 and waits == []
    assert transport.requests[0].headers["Authorization"] == "Bearer s3cret-t0ken"
    assert "s3cret" not in str(refused.value)


def test_gzip_is_inflated_within_the_size_limit() -> None:
    body = gzip.compress(b"[" + b'{"id": 1},' * 1000 + b'{"id": 2}]')
    fetch, _, _ = fetcher([HttpResponse.of(200, body, {"Content-Encoding": "gzip"})])
    assert len(fetch.json(URL, 1)) == 1001
    small, _, _ = fetcher(
        [HttpResponse.of(200, body, {"Content-Encoding": "gzip"})], max_response_bytes=5000
    )
    with pytest.raises(SourceRefusedError, match="once decompressed"):
        small.json(URL, 1)


def test_a_redirect_to_another_origin_is_not_requested() -> None:
    fetch, transport, _ = fetcher([HttpResponse.of(302, headers={"Location": "https://x.test/"})])
    with pytest.raises(SourceRefusedError, match="another origin"):
        fetch.json(URL, 1)
    assert [r.url for r in transport.requests] == [URL]


Pages = Callable[[HttpRequest], HttpResponse]


def paged(records: list[dict[str, Any]], size: int) -> Pages:
    def handle(request: HttpRequest) -> HttpResponse:
        page = int(parse_qs(urlsplit(request.url).query)["page"][0])
        return HttpResponse.json({"data": records[(page - 1) * size : page * size]})

    return handle


def test_pages_are_read_until_a_short_one_and_typed(tmp_path: Path) -> None:
    records = [{"id": i, "name": f"n{i}"} for i in range(1, 24)]
    transport = MockTransport(paged(records, 10))
    settings = source(records="data", pagination={"kind": "page", "size": 10})
    engine = DuckDBEngine(threads=1, temp_directory=tmp_path)
    with read_http(engine, "items", settings, transport=transport) as read:
        rows = read.batches.read_all()
    assert rows.column("id").to_pylist() == list(range(1, 24))
    assert [parse_qs(urlsplit(r.url).query)["page"] for r in transport.requests] == [
        ["1"],
        ["2"],
        ["3"],
    ]
    assert read.detail["pages"] == 3
