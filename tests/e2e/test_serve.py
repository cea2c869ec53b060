"""`weir serve` as a user runs it: a real server on a free port, called over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from tests.e2e.conftest import copy_project

pytestmark = pytest.mark.e2e

ROW = {"area": 80.0, "rooms": 2, "district": "harbour"}
ADMIN, CALLER = "admin:" + "a" * 32, "predict:" + "p" * 32


def weir(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "weir", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "COLUMNS": "200"},
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"weir {' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    key: str | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if key:
        request.add_header("Authorization", f"Bearer {key.split(':', 1)[1]}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return response.status, json.loads(text) if text.startswith(("{", "[")) else text
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode())


def wait_ready(port: int, status: int, key: str | None = None) -> Any:
    deadline = time.time() + 60  # bounds a hang only; a busy machine reloads late
    while time.time() < deadline:
        code, body = call(port, "GET", "/ready", key=key)
        if code == status:
            return body
        time.sleep(0.2)
    raise AssertionError(f"/ready did not answer {status}: {code} {body}")


class Server:
    def __init__(self, project: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "weir", "serve", *args, "--port", str(self.port)],
            cwd=project,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if call(self.port, "GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.process.kill()
        raise AssertionError(
            f"server did not start: {self.process.stdout.read() if self.process.stdout else ''}"
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def project(served_houses: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's own copy of the served houses project (trained once per process)."""
    return copy_project(served_houses, tmp_path_factory.mktemp("serve") / "houses")


@pytest.fixture(scope="module")
def quick(project: Path) -> Iterator[Server]:
    server = Server(project, "quick")
    yield server
    server.stop()


def test_predictions_info_and_the_openapi_fields(project: Path) -> None:
    server = Server(project, "quick")
    try:
        status, answer = call(server.port, "POST", "/predict", ROW)
        assert status == 200 and answer["model"] == "quick" and answer["version"] == 1
        assert (
            answer["label"] in (0, 1) and 0 <= answer["probability"] <= 1 and answer["request_id"]
        )
        status, batch = call(
            server.port, "POST", "/predict/batch", {"rows": [ROW, {**ROW, "area": 190.0}]}
        )
        assert status == 200 and len(batch["predictions"]) == 2
        assert (
            batch["predictions"][0]["probability"] == answer["probability"]
        )  # same row, same answer
        status, info = call(server.port, "GET", "/model")
        assert info["inputs"] == {"area": "number", "rooms": "number", "district": "category"}
        status, spec = call(server.port, "GET", "/openapi.json")
        assert set(spec["components"]["schemas"]["QuickRow"]["properties"]) == {
            "area",
            "rooms",
            "district",
        }
        assert call(server.port, "GET", "/ready")[0] == 200
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics").read().decode()
        assert 'weir_predictions_total{model="quick",version="1"} 3.0' in metrics
        assert 'weir_requests_total{path="/predict",status="200"} 1.0' in metrics
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("body", "raw", "field"),
    [
        ({"area": 80.0, "rooms": 2}, None, "district"),  # missing field
        ({**ROW, "area": "big"}, None, "area"),  # wrong type
        (None, b'{"area": NaN, "rooms": 2, "district": "north"}', "area"),  # NaN
        (None, b'{"area": Infinity, "rooms": 2, "district": "north"}', "area"),
        ({**ROW, "colour": "red"}, None, "colour"),  # unknown field
        ({**ROW, "district": "atlantis"}, None, "district"),  # unknown category, declared error
        (
            {**ROW, "district": None},
            None,
            "district",
        ),  # no gaps in training: missing is unknown (found by schemathesis)
        (None, b'{"area": 80.0, "rooms": ', None),  # malformed JSON
    ],
)
def test_bad_requests_get_4xx_naming_the_field(
    quick: Server, body: Any, raw: bytes | None, field: str | None
) -> None:
    server = quick
    status, error = call(server.port, "POST", "/predict", body, raw=raw)
    assert status == 422, error
    if field:
        assert any(field in d["loc"] for d in error["detail"]), error
    oversized = {"rows": [ROW] * 51}
    status, error = call(server.port, "POST", "/predict/batch", oversized)
    assert status == 422 and "rows" in error["detail"][0]["loc"]
    assert call(server.port, "POST", "/predict", ROW)[0] == 200  # it keeps serving


