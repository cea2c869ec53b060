"""Serving speed, two ways, each against a baseline measured in the same run.

1. In process, one row at a time: Weir's serving path (request row -> prepared columns ->
   ONNX -> answer) against the native scikit-learn pipeline's predict_proba on a one-row
   DataFrame that is built before the clock starts,
   for the demo's LightGBM fraud model and for a scikit-learn (HGB) pipeline. p50 and p99.
2. Over HTTP, one uvicorn worker each, load from wrk in a separate process on 127.0.0.1:
   `weir serve` (validation, API key, prediction log on) against a minimal hand-written
   FastAPI + onnxruntime app serving the same ONNX graph with no checks; and, when it is
   installed (MLFLOW_PYTHON=/path/to/python with mlflow), `mlflow models serve` on the same
   fitted model. Each app gets `--rounds` wrk runs, interleaved; the medians are compared
   (single runs on this machine swing by 2x at p99), and the spread is printed. So is
   the median of each round's own ratio to the minimal app's run in the same round
   (paired: they ran seconds apart, so a slow spell of the machine hits both).
   Each app's CPU time per request (all its threads and child processes, from /proc) is
   printed beside it. Two more apps show what keeping a CPU awake between requests is worth
   at one connection, where it matters (an idle vCPU of this VM halts, and is slow to
   wake): Weir with its opt-in busy polling (`busy_poll_ms: 5`; off by default), and the
   minimal app held to one onnxruntime thread, so without onnxruntime's spinning worker.

    python bench/serving.py [--seconds 8] [--rounds 5] [--rows 20000] [--connections 1 16]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
WEIR = Path(sys.executable).parent / "weir"
KEY = "p" * 40

MINIMAL_APP = """
import numpy as np, onnxruntime as ort
from fastapi import FastAPI
from pydantic import create_model
SPEC = {spec}
options = ort.SessionOptions()
options.intra_op_num_threads = {threads}  # 0: onnxruntime's default, a thread per core
sess = ort.InferenceSession({onnx!r}, options, providers=["CPUExecutionProvider"])
Row = create_model("Row", **{{k: ((float | None) if v == "float" else (str | None), ...) for k, v in SPEC.items()}})
app = FastAPI()
@app.post("/predict")
async def predict(row: Row):
    d = row.model_dump()
    feeds = {{k: np.array([[d[k] if d[k] is not None else (np.nan if v == "float" else "")]], dtype=np.float32 if v == "float" else object) for k, v in SPEC.items()}}
    p = sess.run(None, feeds)[1][0, 1]
    return {{"probability": float(p)}}
"""


def demo_project(rows: int) -> Path:
    project = HERE / "data" / f"serving_{rows}"
    if not (project / ".weir").exists():
        subprocess.run(
            [str(WEIR), "demo", str(project), "--rows", str(rows)], check=True, capture_output=True
        )
    return project


def percentiles(times: list[float]) -> tuple[float, float]:
    values = np.asarray(times) * 1e6
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def in_process(project: Path, repeats: int = 2000) -> None:
    from weir.app import open_workspace
    from weir.ml.algorithms import trusted_types
    from weir.ml.rows import prepare_rows
    from weir.project import load_project
    from weir.serve.model import load

    ws = open_workspace(load_project(project))
    try:
        for name in ("fraud", "expected_amount"):
            record = ws.catalog.model_version(name)
            served = load(ws, record)
            native = ws.artifacts.load(
                record.artifact_path, record.artifact_sha256, trusted_types(record.algorithm)
            )
            table = record.trained_on[0].partition("@")[0]
            sample = (
                ws.lake.read(table, ws.catalog.version(table).version, list(served.inputs))
                .slice(0, 200)
                .to_pylist()
            )
            call = native.predict_proba if hasattr(native, "predict_proba") else native.predict
            frames = [prepare_rows([row], served.features) for row in sample]
            weir_times: list[float] = []
            native_times: list[float] = []
            # alternating blocks, so drift hits both; not call by call, because the native
            # estimators' OpenMP threads keep spinning after a call and would slow the next
            for block in range(repeats // 100):
                for index in range(block * 100, block * 100 + 100):
                    row = sample[index % len(sample)]
                    started = time.perf_counter()
                    served.predict([row])
                    weir_times.append(time.perf_counter() - started)
                for index in range(block * 100, block * 100 + 100):
                    frame = frames[
                        index % len(frames)
                    ]  # built beforehand: only predict_proba counts
                    started = time.perf_counter()
                    call(frame)
                    native_times.append(time.perf_counter() - started)
            (w50, w99), (n50, n99) = percentiles(weir_times), percentiles(native_times)
            print(
                f"in-process single row, {name} ({record.algorithm}): weir p50 {w50:.1f} us p99 {w99:.1f} us; "
                f"native p50 {n50:.1f} us p99 {n99:.1f} us -> native/weir at p50 = {n50 / w50:.0f}x, at p99 = {n99 / w99:.0f}x"
            )
    finally:
        ws.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) and of its children, such as
    Weir's prediction-log writer."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for each in [pid, *(int(c) for c in children.read_text().split())]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def halt_polling() -> str:
    """The guest's idle polling, which decides what a vCPU that goes idle costs to wake."""
    setting = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    if not setting.exists():
        return "guest halt polling: not present"
    return f"guest halt polling: {setting.read_text().strip()} ns (0: an idle vCPU halts at once)"


