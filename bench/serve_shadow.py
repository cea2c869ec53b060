"""What shadow mode costs the champion (`serve.shadow`, weir.serve.shadow), in one run.

Three `weir serve` processes of the demo's fraud model (LightGBM, v1 in production), each
on its own copy of the workspace (its own prediction log): shadow off, at fraction 0.1,
and at fraction 1.0. The challenger is a second version of the same model in staging,
retrained (`weir train fraud --force`): the same work as the champion, which is what a
retrained challenger costs. Each server gets the same load, in interleaved rounds, so a
slow spell of the machine hits all three alike:

1. One connection, one request at a time, from a Python client on a kept-alive
   connection, timing each request: p50 and p99 per server over all rounds, and the
   median over rounds of each round's p99 minus the p99 of the round's server without a
   shadow (paired: seconds apart, so a busy spell of the machine hits both).
2. wrk at 16 connections, when it is installed (apt-get install wrk): throughput and p99,
   medians over the rounds.

Printed: each figure, its ratio to the server without a shadow, and the milliseconds the
shadow adds at p50 and p99 (the target: about 1 ms at most at p99). Then what each
shadow did (answered, skipped by reason, from /metrics), so a run whose shadow did
nothing cannot pass for a cheap one.

    python bench/serve_shadow.py [--rows 20000] [--requests 500] [--rounds 20] [--seconds 5]

Two runs on the development machine (2 vCPUs shared with other work), `--rounds 40`:

    load average 6.8 at the start, 10.4 at the end:
        shadow off     p50  0.584 ms (1.00x, +0.000 ms)  p99  5.960 ms   paired p99 +0.000 ms
        fraction 0.1   p50  0.646 ms (1.11x, +0.062 ms)  p99 11.079 ms   paired p99 +0.513 ms
        fraction 1.0   p50  0.648 ms (1.11x, +0.065 ms)  p99  9.316 ms   paired p99 +1.088 ms
      16 connections (wrk): 1,763 req/s; 0.94x at 0.1; 0.78x at 1.0; p99 63 / 67 / 65 ms
    load average 3.5 at the start, 9.1 at the end:
        shadow off     p50  0.451 ms (1.00x, +0.000 ms)  p99  1.635 ms   paired p99 +0.000 ms
        fraction 0.1   p50  0.441 ms (0.98x, -0.010 ms)  p99  5.311 ms   paired p99 +0.352 ms
        fraction 1.0   p50  0.599 ms (1.33x, +0.148 ms)  p99  5.779 ms   paired p99 +1.511 ms
      16 connections (wrk): 1,787 req/s; 0.97x at 0.1; 1.05x at 1.0; p99 56 / 56 / 46 ms

The p99 over all requests is the machine's noise there; the paired figure is the one to
read. Most of what the shadow adds to the tail is the interpreter lock: on a busy machine
the worker can lose its CPU while holding it (see weir.serve.shadow).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from serving import WEIR, demo_project, free_port, halt_polling, wrk

HERE = Path(__file__).parent
KEY = "p" * 40
VARIANTS = {"shadow off": None, "fraction 0.1": 0.1, "fraction 1.0": 1.0}


def with_challenger(rows: int) -> Path:
    """The demo project with fraud v2 (retrained) in staging; made once, then reused."""
    base = HERE / "data" / f"serve_shadow_{rows}"
    if (base / ".weir").exists():
        return base
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(demo_project(rows), base, symlinks=True)
    for args in (
        ["train", "fraud", "--force"],
        ["models", "promote", "fraud@2", "--stage", "staging"],
    ):
        subprocess.run([str(WEIR), *args, "-p", str(base)], check=True, capture_output=True)
    return base


def variants(base: Path, scratch: Path) -> dict[str, Path]:
    """A copy of the project per variant, its weir.yaml given the shadow or not."""
    found = {}
    for label, fraction in VARIANTS.items():
        root = scratch / label.replace(" ", "_").replace(".", "")
        shutil.copytree(base, root, symlinks=True)
        if fraction:
            with (root / "weir.yaml").open("a") as config:
                config.write(f"\nserve:\n  shadow: {{stage: staging, fraction: {fraction}}}\n")
        found[label] = root
    return found


def started(server: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + 120
    while server.poll() is None and time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return True
        except OSError:
            time.sleep(0.3)
    return False


def sample_row(root: Path) -> dict[str, Any]:
    from weir.app import open_workspace
    from weir.project import load_project

    ws = open_workspace(load_project(root))
    try:
        record = ws.catalog.in_stage("fraud", "production")
        assert record is not None
        table = record.trained_on[0].partition("@")[0]
        inputs = list(record.serving_spec().inputs)
        row = ws.lake.read(table, ws.catalog.version(table).version, inputs).slice(0, 1)
        answer: dict[str, Any] = json.loads(json.dumps(row.to_pylist()[0], default=str))
        return answer
    finally:
        ws.close()


def sequential(port: int, body: bytes, count: int) -> list[float]:
    """`count` requests one after another on one kept-alive connection; seconds each."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", "/predict", body, headers)
            response = connection.getresponse()
            response.read()
            times.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"port {port} answered {response.status}")
    finally:
        connection.close()
    return times


