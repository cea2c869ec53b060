"""`weir serve` attacked over real sockets: spellings of paths and headers that the guard
and the router could read differently, oversized and slow requests, and bodies whose
meaning is ambiguous. One trained model, one server with keys and one without, for the
whole module."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.test_learn_cli import write_project
from tests.e2e.test_serve import ROW, Server, call
from tests.e2e.test_serve_trust import body_of, metric, post_head, raw, status_of

pytestmark = pytest.mark.e2e

CALLER, ADMIN = "p" * 32, "a" * 32
KEYS = {"WEIR_API_KEYS": f"predict:{CALLER},admin:{ADMIN}"}
LINEAR = """\
  lin:
    table: sales
    target: price
    task: regression
    features:
      numeric: [area, rooms]
      categorical: [district]
    algorithm: linear_regression
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("attacks") / "houses"
    write_project(root, rows=300)
    text = (root / "weir.yaml").read_text()
    text = text.replace("mlflow:\n  tracking_uri: sqlite:///" + str(root / "mlflow.db") + "\n", "")
    text = text.replace(  # no tuning: the model is only something to serve
        "    tune:\n      method: random\n      trials: 4\n"
        "      space: {C: {low: 0.01, high: 10.0, log: true}}\n",
        "",
    )
    text = text.replace("\nml:\n", "\nml:\n" + LINEAR, 1)
    text += "serve:\n  max_batch: 50\n  max_body_bytes: 65536\n  log: {flush_seconds: 0.3}\n"
    (root / "weir.yaml").write_text(text)
    promote = (["models", "promote", f"{name}@1"] for name in ("quick", "lin"))
    for args in (["train", "quick", "lin"], *promote):
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
    """Serves the linear model (whose answers can overflow), with keys."""
    server = Server(project, "lin", env=KEYS)
    yield server
    server.stop()


def stage(server: Server) -> str:
    status, info = call(server.port, "GET", "/model", key=f"predict:{CALLER}")
    assert status == 200
    return str(info["stage"])


def test_a_path_with_a_trailing_newline_is_no_way_around_the_key(keyed: Server) -> None:
    """Starlette routes `/admin/promote%0A` to /admin/promote (its pattern ends in `$`,
    which matches before a final newline); the guard looked the path up as sent and found
    no rule, so production could be archived without a key, from any Host."""
    port = keyed.port
    body = json.dumps({"version": 1, "stage": "archived"}).encode()
    for path in ("/admin/promote%0A", "/admin/promote%0a"):
        head = post_head(port, path, len(body), "Connection: close", host="evil.example")
        assert status_of(raw(port, head, body)) == 401, path
    assert stage(keyed) == "production"
    for path in ("/predict%0A", "/model%0A", "/metrics%0A", "/admin/reload%0A"):
        head = post_head(port, path, len(json.dumps(ROW)), "Connection: close")
        answer = raw(port, head.replace("application/json", "text/plain"), json.dumps(ROW).encode())
        assert status_of(answer) == 401, (path, answer[:300])


def test_a_route_has_one_spelling_and_no_redirect_repeats_the_host(keyed: Server) -> None:
    """`/predict/` was answered with a 307 to `http://<the request's Host>/predict`: with
    keys the Host is not checked, so any name could be put into the Location."""
    port = keyed.port
    for path in ("/predict/", "/admin/promote/", "/health/", "/docs/"):
        answer = raw(port, f"POST {path} HTTP/1.1\nHost: evil.example\nConnection: close\n")
        assert status_of(answer) == 404, (path, answer[:300])
        assert b"evil.example" not in answer and b"location:" not in answer.lower()


def sent(port: int, *headers: str, body: bytes = b"", path: str = "/predict") -> bytes:
    lines = [f"POST {path} HTTP/1.1", *headers, f"Content-Length: {len(body)}", "Connection: close"]
    return raw(port, "\n".join(lines) + "\n", body)


