"""An HTTP source against APIs an outsider controls: links, redirects, bodies and timing.

Every server here is real and local (127.0.0.1, another port for "another origin"). The
outsider controls what the API answers; the source's credentials must reach only its own
origin (or one it declares), and nothing it answers may read a local file, hold the load
forever or fill the memory.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.integration.sources import run, table, write_project

TOKEN = "t0ken-from-env"
API_KEY = "k3y-from-env"
RECORDS = [{"id": i, "name": f"n{i}"} for i in range(1, 7)]

RAW = 0
"""A handler's status for "send these bytes as they are, status line and headers too"."""
Reply = tuple[int, dict[str, str], bytes | Iterable[bytes]]
Handler = Callable[[str, dict[str, str], dict[str, str]], Reply]


class Api:
    """A local API; `handle(path, query, headers)` -> (status, headers, body or chunks).

    A body given as chunks is sent as it is produced, without Content-Length unless the
    handler sets one, so a test can trickle bytes or stream more than it declares.
    """

    def __init__(self) -> None:
        self.handle: Handler = lambda path, query, headers: (404, {}, b"")
        self.requests: list[tuple[str, dict[str, str]]] = []
        api = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                headers = dict(self.headers.items())
                api.requests.append((self.path, headers))
                status, extra, body = api.handle(parts.path, query, headers)
                if status == RAW:
                    self.close_connection = True
                    self._stream(body)
                    return
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                if isinstance(body, bytes):
                    if "Content-Length" not in extra:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.end_headers()
                self._stream(body)

            def _stream(self, body: bytes | Iterable[bytes]) -> None:
                try:
                    for chunk in [body] if isinstance(body, bytes) else body:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except OSError:
                    pass  # the client hung up, as it should

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def credentials_seen(self) -> list[str]:
        """Every credential header value this server was sent, sorted."""
        return sorted(
            value
            for _, headers in self.requests
            for name, value in headers.items()
            if name.lower() in ("authorization", "x-api-key")
        )


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.server.shutdown()


@pytest.fixture
def other() -> Iterator[Api]:
    """Another origin: same machine, another port."""
    server = Api()
    yield server
    server.server.shutdown()


def ok(body: Any) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def settings(api: Api, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "http",
        "url": api.url + "/items",
        "bearer_token": "${API_TOKEN}",
        "headers": {"X-Api-Key": "${API_KEY}"},
        "backoff_seconds": 0.01,
        "retries": 0,
        "records": "items",
        "pagination": {"kind": "next_link", "next_path": "next"},
        **extra,
    }


