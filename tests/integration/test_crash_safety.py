"""SIGKILL the ingest at random points, many times; the end state equals one clean load.

Each round adds data (a CSV file with one bad row, rows in an SQLite table), starts
`weir run` as a user would, and kills it after a random delay, so deaths land before,
inside and after the Delta commits, the catalog records and the quarantine publishing.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
from tests.integration.sources import run, table, write_project

ROUNDS = 12


def sources() -> dict[str, object]:
    return {
        "files": {
            "format": "csv",
            "path": "in/*.csv",
            "incremental": True,
            "columns": {"id": "int64", "v": "int64"},
        },
        "rows": {
            "kind": "sql",
            "url": "sqlite:///shop.db",
            "table": "t",
            "cursor": "id",
            "batch_rows": 100,
        },
    }


def add_round(root: Path, number: int) -> None:
    (root / "in").mkdir(exist_ok=True)
    lines = [f"{number * 100 + i},{i}" for i in range(50)] + [f"{number * 100 + 99},bad{number}"]
    (root / "in" / f"part{number:03}.csv").write_text("id,v\n" + "\n".join(lines) + "\n")
    with sqlite3.connect(root / "shop.db") as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
        connection.executemany(
            "INSERT INTO t VALUES (?, ?)", [(number * 1000 + i, f"r{i}") for i in range(300)]
        )


def sorted_rows(data: pa.Table, *columns: str) -> list[tuple[object, ...]]:
    return sorted(tuple(row[c] for c in columns) for row in data.to_pylist())


def test_sigkill_at_random_points_then_a_rerun_equals_one_clean_load(tmp_path: Path) -> None:
    seed = int(os.environ.get("WEIR_CRASH_SEED", time.time_ns() % 100_000))
    print(f"crash test seed {seed} (WEIR_CRASH_SEED={seed} to repeat)")
    rng = random.Random(seed)
    killed = tmp_path / "killed"
    write_project(killed, sources())
    env = {**os.environ, "NO_COLOR": "1"}
    deaths = 0
    whole = 0.0  # how long an unkilled run takes here: deaths are spread over it
    for number in range(ROUNDS):
        add_round(killed, number)
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "weir", "run"],
            cwd=killed,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if number == 0:
            assert process.wait() == 0
            whole = time.monotonic() - started
            continue
        try:
            process.wait(timeout=rng.uniform(0.3, 1.0) * whole)
            # it finished first: the first run's time was inflated (cold caches); aim lower
            whole = min(whole, time.monotonic() - started)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            deaths += 1
        process.wait()
    commits = len(list((killed / ".weir" / "lake" / "files" / "_delta_log").glob("*.json")))
    print(
        f"{deaths} of {ROUNDS - 1} runs killed; an unkilled run takes {whole:.1f} s; "
        f"{commits} commits of table files before the last run"
    )
    assert commits >= 2, "no killed run got as far as a commit; the deaths came too early"
    assert deaths >= ROUNDS // 3, "too few runs were killed to test anything; raise the delays"
    final = run(killed)
    assert all(r["status"] in ("succeeded", "skipped") for r in final.values()), final

    clean = tmp_path / "clean"
    write_project(clean, sources())
    for number in range(ROUNDS):
        add_round(clean, number)
    assert all(r["status"] == "succeeded" for r in run(clean).values())

    for name, key in (("files", ("id", "v")), ("rows", ("id", "v"))):
        got, want = table(killed, name), table(clean, name)
        assert got.num_rows == want.num_rows, (
            f"{name}: {got.num_rows} rows, a clean load has {want.num_rows}"
        )
        assert sorted_rows(got, *key) == sorted_rows(want, *key)
    quarantine = ("file", "raw")
    assert sorted_rows(table(killed, "files__quarantine"), *quarantine) == sorted_rows(
        table(clean, "files__quarantine"), *quarantine
    )
    assert table(killed, "files__quarantine").num_rows == ROUNDS