def test_keys_roles_promotion_and_the_prediction_log(project: Path) -> None:
    server = Server(project, "price", env={"WEIR_API_KEYS": f"{ADMIN},{CALLER}"})
    try:
        assert (
            call(
                server.port,
                "POST",
                "/predict",
                ROW | {"sold_at": "2025-03-01T10:00:00Z", "listed_at": "2025-01-01T00:00:00Z"},
            )[0]
            == 401
        )
        row = ROW | {"sold_at": "2025-03-01T10:00:00Z", "listed_at": "2025-01-01T00:00:00Z"}
        status, first = call(server.port, "POST", "/predict", row, key=CALLER)
        assert status == 200 and first["version"] == 1 and first["prediction"] > 0
        assert call(server.port, "POST", "/admin/reload", key=CALLER)[0] == 403
        weir("train", "price", "--force", cwd=project)
        status, promoted = call(server.port, "POST", "/admin/promote", {"version": 2}, key=ADMIN)
        assert status == 200 and promoted["version"] == 2 and promoted["swapped"]
        assert call(server.port, "POST", "/predict", row, key=CALLER)[1]["version"] == 2
        weir("models", "promote", "price@1", cwd=project)  # from the CLI: the server notices
        deadline = time.time() + 60
        while (
            call(server.port, "GET", "/model", key=CALLER)[1]["version"] != 1
            and time.time() < deadline
        ):
            time.sleep(0.2)
        assert call(server.port, "GET", "/model", key=CALLER)[1]["version"] == 1
        # nothing in production: not ready (still answering); back in production: ready again
        weir("models", "promote", "price@1", "--stage", "archived", cwd=project)
        assert wait_ready(server.port, 503, CALLER)["problems"][0].startswith(
            "model 'price' has no version in stage production"
        )
        assert wait_ready(server.port, 503) == {"ready": False}  # no key: no details
        weir("models", "promote", "price@1", cwd=project)
        assert wait_ready(server.port, 200, CALLER)["ready"]
        for _ in range(5):
            call(server.port, "POST", "/predict", row, key=CALLER)
    finally:
        server.stop(signal.SIGTERM)  # a clean shutdown writes everything buffered
    log = DeltaTable(str(project / ".weir" / "lake" / "price__predictions")).to_pyarrow_table()
    assert log.num_rows == 7
    assert sorted(set(log.column("version").to_pylist())) == [1, 2]
    assert (
        log.column("input_district")[0].as_py() == "harbour"
        and log.column("prediction")[0].as_py() > 0
    )
    # the server recorded the log in the catalog as it stopped: versions, lineage, profiles
    from weir.app import open_workspace
    from weir.app.prediction_log import answered_by
    from weir.project import load_project

    ws = open_workspace(load_project(project))
    try:
        versions = ws.catalog.versions("price__predictions")
        assert versions and versions[-1].row_count == 7
        assert {v for r in versions for v in answered_by(ws, r)} == {1, 2}
        assert all(ws.catalog.profile(r.id) is not None for r in versions)
        assert all(ws.catalog.parents(r.id) for r in versions)  # the data it was trained on
    finally:
        ws.close()
    shown = weir("show", "price__predictions", cwd=project).stdout
    assert "price__predictions@" in shown and "(prediction_log, 7 rows)" in shown
    assert "answers of price v" in shown