def wait(port: int, path: str = "/openapi.json") -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answered on port {port}")


def wrk(
    port: int,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    seconds: int,
    connections: int,
) -> tuple[float, float, int]:
    script = Path(tempfile.mkdtemp()) / "post.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body))}"]
    lines += [
        f'wrk.headers["{k}"] = "{v}"'
        for k, v in {"Content-Type": "application/json", **headers}.items()
    ]
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} failed responses on port {port}:\n{out}")
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rate, float(p99.group(1)) * scale, count  # type: ignore[union-attr]


def over_http(project: Path, seconds: int, rounds: int, connection_counts: list[int]) -> None:
    from weir.app import open_workspace
    from weir.ml.rows import prepare_columns
    from weir.project import load_project
    from weir.project.ml_config import FeatureSpec

    if shutil.which("wrk") is None:
        print("HTTP: wrk is not installed (apt-get install wrk); skipped")
        return
    ws = open_workspace(load_project(project))
    record = ws.catalog.in_stage("fraud", "production") or ws.catalog.model_version("fraud")
    onnx, serving = record.details.onnx, record.serving_spec()
    assert onnx is not None
    onnx_path = str(ws.artifacts.resolve(onnx.path))
    spec = serving.onnx_inputs
    table = record.trained_on[0].partition("@")[0]
    row = (
        ws.lake.read(table, ws.catalog.version(table).version, list(serving.inputs))
        .slice(0, 1)
        .to_pylist()[0]
    )
    columns = prepare_columns([row], FeatureSpec.model_validate(serving.features))
    prepared = {
        k: (float(columns[k][0]) if v == "float" else columns[k][0]) for k, v in spec.items()
    }
    ws.close()
    row = json.loads(json.dumps(row, default=str))
    print(halt_polling())

    scratch = Path(tempfile.mkdtemp())
    for threads in (0, 1):
        (scratch / f"minimal_app_{threads}.py").write_text(
            MINIMAL_APP.format(spec=spec, onnx=onnx_path, threads=threads)
        )
    # The same project (its workspace, tables and models linked, not copied), served
    # with busy polling (opt-in VM tuning), with a prediction log of its own.
    variant = scratch / "weir_variant"
    (variant / ".weir").mkdir(parents=True)
    for entry in project.iterdir():
        if entry.name not in ("weir.yaml", ".weir"):
            (variant / entry.name).symlink_to(entry.resolve())
    for entry in (project / ".weir").iterdir():
        if entry.name != "predictions":
            (variant / ".weir" / entry.name).symlink_to(entry.resolve())
    (variant / "weir.yaml").write_text(
        (project / "weir.yaml").read_text() + "serve:\n  busy_poll_ms: 5\n"
    )
    env = {**os.environ, "WEIR_API_KEYS": f"predict:{KEY}"}
    weir_body = (row, {"Authorization": f"Bearer {KEY}"})

    def weir_serve(directory: Path, port: int) -> list[str]:
        return [
            str(WEIR),
            "serve",
            f"fraud@{record.version}",
            "--port",
            str(port),
            "-p",
            str(directory.resolve()),
        ]

    def minimal_serve(threads: int, port: int) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", f"minimal_app_{threads}:app", "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools",
        ]  # fmt: skip

    apps = {  # label -> (command for a port, body and headers)
        "weir": (lambda port: weir_serve(project, port), weir_body),
        "minimal": (lambda port: minimal_serve(0, port), (prepared, {})),
        "weir, busy_poll_ms 5": (lambda port: weir_serve(variant, port), weir_body),
        "minimal, 1 onnxruntime thread": (lambda port: minimal_serve(1, port), (prepared, {})),
    }
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for label, (command, _) in apps.items():
            port = free_port()
            servers[label] = (
                subprocess.Popen(
                    command(port),
                    cwd=scratch,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
                port,
            )
        for _, port in servers.values():
            wait(port)
        for connections in connection_counts:
            results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in apps}
            for round_number in range(rounds):  # interleaved, so drift hits all alike
                order = list(apps) if round_number % 2 else list(apps)[::-1]
                for label in order:
                    server, port = servers[label]
                    body, headers = apps[label][1]
                    cpu = cpu_seconds(server.pid)
                    rate, p99, count = wrk(port, "/predict", body, headers, seconds, connections)
                    results[label].append((rate, p99, (cpu_seconds(server.pid) - cpu) / count))
            medians = {
                k: tuple(statistics.median(values) for values in zip(*v, strict=True))
                for k, v in results.items()
            }
            spread = {
                k: f"p99 {min(r[1] for r in v):.2f}-{max(r[1] for r in v):.2f} ms"
                for k, v in results.items()
            }
            (w_rate, w_p99, _), (m_rate, m_p99, _) = medians["weir"], medians["minimal"]
            print(
                f"HTTP {connections} connection(s), {rounds} interleaved rounds of {seconds}s, medians: "
                f"weir {w_rate:,.0f} req/s p99 {w_p99:.2f} ms ({spread['weir']}); "
                f"minimal FastAPI+onnxruntime {m_rate:,.0f} req/s p99 {m_p99:.2f} ms ({spread['minimal']}) "
                f"-> throughput ratio weir/minimal = {w_rate / m_rate:.2f}, p99 ratio = {w_p99 / m_p99:.2f}"
            )
            for label, (rate, p99, cpu) in medians.items():
                paired = statistics.median(
                    own[1] / beside[1]
                    for own, beside in zip(results[label], results["minimal"], strict=True)
                )
                print(
                    f"    {label:30s} {rate:7,.0f} req/s ({rate / m_rate:.2f}x)  p99 {p99:.2f} ms "
                    f"({p99 / m_p99:.2f}x, paired {paired:.2f}x)  CPU {cpu * 1e6:4.0f} us per "
                    f"request  ({spread[label]})"
                )
        mlflow_python = os.environ.get("MLFLOW_PYTHON")
        if mlflow_python:
            mlflow_versus(project, record, row, seconds, mlflow_python, servers["weir"][1])
        else:
            print(
                "mlflow models serve: not measured (set MLFLOW_PYTHON to a python with mlflow installed)"
            )
    finally:
        for server, _ in servers.values():
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