def load(tmp_path: Path, source: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    root = write_project(tmp_path / "p", {"items": source})
    return run(root)["source:items"], root


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.setenv("API_KEY", API_KEY)


def first_page_links_to(link: str) -> Handler:
    def handle(path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        return ok({"items": RECORDS[:3], "next": link})

    return handle


def assert_refused(report: dict[str, Any], root: Path, *words: str) -> None:
    assert report["status"] == "failed", report
    for word in words:
        assert word in report["error"], report["error"]
    assert TOKEN not in report["error"] and API_KEY not in report["error"]
    assert not (root / ".weir" / "lake" / "items").exists()


def test_a_next_link_to_another_origin_is_refused_and_gets_no_credentials(
    api: Api, other: Api, tmp_path: Path
) -> None:
    other.handle = lambda *_: ok({"items": RECORDS[3:], "next": None})
    api.handle = first_page_links_to(other.url + "/items?page=2")
    report, root = load(tmp_path, settings(api))
    assert_refused(report, root, "another origin", f"127.0.0.1:{other.port}", "allowed_origins")
    assert other.requests == []
    assert api.credentials_seen() == sorted([f"Bearer {TOKEN}", API_KEY])


@pytest.mark.parametrize(
    ("link", "why"),
    [
        ("http://localhost:{other}/items", "another origin"),  # another name, same machine
        ("//127.0.0.1:{other}/items", "another origin"),  # scheme-relative
        ("http://127.0.0.2:{api}/items", "another origin"),  # another loopback address
        ("https://127.0.0.1:{api}/items", "another origin"),  # another scheme, same port
        ("http://127.0.0.1:{api}@127.0.0.1:{other}/items", "user info"),  # the host is after @
        ("http://127.0.0.1:{api}:pw@127.0.0.1:{other}/items", "user info"),
        ("http://user@127.0.0.1:{api}/items", "user info"),  # even to the origin itself
        ("http://127.0.0.1:{api}\\@127.0.0.1:{other}/items", "backslash"),
    ],
)
def test_links_that_look_like_the_origin_but_are_not_are_refused(
    api: Api, other: Api, tmp_path: Path, link: str, why: str
) -> None:
    other.handle = lambda *_: ok({"items": RECORDS[3:], "next": None})
    api.handle = first_page_links_to(link.format(api=api.port, other=other.port))
    report, root = load(tmp_path, settings(api))
    assert_refused(report, root, "the next link leads to", why)
    assert other.requests == []
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    "link",
    [
        "file://{path}",
        "data:application/json,{data}",
        "ftp://127.0.0.1:1/items.json",
        "gopher://127.0.0.1:1/items",
        "javascript:alert(1)",
    ],
)
def test_links_of_other_schemes_are_refused_and_read_nothing(
    api: Api, tmp_path: Path, link: str
) -> None:
    local = tmp_path / "secret.json"
    local.write_text(json.dumps({"items": [{"id": 99, "name": "from a local file"}]}))
    data = json.dumps({"items": [{"id": 98, "name": "injected"}], "next": None})
    api.handle = first_page_links_to(link.format(path=local, data=data))
    report, root = load(tmp_path, settings(api))
    assert_refused(report, root, "only http and https are fetched")


def test_an_allowed_origin_is_followed_with_the_credentials(
    api: Api, other: Api, tmp_path: Path
) -> None:
    other.handle = lambda *_: ok({"items": RECORDS[3:], "next": None})
    api.handle = first_page_links_to(other.url + "/items?page=2")
    report, root = load(tmp_path, settings(api, allowed_origins=[other.url]))
    assert report["status"] == "succeeded", report["error"]
    assert sorted(table(root, "items").column("id").to_pylist()) == [1, 2, 3, 4, 5, 6]
    assert other.credentials_seen() == sorted([f"Bearer {TOKEN}", API_KEY])


def test_a_same_origin_next_link_is_followed(api: Api, tmp_path: Path) -> None:
    def handle(path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        if query.get("page") == "2":
            return ok({"items": RECORDS[3:], "next": None})
        return ok({"items": RECORDS[:3], "next": "/items?page=2"})

    api.handle = handle
    report, root = load(tmp_path, settings(api))
    assert report["status"] == "succeeded", report["error"]
    assert table(root, "items").num_rows == 6


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_refused_and_gets_no_credentials(
    api: Api, other: Api, tmp_path: Path, status: int
) -> None:
    other.handle = lambda *_: ok({"items": RECORDS, "next": None})
    api.handle = lambda *_: (status, {"Location": other.url + "/items"}, b"")
    report, root = load(tmp_path, settings(api))
    assert_refused(report, root, "redirect", "another origin")
    assert other.requests == []


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_within_the_origin_is_followed_with_the_credentials(
    api: Api, tmp_path: Path, status: int
) -> None:
    def handle(path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        if path == "/items":
            return status, {"Location": "/v2/items"}, b""
        return ok({"items": RECORDS, "next": None})

    api.handle = handle
    report, _ = load(tmp_path, settings(api))
    assert report["status"] == "succeeded", report["error"]
    assert api.credentials_seen() == sorted([f"Bearer {TOKEN}", API_KEY] * 2)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1:1/x", "data:,[]"])
def test_a_redirect_to_another_scheme_is_refused(api: Api, tmp_path: Path, target: str) -> None:
    api.handle = lambda *_: (302, {"Location": target}, b"")
    report, root = load(tmp_path, settings(api))
    assert_refused(report, root, "redirect", "only http and https are fetched")


def test_redirect_loops_and_chains_end_with_an_error(api: Api, tmp_path: Path) -> None:
    api.handle = lambda path, query, headers: (
        302,
        {"Location": "/b" if path == "/items" else "/items"},
        b"",
    )
    report, root = load(tmp_path, settings(api))
    assert_refused(report, root, "redirects loop")

    api.handle = lambda path, query, headers: (302, {"Location": path + "x"}, b"")
    report, root = load(tmp_path, settings(api))
    assert_refused(report, root, "more than 5 redirects")
    assert len(api.requests) <= 2 + 6


def test_user_info_in_the_source_url_is_sent_as_basic_auth_to_its_origin_only(
    api: Api, other: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_PASSWORD", "p@ss/w#rd:%?&")
    other.handle = lambda *_: ok({"items": RECORDS[3:], "next": None})
    api.handle = first_page_links_to(other.url + "/items")
    source = settings(api, url=f"http://reader:${{API_PASSWORD}}@127.0.0.1:{api.port}/items")
    del source["bearer_token"], source["headers"]
    report, root = load(tmp_path, source)
    assert_refused(report, root, "another origin")
    assert "p@ss" not in report["error"] and "cmVhZGVy" not in report["error"]
    assert api.credentials_seen() == ["Basic cmVhZGVyOnBAc3MvdyNyZDolPyY="]  # reader:p@ss/w#rd:%?&
    assert other.requests == []


def test_a_body_larger_than_the_cap_is_refused_without_being_held(api: Api, tmp_path: Path) -> None:
    sent = {"bytes": 0}

    def endless() -> Iterator[bytes]:
        yield b'{"items": ['
        for _ in range(2_000):  # 20 MB at most, if nobody stops reading
            sent["bytes"] += 10_000
            yield b'{"id": 1},' * 1_000

    api.handle = lambda *_: (200, {}, endless())
    report, root = load(tmp_path, settings(api, max_response_bytes=100_000))
    assert_refused(report, root, "larger than max_response_bytes (100,000)")


def test_a_declared_length_beyond_the_cap_is_refused_before_reading(
    api: Api, tmp_path: Path
) -> None:
    api.handle = lambda *_: (200, {"Content-Length": str(10 * 2**30)}, iter([b"[" * 1000]))
    report, root = load(tmp_path, settings(api))
    assert_refused(report, root, "declares 10,737,418,240 bytes", "max_response_bytes")


def test_gzip_is_decoded_and_a_gzip_bomb_is_refused(api: Api, tmp_path: Path) -> None:
    body = json.dumps({"items": RECORDS, "next": None}).encode()
    api.handle = lambda *_: (200, {"Content-Encoding": "gzip"}, gzip.compress(body))
    report, root = load(tmp_path, settings(api))
    assert report["status"] == "succeeded", report["error"]
    assert table(root, "items").num_rows == 6

    bomb = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    packed = bomb.compress(b'{"items": [' + b" " * 50_000_000) + bomb.flush()
    assert len(packed) < 100_000
    api.handle = lambda *_: (200, {"Content-Encoding": "gzip"}, packed)
    report, root = load(tmp_path / "bomb", settings(api, max_response_bytes=1_000_000))
    assert_refused(report, root, "larger than max_response_bytes", "once decompressed")


def test_an_unknown_content_encoding_is_refused(api: Api, tmp_path: Path) -> None:
    api.handle = lambda *_: (200, {"Content-Encoding": "br"}, b"\x0b\x02\x80[]\x03")
    report, root = load(tmp_path, settings(api))
    assert_refused(report, root, "encoded as 'br'")


def test_a_server_trickling_bytes_is_cut_off_at_the_total_timeout(api: Api, tmp_path: Path) -> None:
    def trickle() -> Iterator[bytes]:
        yield b'{"items": [], "pad": "'
        for _ in range(40):  # 8 s of a byte every 0.2 s, then a complete body
            time.sleep(0.2)
            yield b"x"
        yield b'"}'

    api.handle = lambda *_: (200, {}, trickle())
    report, root = load(tmp_path, settings(api, timeout_seconds=1))
    assert_refused(report, root, "no complete answer within timeout_seconds (1 s)")


def test_slow_headers_are_cut_off_at_the_total_timeout(api: Api, tmp_path: Path) -> None:
    def slow_headers() -> Iterator[bytes]:
        yield b"HTTP/1.0 200 OK\r\n"
        for i in range(30):  # 6 s of a header every 0.2 s
            time.sleep(0.2)
            yield f"X-Pad-{i}: x\r\n".encode()
        yield b"\r\n" + json.dumps({"items": RECORDS, "next": None}).encode()

    api.handle = lambda *_: (RAW, {}, slow_headers())
    report, root = load(tmp_path, settings(api, timeout_seconds=1))
    assert_refused(report, root, "no complete answer within timeout_seconds (1 s)")


def test_deeply_nested_and_out_of_range_json_is_refused_not_crashed(
    api: Api, tmp_path: Path
) -> None:
    api.handle = lambda *_: (200, {}, b'{"items": [{"id": 1, "x": ' + b"[" * 100_000 + b"]}")
    report, root = load(tmp_path, settings(api))
    assert_refused(report, root, "nested too deeply")

    api.handle = lambda *_: (200, {}, b'{"items": [{"id": 1, "x": 1e999}], "next": null}')
    report, root = load(tmp_path / "big", settings(api))
    assert_refused(report, root, "1e999 is beyond the range of a float")


def test_repeated_query_parameters_of_the_url_are_kept(api: Api, tmp_path: Path) -> None:
    api.handle = lambda *_: ok({"items": RECORDS, "next": None})
    source = settings(api, url=api.url + "/items?tag=a&tag=b", params={"size": "6"})
    source["pagination"] = {"kind": "none"}
    report, _ = load(tmp_path, source)
    assert report["status"] == "succeeded", report["error"]
    assert parse_qs(urlsplit(api.requests[0][0]).query) == {"tag": ["a", "b"], "size": ["6"]}


def test_a_cursor_is_sent_as_one_parameter_whatever_it_holds(api: Api, tmp_path: Path) -> None:
    cursor = "http://evil.example/x?a=1&page=9#f"

    def handle(path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        if "cursor" in query:
            return ok({"items": RECORDS[3:], "meta": {"next": None}})
        return ok({"items": RECORDS[:3], "meta": {"next": cursor}})

    api.handle = handle
    source = settings(api, pagination={"kind": "cursor", "cursor_path": "meta.next"})
    report, _ = load(tmp_path, source)
    assert report["status"] == "succeeded", report["error"]
    query = parse_qs(urlsplit(api.requests[1][0]).query)
    assert query == {"cursor": [cursor]}