def test_a_killed_server_loses_no_answer_it_had_logged(project: Path) -> None:
    """The log's writer is its own process: a SIGKILLed server closes the pipe, and the
    writer still writes every answer that went through it. An answer goes into the pipe
    right after it is sent, before the server takes up anything else: once /health has
    answered, the 13 answers before it are in the pipe. Counted by their request ids: the
    module's other servers write to the same table, late under load."""
    path = project / ".weir" / "lake" / "quick__predictions"
    server = Server(project, "quick")
    ids = [f"killed-{os.getpid()}-{i}" for i in range(13)]
    for request_id in ids:
        assert (
            call(server.port, "POST", "/predict", ROW, headers={"X-Request-ID": request_id})[0]
            == 200
        )
    call(server.port, "GET", "/health")
    server.stop(signal.SIGKILL)

    def logged() -> int:
        if not path.exists():
            return 0
        table = DeltaTable(str(path)).to_pyarrow_table(columns=["request_id"])
        return sum(1 for i in table.column("request_id").to_pylist() if i in ids)

    deadline = time.monotonic() + 60
    while logged() < 13 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert logged() == 13


def test_a_log_writer_that_gets_no_cpu_makes_the_server_not_ready_until_it_writes(
    project: Path,
) -> None:
    """The writer runs at the lowest priority; starved (here: stopped), /ready says so and
    /metrics shows how long, so a balancer moves the load and the writer catches up."""
    server = Server(project, "quick@1")  # pinned: no reloads in the way
    (writer,) = (
        Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    )
    try:
        os.kill(int(writer), signal.SIGSTOP)
        assert call(server.port, "POST", "/predict", ROW)[0] == 200
        problem = wait_ready(server.port, 503)["problems"][0]
        assert problem.startswith("prediction log: 1 waiting, none written for")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics").read().decode()
        stalled = next(
            line for line in metrics.splitlines() if line.startswith("weir_prediction_log_stalled")
        )
        assert float(stalled.split()[1]) > 1.9  # 3 x flush_seconds (0.3) + 1
        os.kill(int(writer), signal.SIGCONT)
        assert wait_ready(server.port, 200)["ready"]
    finally:
        os.kill(int(writer), signal.SIGCONT)
        server.stop()


def test_a_body_that_is_not_utf8_is_a_422(project: Path) -> None:
    """Found by schemathesis: invalid UTF-8 bytes were echoed into the error and made a 500."""
    server = Server(project, "quick")
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/predict",
            data=b"\xf1X\x08\xd0D\xe6&",
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 422
        detail = json.loads(refused.value.read())["detail"][0]
        assert detail["type"] == "json_invalid" and detail["loc"][0] == "body"
    finally:
        server.stop()


def test_serve_onnx_threads_reach_the_session(project: Path) -> None:
    from weir.app import open_workspace
    from weir.project import load_project
    from weir.project.ml_config import ServeConfig
    from weir.serve.model import ModelHolder

    ws = open_workspace(load_project(project))
    try:
        for threads in (0, 1, 3):
            config = ServeConfig.model_validate({"onnx_threads": threads})
            holder = ModelHolder(ws, "quick", "production", threads=config.onnx_threads)
            options = holder.current.session.get_session_options()
            assert options.intra_op_num_threads == threads
    finally:
        ws.close()


def test_serve_busy_polling_reaches_the_log_writer(project: Path, tmp_path: Path) -> None:
    """`serve.busy_poll_ms` is done by the writer process: the setting must reach it. It
    is opt-in: unset, the writer sleeps between answers, whatever the machine."""
    from weir.app import open_workspace
    from weir.project import load_project
    from weir.project.ml_config import ServeConfig
    from weir.serve.app import create_app
    from weir.serve.auth import Keys

    ws = open_workspace(load_project(project))
    try:
        for setting, seconds in ((2.5, 0.0025), (0, 0.0), (None, 0.0)):
            given = {} if setting is None else {"busy_poll_ms": setting}
            config = ServeConfig.model_validate(given)
            app = create_app(ws, "quick", config=config, keys=Keys({}), log_path=tmp_path / "log")
            log = app.state.log
            try:
                spec = Path(f"/proc/{log._process.pid}/cmdline").read_bytes().split(b"\0")[-2]
                assert json.loads(spec)["busy_poll_seconds"] == seconds
            finally:
                log.close()
    finally:
        ws.close()