def test_a_header_that_decides_must_come_once(open_server: Server, keyed: Server) -> None:
    """Two Hosts, keys, content types or request ids: the guard read the last, a proxy in
    front may read the first (RFC 9110 requires a 400 for two Hosts)."""
    row = json.dumps(ROW).encode()
    json_type = "Content-Type: application/json"
    port = open_server.port
    twice = sent(port, "Host: evil.example", f"Host: 127.0.0.1:{port}", json_type, body=row)
    assert status_of(twice) == 400 and "Host" in body_of(twice)["detail"]
    local = f"Host: 127.0.0.1:{port}"
    for pair in (
        ("Content-Type: text/plain", json_type),
        ("X-Request-ID: a", "X-Request-ID: b"),
        (f"Origin: http://127.0.0.1:{port}", "Origin: https://evil.example"),
    ):
        assert status_of(sent(port, local, *pair, json_type, body=row)) == 400, pair
    port = keyed.port
    local = f"Host: 127.0.0.1:{port}"
    for keys in (
        ("X-API-Key: wrong", f"X-API-Key: {CALLER}"),
        (f"Authorization: Bearer {CALLER}", f"Authorization: Bearer {ADMIN}"),
        (f"Authorization: Bearer {CALLER}", f"X-API-Key: {ADMIN}"),  # which one counts?
    ):
        answer = sent(port, local, *keys, json_type, body=b"", path="/admin/reload")
        assert status_of(answer) == 400, (keys, answer[:300])
    assert stage(keyed) == "production"


def test_codings_the_server_does_not_decode_are_refused(open_server: Server) -> None:
    """`Transfer-Encoding: gzip, chunked` was read as plain chunks (the gzip ignored), and
    a gzip Content-Encoding made a 'not JSON' error; an Upgrade dropped the body unseen."""
    port = open_server.port
    row = json.dumps(ROW).encode()
    local, json_type = f"Host: 127.0.0.1:{port}", "Content-Type: application/json"
    head = f"POST /predict HTTP/1.1\n{local}\n{json_type}\nTransfer-Encoding: gzip, chunked\n"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(row), row)
    assert status_of(raw(port, head + "Connection: close\n", chunked)) == 501
    gzip = sent(port, local, json_type, "Content-Encoding: gzip", body=row)
    assert status_of(gzip) == 415 and "Content-Encoding" in body_of(gzip)["detail"]
    upgrade = sent(port, local, json_type, "Upgrade: h2c", "Connection: Upgrade", body=row)
    assert status_of(upgrade) == 400, upgrade[:300]
    assert status_of(sent(port, local, json_type, "Content-Encoding: identity", body=row)) == 200


def test_a_field_sent_twice_is_refused_not_taken_from_its_last_copy(
    open_server: Server,
) -> None:
    """`{"area": "x", "area": 80}` was answered from 80: whatever reads the first copy (a
    proxy's filter, an audit of the body) saw another request than the model did."""
    port = open_server.port
    for path, body in (
        ("/predict", b'{"area": "x", "area": 80, "rooms": 2, "district": "harbour"}'),
        ("/predict", b'{"area": 80, "rooms": 2, "district": "north", "distr\\u0069ct": "south"}'),
        ("/predict/batch", b'{"rows": [], "rows": [' + json.dumps(ROW).encode() + b"]}"),
        ("/admin/promote", b'{"version": 1, "stage": "archived", "stage": "production"}'),
    ):
        status, error = call(port, "POST", path, raw=body)
        assert status == 422, (path, body, error)
        assert error["detail"][0]["type"] == "duplicate_key", error
    assert call(port, "GET", "/model")[1]["stage"] == "production"


def test_a_refusal_does_not_repeat_long_names_or_numbers(open_server: Server) -> None:
    """An unknown field's name is part of the error's place (`loc`), and was repeated
    whole: a 60 KB name made a 60 KB answer. A 4,000-digit number was repeated too."""
    port = open_server.port
    for body in (
        json.dumps({**ROW, "k" * 60_000: 1}).encode(),
        b'{"area": ' + b"9" * 4000 + b', "rooms": 2, "district": "harbour"}',
        json.dumps({"rows": [ROW], "x" * 60_000: 1}).encode(),
    ):
        path = "/predict/batch" if b'"rows"' in body else "/predict"
        status, error = call(port, "POST", path, raw=body)
        assert status == 422 and len(json.dumps(error)) < 1_000, json.dumps(error)[:300]


