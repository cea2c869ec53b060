"""HTTP API sources against a real HTTP server on 127.0.0.1, started by the test."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.integration.sources import run, table, versions, write_project

RECORDS = [{"id": i, "name": f"n{i}", "score": i / 2} for i in range(1, 24)]
Handler = Callable[[str, dict[str, str], dict[str, str]], tuple[int, dict[str, str], bytes]]


class Api:
    """A programmable API: `handle(path, query, headers)` -> (status, headers, body)."""

    def __init__(self) -> None:
        self.handle: Handler = lambda path, query, headers: (404, {}, b"")
        self.requests: list[tuple[float, str, dict[str, str]]] = []
        api = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                headers = dict(self.headers.items())
                api.requests.append((time.monotonic(), self.path, headers))
                status, extra, body = api.handle(parts.path, query, headers)
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.server.shutdown()


def ok(body: Any) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def source(api: Api, **settings: Any) -> dict[str, Any]:
    return {"kind": "http", "url": api.url + "/items", "backoff_seconds": 0.01, **settings}


def load(tmp_path: Path, settings: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    root = write_project(tmp_path / "p", {"items": settings})
    return run(root)["source:items"], root


def test_page_number_pagination_with_records_path_and_bearer_token(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def handle(path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        if headers.get("Authorization") != "Bearer t0ken-from-env":
            return 401, {}, b"{}"
        page, size = int(query["page"]), int(query["per_page"])
        return ok({"data": {"items": RECORDS[(page - 1) * size : page * size]}, "total": 23})

    api.handle = handle
    monkeypatch.setenv("API_TOKEN", "t0ken-from-env")
    settings = source(
        api,
        bearer_token="${API_TOKEN}",
        records="data.items",
        pagination={"kind": "page", "size": 10, "size_param": "per_page", "total_path": "total"},
    )
    report, root = load(tmp_path, settings)
    assert report["status"] == "succeeded", report["error"]
    assert report["summary"]["rows"] == 23 and report["summary"]["pages"] == 3
    assert sorted(table(root, "items").column("id").to_pylist()) == list(range(1, 24))


@pytest.mark.parametrize("kind", ["offset", "cursor", "next_link"])
def test_offset_cursor_and_next_link_pagination(api: Api, tmp_path: Path, kind: str) -> None:
    def handle(path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        start = int(query.get("offset") or query.get("cursor") or query.get("from") or 0)
        chunk = RECORDS[start : start + 5]
        after = start + 5 if start + 5 < len(RECORDS) else None
        link = None if after is None else f"/items?from={after}"
        return ok({"items": chunk, "meta": {"next": after}, "links": {"next": link}})

    api.handle = handle
    paging: dict[str, Any] = {"kind": kind, "size": 5}
    if kind == "cursor":
        paging["cursor_path"] = "meta.next"
    if kind == "next_link":
        paging["next_path"] = "links.next"
    report, root = load(tmp_path, source(api, records="items", pagination=paging))
    assert report["status"] == "succeeded", report["error"]
    ids = table(root, "items").column("id").to_pylist()
    assert sorted(ids) == list(range(1, 24)) and len(ids) == 23


def test_5xx_and_timeouts_are_retried_and_429_waits_as_asked(api: Api, tmp_path: Path) -> None:
    calls = {"n": 0}

    def handle(path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return 503, {}, b"busy"
        if calls["n"] == 2:
            return 429, {"Retry-After": "1"}, b""
        return ok(RECORDS)

    api.handle = handle
    report, _ = load(tmp_path, source(api))
    assert report["status"] == "succeeded", report["error"]
    assert calls["n"] == 3
    waited = api.requests[2][0] - api.requests[1][0]
    assert waited >= 0.95  # Retry-After: 1 was honoured, not the 10 ms backoff


def test_a_retry_after_beyond_the_limit_fails_the_load(api: Api, tmp_path: Path) -> None:
    api.handle = lambda *_: (429, {"Retry-After": "3600"}, b"")
    report, _ = load(tmp_path, source(api))
    assert report["status"] == "failed" and "asks to wait 3600 s" in report["error"]


def test_persistent_5xx_fails_after_the_retries(api: Api, tmp_path: Path) -> None:
    api.handle = lambda *_: (500, {}, b"oops")
    report, _ = load(tmp_path, source(api, retries=2))
    assert report["status"] == "failed"
    assert "failed after 3 attempts: HTTP 500" in report["error"] and len(api.requests) == 3


def test_auth_failure_is_terminal_and_never_shows_the_secret(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.handle = lambda *_: (401, {}, b"{}")
    monkeypatch.setenv("API_KEY", "s3cret-key-value")
    settings = source(api, headers={"X-Api-Key": "${API_KEY}"}, params={"key": "${API_KEY}"})
    report, _ = load(tmp_path, settings)
    assert report["status"] == "failed" and "authentication failed (HTTP 401" in report["error"]
    assert "s3cret-key-value" not in report["error"] and len(api.requests) == 1


def test_a_partial_json_body_is_retried_then_rejected_with_its_byte(
    api: Api, tmp_path: Path
) -> None:
    api.handle = lambda *_: (200, {}, b'[{"id": 1}, {"id":')
    report, _ = load(tmp_path, source(api, retries=1))
    assert report["status"] == "failed"
    assert "not complete JSON (byte 18 of 18" in report["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"id": 1, "id": 2}]', "has the key 'id' twice"),
        (b'[{"id": 1, "score": NaN}]', "NaN is not JSON"),
        (b'{"items": 3}', "is not a list of records"),
    ],
)
def test_bad_json_is_rejected(api: Api, tmp_path: Path, body: bytes, message: str) -> None:
    api.handle = lambda *_: (200, {}, body)
    report, root = load(tmp_path, source(api))
    assert report["status"] == "failed" and message in report["error"]
    assert not (root / ".weir" / "lake" / "items").exists()


def test_repeated_pages_and_overlapping_keys_reject_the_whole_load(
    api: Api, tmp_path: Path
) -> None:
    # the API ignores the page parameter: page 2 is page 1 again
    api.handle = lambda path, query, headers: ok(RECORDS[:5])
    report, _ = load(tmp_path, source(api, pagination={"kind": "page", "size": 5}))
    assert report["status"] == "failed" and "page 2 repeats page 1" in report["error"]

    # pages that overlap by one record (an unstable sort order)
    api.handle = lambda path, query, headers: ok(RECORDS[4 * (int(query["page"]) - 1) :][:5])
    settings = source(api, key="id", pagination={"kind": "page", "size": 5})
    report, _ = load(tmp_path, settings)
    assert report["status"] == "failed" and "comes twice" in report["error"]


def test_skipped_pages_are_caught_by_the_stated_total(api: Api, tmp_path: Path) -> None:
    # the API counts pages from 0, the source from 1: the first page is skipped
    api.handle = lambda path, query, headers: ok(
        {"items": RECORDS[int(query["page"]) * 10 : int(query["page"]) * 10 + 10], "total": 23}
    )
    paging = {"kind": "page", "size": 10, "total_path": "total"}
    report, _ = load(tmp_path, source(api, records="items", pagination=paging))
    assert report["status"] == "failed"
    assert "states 23 records but the pages held 13" in report["error"]


def test_declared_columns_quarantine_records_by_key(api: Api, tmp_path: Path) -> None:
    body = [
        {"id": 1, "at": "2026-01-01T10:00:00Z", "n": 3},
        {"id": 2, "at": "2026-01-01T10:00:00Z", "n": "three"},
    ]
    api.handle = lambda *_: ok(body)
    settings = source(api, key="id", columns={"id": "int64", "at": "timestamp", "n": "int64"})
    report, root = load(tmp_path, settings)
    assert report["status"] == "succeeded", report["error"]
    assert table(root, "items").column("id").to_pylist() == [1]
    bad = table(root, "items__quarantine").to_pylist()
    assert bad[0]["key"] == "id=2" and "three" in bad[0]["error"]
    assert bad[0]["error"].endswith("is not int64")


def test_rate_limit_spaces_requests(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weir.ingest.http_fetch import Fetcher

    # The moments the client sends, as its own monotonic clock has them: the server's arrival
    # times jitter on a loaded machine (a late first request shortens the next gap).
    sent: list[float] = []
    original = Fetcher._get

    def recording(self: Fetcher, *args: Any, **kwargs: Any) -> Any:
        sent.append(self.last_request)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Fetcher, "_get", recording)
    api.handle = lambda path, query, headers: ok(RECORDS[(int(query["page"]) - 1) * 10 :][:10])
    report, _ = load(tmp_path, source(api, rate_limit=5, pagination={"kind": "page", "size": 10}))
    assert report["status"] == "succeeded", report["error"]
    assert len(api.requests) == 3 and len(sent) == 3
    assert min(b - a for a, b in itertools.pairwise(sent)) >= 0.2


def test_records_whose_fields_disagree_store_no_helper_column(api: Api, tmp_path: Path) -> None:
    """A field read as text (a number here, a string there) or as a float is typed by the
    checked JSON read, whose helper columns (reasons, raw records) must not reach the table."""
    body = [{"id": 1, "x": 1, "f": 1.5}, {"id": 2, "x": "a", "f": 2.5}]
    api.handle = lambda *_: ok(body)
    report, root = load(tmp_path, source(api))
    assert report["status"] == "succeeded", report["error"]
    stored = table(root, "items")
    assert stored.schema.names == ["id", "x", "f"]
    assert stored.column("x").to_pylist() == ["1", "a"]


@pytest.mark.parametrize("kind", ["cursor", "next_link"])
def test_an_empty_page_that_links_on_does_not_end_the_load(
    api: Api, tmp_path: Path, kind: str
) -> None:
    """An API may send an empty page (its filter left nothing) with a link to the next one:
    the pages after it are read, not dropped."""
    pages = {"0": [{"id": 1}], "1": [], "2": [{"id": 3}]}

    def handle(path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        at = query.get("cursor") or query.get("from") or "0"
        after = str(int(at) + 1) if int(at) < 2 else None
        link = None if after is None else f"/items?from={after}"
        return ok({"items": pages[at], "meta": {"next": after}, "links": {"next": link}})

    api.handle = handle
    paging: dict[str, Any] = {"kind": kind}
    paging["cursor_path" if kind == "cursor" else "next_path"] = (
        "meta.next" if kind == "cursor" else "links.next"
    )
    report, root = load(tmp_path, source(api, records="items", pagination=paging))
    assert report["status"] == "succeeded", report["error"]
    assert sorted(table(root, "items").column("id").to_pylist()) == [1, 3]


@pytest.mark.parametrize(
    "body",
    [
        [{"id": 1, "A": 2, "a": 3}],  # in one record
        [{"Id": 1}, {"id": 2}],  # across records
        [{"id": 1, "": 2}],  # an empty key
    ],
)
def test_keys_that_collide_or_are_empty_reject_the_load(
    api: Api, tmp_path: Path, body: list[dict[str, Any]]
) -> None:
    """DuckDB renames a key that differs from another only by case ('a_1') and reads no
    value into it, and turns records with an empty key into one map column: refused."""
    api.handle = lambda *_: ok(body)
    report, _ = load(tmp_path, source(api))
    assert report["status"] == "failed"
    assert "same name" in report["error"] or "empty name" in report["error"]
    assert "nothing was committed" in report["error"]


def test_a_load_whose_every_record_is_set_aside_is_refused(api: Api, tmp_path: Path) -> None:
    api.handle = lambda *_: ok([{"id": 1, "n": "one"}, {"id": 2, "n": "two"}])
    report, _ = load(tmp_path, source(api, columns={"n": "int64"}))
    assert report["status"] == "failed"
    assert "all 2 were set aside" in report["error"] and "nothing was committed" in report["error"]
    assert "(the first: page 1 record 1, column n: a value" in report["error"]
    assert "'one'" not in report["error"]  # the error is stored: it quotes no value


def test_nanoseconds_refuse_the_load_naming_the_record(api: Api, tmp_path: Path) -> None:
    body = [{"id": 1, "t": "2025-06-01T12:00:00Z"}, {"id": 2, "t": "2025-06-01T12:00:00.1234567Z"}]
    api.handle = lambda *_: ok(body)
    report, _ = load(tmp_path, source(api))
    assert report["status"] == "failed"
    assert "column t has nanoseconds (record 2), which microsecond" in report["error"]


def test_a_number_declared_decimal_or_string_keeps_the_digits_it_was_written_with(
    api: Api, tmp_path: Path
) -> None:
    """Parsed as a float, 0.12345678901234567890123 was stored as 0.12345678901234567736989
    in a decimal(38,23), and 1e2 as the text '100.0'."""
    api.handle = lambda *_: (
        200,
        {"Content-Type": "application/json"},
        b'[{"id": 1, "d": 0.12345678901234567890123, "s": 1e2, "f": 0.5}]',
    )
    columns = {"d": "decimal(38,23)", "s": "string"}
    report, root = load(tmp_path, source(api, columns=columns))
    assert report["status"] == "succeeded", report["error"]
    row = table(root, "items").to_pylist()[0]
    assert str(row["d"]) == "0.12345678901234567890123" and row["s"] == "1e2"
    assert row["f"] == 0.5


def test_declared_exact_fields_are_matched_by_their_stored_name_and_only_at_the_top(
    api: Api, tmp_path: Path
) -> None:
    """The declared names are the normalised ones: 'unitPrice' (stored as unit_price, declared
    decimal(38,30)) was read as a float and lost its digits; and a nested object's key named
    like a declared column had its number turned into text."""
    api.handle = lambda *_: (
        200,
        {"Content-Type": "application/json"},
        b'[{"id": 1, "unitPrice": 0.123456789012345678901234567891, "meta": {"unit_price": 0.25}}]',
    )
    settings = source(api, columns={"unit_price": "decimal(38,30)"}, normalise_names="snake_case")
    report, root = load(tmp_path, settings)
    assert report["status"] == "succeeded", report["error"]
    row = table(root, "items").to_pylist()[0]
    assert str(row["unit_price"]) == "0.123456789012345678901234567891"
    assert row["meta"] == {"unit_price": 0.25}


def test_an_unchanged_api_commits_nothing_and_a_changed_record_commits(
    api: Api, tmp_path: Path
) -> None:
    """Every run committed the same records again as a new version."""
    at = "2026-01-01T10:00:00Z"
    body: list[dict[str, Any]] = [
        {"id": 1, "n": 3, "at": at, "name": "a", "score": 0.5, "tags": ["x"]},
        {"id": 2, "n": "three", "at": at, "name": "b", "score": 1.5, "tags": []},
        {"id": 3, "n": 5, "at": at, "name": None, "score": None, "tags": ["y", "z"]},
    ]
    api.handle = lambda *_: ok(body)
    settings = source(api, key="id", columns={"id": "int64", "n": "int64", "at": "timestamp"})
    first, root = load(tmp_path, settings)
    assert first["status"] == "succeeded", first["error"]
    before = versions(root, "items"), versions(root, "items__quarantine")

    again = run(root)["source:items"]
    assert again["status"] == "succeeded", again["error"]
    assert again["summary"]["unchanged"] == (
        f"unchanged: the same content as items@{first['summary']['version']}, not committed"
    )
    assert (versions(root, "items"), versions(root, "items__quarantine")) == before

    body[2]["n"] = 6
    changed = run(root)["source:items"]
    assert changed["status"] == "succeeded", changed["error"]
    assert "unchanged" not in changed["summary"]
    assert sorted(table(root, "items").column("n").to_pylist()) == [3, 6]
    assert len(versions(root, "items")) == len(before[0]) + 1


def test_an_incremental_source_appends_only_records_above_the_cursor(
    api: Api, tmp_path: Path
) -> None:
    """The API honours `since` as '>=': the boundary record comes again and is not loaded
    twice; a run that finds nothing above the cursor commits nothing."""
    body: list[dict[str, Any]] = [{"id": i, "at": f"2026-01-0{i}T10:00:00Z"} for i in (1, 2, 3)]

    def handle(path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        since = query.get("since")
        return ok([r for r in body if since is None or r["at"] >= since])

    api.handle = handle
    settings = source(api, key="id", incremental={"cursor": "at", "since_param": "since"})
    first, root = load(tmp_path, settings)
    assert first["status"] == "succeeded", first["error"]
    assert sorted(table(root, "items").column("id").to_pylist()) == [1, 2, 3]

    body.append({"id": 4, "at": "2026-01-04T10:00:00Z"})
    second = run(root)["source:items"]
    assert second["status"] == "succeeded", second["error"]
    assert second["summary"]["new_rows"] == 1
    assert sorted(table(root, "items").column("id").to_pylist()) == [1, 2, 3, 4]
    assert "since=2026-01-03T10%3A00%3A00Z" in api.requests[-1][1]

    before = versions(root, "items")
    third = run(root)["source:items"]
    assert third["status"] == "succeeded", third["error"]
    assert third["summary"].get("incremental") == "nothing new"
    assert versions(root, "items") == before