def shadow_counts(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {KEY}"}
    )
    text = urllib.request.urlopen(request, timeout=10).read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("weir_shadow_answers_total", "weir_shadow_skipped_total")):
            name, value = line.rsplit(" ", 1)
            counts[name] = counts.get(name, 0) + float(value)
    return ", ".join(f"{k} {v:,.0f}" for k, v in sorted(counts.items())) or "no shadow work"


def report(label: str, p50: float, p99: float, base: tuple[float, float], extra: str = "") -> None:
    added50, added99 = (p50 - base[0]) * 1000, (p99 - base[1]) * 1000
    print(
        f"    {label:14s} p50 {p50 * 1000:6.3f} ms ({p50 / base[0]:.2f}x, {added50:+.3f} ms)  "
        f"p99 {p99 * 1000:6.3f} ms ({p99 / base[1]:.2f}x, {added99:+.3f} ms){extra}"
    )


def measure(servers: dict[str, int], row: dict[str, Any], args: argparse.Namespace) -> None:
    body = json.dumps(row).encode()
    for port in servers.values():  # warm up: first requests load lazily
        sequential(port, body, 200)
    times: dict[str, list[float]] = {label: [] for label in servers}
    rounds: dict[str, list[float]] = {label: [] for label in servers}  # each round's p99
    for round_number in range(args.rounds):
        order = list(servers) if round_number % 2 else list(servers)[::-1]
        for label in order:
            block = sequential(servers[label], body, args.requests)
            times[label] += block
            rounds[label].append(float(np.percentile(block, 99)))
    stats = {
        k: (float(np.percentile(v, 50)), float(np.percentile(v, 99))) for k, v in times.items()
    }
    print(
        f"1 connection, one request at a time, {args.rounds} interleaved rounds of "
        f"{args.requests} requests per server (ratios and added ms against shadow off; "
        "paired: the median over rounds of the p99 added in the same round):"
    )
    for label, (p50, p99) in stats.items():
        paired = statistics.median(
            own - off for own, off in zip(rounds[label], rounds["shadow off"], strict=True)
        )
        report(label, p50, p99, stats["shadow off"], f"  paired p99 {paired * 1000:+.3f} ms")
    if not args.wrk_rounds:
        return
    if shutil.which("wrk") is None:
        print("16 connections: wrk is not installed (apt-get install wrk); not measured")
        return
    results: dict[str, list[tuple[float, float]]] = {label: [] for label in servers}
    headers = {"Authorization": f"Bearer {KEY}"}
    for round_number in range(args.wrk_rounds):
        order = list(servers) if round_number % 2 else list(servers)[::-1]
        for label in order:
            rate, p99, _ = wrk(servers[label], "/predict", row, headers, args.seconds, 16)
            results[label].append((rate, p99 / 1000))
    medians = {k: (statistics.median(r for r, _ in v), statistics.median(p for _, p in v)) for k, v in results.items()}  # fmt: skip
    base_rate, base_p99 = medians["shadow off"]
    print(
        f"16 connections (wrk), {args.wrk_rounds} interleaved rounds of {args.seconds}s, medians:"
    )
    for label, (rate, p99) in medians.items():
        print(
            f"    {label:14s} {rate:7,.0f} req/s ({rate / base_rate:.2f}x)  p99 {p99 * 1000:6.3f} ms "
            f"({p99 / base_p99:.2f}x, {(p99 - base_p99) * 1000:+.3f} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=500, help="per server and round")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument("--wrk-rounds", type=int, default=5, help="0: no wrk runs")
    args = parser.parse_args()
    base = with_challenger(args.rows)
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"weir-serve-shadow-{os.getpid()}"
    roots = variants(base, scratch)
    row = sample_row(base)
    print(halt_polling())
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    env = {**os.environ, "WEIR_API_KEYS": f"predict:{KEY}"}
    processes: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for label, root in roots.items():
            port = free_port()
            command = [str(WEIR), "serve", "fraud", "--port", str(port), "-p", str(root)]
            with (root / "serve.out").open("wb") as out:
                server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
            processes[label] = (server, port)
        for label, (server, port) in processes.items():
            if not started(server, port):
                raise RuntimeError((roots[label] / "serve.out").read_text()[-3000:])
        measure({label: port for label, (_, port) in processes.items()}, row, args)
        for label, (_, port) in processes.items():
            print(f"    {label:14s} {shadow_counts(port)}")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        for process, _ in processes.values():
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