def test_a_flood_of_headers_is_refused_before_it_fills_the_memory(open_server: Server) -> None:
    """uvicorn's parser kept every header line: 300 MB of headers were 300 MB of memory,
    without a key. The head is cut at 64 KiB (431), and the connection closed."""
    port = open_server.port
    line = b"X-Pad: " + b"a" * 8000 + b"\r\n"
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        sent = 0
        try:
            while sent < 50_000_000:
                sock.sendall(line * 16)
                sent += len(line) * 16
        except OSError:  # refused and closed while we were still sending
            pass
        assert sent < 50_000_000, "the server took 50 MB of headers"
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                answer += data
    assert status_of(answer) == 431, answer[:300]
    assert call(port, "GET", "/health")[0] == 200
    assert metric(port, 'weir_connections_refused_total{reason="head_too_large"}') >= 1


def test_a_connection_that_sends_nothing_is_not_held(open_server: Server) -> None:
    """uvicorn closes idle connections only once it has answered on them: one opened and
    left silent was held for ever (and each holds a file descriptor)."""
    with socket.create_connection(("127.0.0.1", open_server.port), timeout=30) as sock:
        assert sock.recv(100) == b""  # closed by the server (after its 5 s keep-alive)


def test_a_caller_that_hangs_up_mid_body_leaves_no_traceback(open_server: Server) -> None:
    """A body cut short (the caller hung up, or was cut off for being slow) reached the
    route, which raised: a traceback in the server's output for every such request."""
    port = open_server.port
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(post_head(port, "/predict", 500).replace("\n", "\r\n").encode() + b"\r\n{")
    assert call(port, "GET", "/health")[0] == 200  # the hang-ups have been handled
    output = open_server.process.stdout
    assert output is not None
    os.set_blocking(output.fileno(), False)
    shown = output.read() or ""
    assert "Traceback" not in shown, shown[-2000:]


def test_an_answer_that_is_not_a_finite_number_is_a_422_not_a_500(keyed: Server) -> None:
    """Valid inputs (finite, within float32) can take a linear model's answer to infinity:
    the JSON encoder refused it, a 500 and a traceback per request."""
    port, key = keyed.port, f"predict:{CALLER}"
    for row in ({**ROW, "area": 3.4e38}, {**ROW, "area": 3.4e38, "rooms": -3.4e38}):
        status, error = call(port, "POST", "/predict", row, key=key)
        assert status == 422, error
        assert error["detail"][0]["type"] == "not_finite" and "finite" in error["detail"][0]["msg"]
    rows = [ROW, {**ROW, "area": -3.4e38}, ROW]
    status, error = call(port, "POST", "/predict/batch", {"rows": rows}, key=key)
    assert status == 422 and error["detail"][0]["loc"] == ["body", "rows", 1], error
    assert call(port, "POST", "/predict", ROW, key=key)[0] == 200
    output = keyed.process.stdout
    assert output is not None
    os.set_blocking(output.fileno(), False)
    shown = output.read() or ""
    assert "Traceback" not in shown, shown[-2000:]


def test_callers_cannot_make_new_metric_series(open_server: Server) -> None:
    """Paths, methods and request ids chosen by callers do not become label values: every
    request is counted under one of the API's paths or 'other', and its status."""
    port = open_server.port

    def series() -> set[str]:
        text = call(port, "GET", "/metrics")[1]
        return {line.split(" ")[0] for line in text.splitlines() if line.startswith("weir_")}

    call(port, "GET", "/nowhere")  # 'other' and 404 exist from here on
    series()  # and so do /metrics's own, whether or not an earlier test asked for it
    before = series()
    for i in range(40):
        for method in ("GET", "DELETE", "PATCH"):
            raw(
                port,
                f"{method} /x{i}/{'y' * i} HTTP/1.1\nHost: 127.0.0.1:{port}\nX-Request-ID: id-{i}\nConnection: close\n",
            )
    added = series() - before
    assert all('path="other"' in name or "weir_request_duration" in name for name in added), added
    assert len(added) <= 4, added  # at most 405 next to 404, and their buckets' totals