def mlflow_versus(
    project: Path, record: Any, row: dict[str, Any], seconds: int, python: str, weir_port: int
) -> None:
    """Log the same fitted pipeline as an MLflow sklearn model and serve it with MLflow."""
    from weir.app import open_workspace
    from weir.ml.algorithms import trusted_types
    from weir.project import load_project

    ws = open_workspace(load_project(project))
    native = ws.artifacts.load(
        record.artifact_path, record.artifact_sha256, trusted_types(record.algorithm)
    )
    ws.close()
    work = Path(tempfile.mkdtemp())
    import pickle

    (work / "model.pkl").write_bytes(
        pickle.dumps(native)
    )  # for MLflow's own format, in a scratch dir
    serving = record.serving_spec()
    features = json.dumps(serving.features)
    timestamps = [k for k, v in serving.inputs.items() if v in ("timestamp", "date")]
    script = f"""
import pickle, json, mlflow.pyfunc, pandas as pd, sys
sys.path.insert(0, {str(Path(__file__).parent.parent / "src")!r})
from weir.ml.rows import prepare_rows
from weir.project.ml_config import FeatureSpec
class Wrapped(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.model = pickle.load(open(context.artifacts["model"], "rb"))
        self.features = FeatureSpec.model_validate(json.loads({features!r}))
    def predict(self, context, frame):
        for column in {timestamps!r}:
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return self.model.predict_proba(prepare_rows(frame.to_dict("records"), self.features))[:, 1]
mlflow.pyfunc.save_model({str(work / "mlflow_model")!r}, python_model=Wrapped(), artifacts={{"model": {str(work / "model.pkl")!r}}})
"""
    source = str(Path(__file__).parent.parent / "src")
    env = {
        **os.environ,
        "PATH": f"{Path(python).parent}:{os.environ['PATH']}",
        "PYTHONPATH": source,
    }
    subprocess.run([python, "-c", script], check=True, capture_output=True, env=env)
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(python).parent / "mlflow"),
            "models",
            "serve",
            "-m",
            str(work / "mlflow_model"),
            "-p",
            str(port),
            "--env-manager",
            "local",
            "-w",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait(port, "/ping")
        body = {"dataframe_records": [row]}
        m_rate, m_p99, _ = wrk(port, "/invocations", body, {}, seconds, 1)
        w_rate, w_p99, _ = wrk(
            weir_port, "/predict", row, {"Authorization": f"Bearer {KEY}"}, seconds, 1
        )
        print(
            f"HTTP 1 connection: weir {w_rate:,.0f} req/s (p99 {w_p99:.2f} ms) vs mlflow models serve "
            f"{m_rate:,.0f} req/s (p99 {m_p99:.2f} ms) -> ratio {w_rate / m_rate:.0f}x"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="wrk runs per app, interleaved")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    project = demo_project(args.rows)
    in_process(project)
    over_http(project, args.seconds, args.rounds, args.connections)
