"""Weir's own state, damaged as it is in practice, via the CLI: a truncated or lost catalog,
data files gone from the lake, a run killed with SIGKILL, a disk that refuses writes. Each
ends in an error that names the place and the fix (or in a repair that says what it did),
never in a traceback, silent loss or a run left 'running'."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.e2e.conftest import Weir, statuses

pytestmark = pytest.mark.e2e


def clean_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The error text of a command that failed as Weir means to: exit 1, no traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream, stream
        assert "nanobind" not in stream and "terminate called" not in stream, stream
    return result.stderr


def table_lines(output: str) -> dict[str, list[str]]:
    """`weir tables`: table -> its cells."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│").split("│")]
        if len(cells) >= 5 and cells[2].isdigit():
            found[cells[0]] = cells[:5]
    return found


# the catalog -------------------------------------------------------------------------------


def test_a_truncated_catalog_is_refused_then_rebuilt_from_the_lake(weir: Weir, shop: Path) -> None:
    project = shop
    before = table_lines(weir("tables", cwd=project).stdout)
    catalog = project / ".weir" / "catalog.db"
    with sqlite3.connect(catalog) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.truncate(catalog, 8192)

    for command in (["run"], ["tables"], ["show", "orders"]):
        error = clean_failure(weir(*command, cwd=project, check=False))
        assert f"the catalog at {catalog}" in error and "truncated" in error, error
        assert "weir catalog rebuild" in error
    assert catalog.stat().st_size == 8192, "the damaged catalog must be left as it was"

    rebuilt = weir("catalog", "rebuild", cwd=project)
    kept = [
        p
        for p in project.glob(".weir/catalog.db.damaged-*")
        if not p.name.endswith(("-wal", "-shm"))
    ]
    assert len(kept) == 1 and kept[0].stat().st_size == 8192
    assert "not in the lake, so not rebuilt" in rebuilt.stderr
    assert "check results" in rebuilt.stderr
    after = table_lines(weir("tables", cwd=project).stdout)
    assert after == before, (before, after)  # versions, kinds, row counts, column counts
    shown = weir("show", "big_spenders", cwd=project).stdout
    assert "made from: customer_totals@0" in shown, shown
    runs = weir("runs", cwd=project).stdout
    assert "rebuilt" in runs and "rebuilt from the lake" in runs

    again = weir("run", cwd=project)
    assert set(statuses(again.stdout).values()) == {"succeeded"}, again.stdout
    assert "orders@0 (8 rows)" in again.stdout or "8 rows in" in again.stdout
    assert set(statuses(weir("run", cwd=project).stdout).values()) == {"skipped"}


def test_an_emptied_catalog_beside_a_full_lake_is_refused(weir: Weir, shop: Path) -> None:
    project = shop
    catalog = project / ".weir" / "catalog.db"
    for name in ("catalog.db", "catalog.db-wal", "catalog.db-shm"):
        (project / ".weir" / name).unlink(missing_ok=True)
    catalog.write_bytes(b"")
    error = clean_failure(weir("run", cwd=project, check=False))
    assert "holds no history, but the lake" in error and "orders" in error
    assert "weir catalog rebuild" in error
    assert not (project / ".weir" / "lake" / "orders" / "_delta_log" / f"{1:020d}.json").exists()


def test_rebuild_refuses_a_readable_catalog_without_force(weir: Weir, shop: Path) -> None:
    project = shop
    refused = weir("catalog", "rebuild", cwd=project, check=False)
    error = clean_failure(refused)
    assert "can be read and holds 1 run(s)" in error and "--force" in error
    forced = weir("catalog", "rebuild", "--force", cwd=project)
    assert "the old catalog is kept as" in forced.stdout
    kept = [
        p
        for p in project.glob(".weir/catalog.db.replaced-*")
        if not p.name.endswith(("-wal", "-shm"))
    ]
    assert len(kept) == 1
    with sqlite3.connect(kept[0]) as db:  # still the whole old catalog
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)


def test_a_catalog_overwritten_with_garbage_is_refused(weir: Weir, shop: Path) -> None:
    project = shop
    catalog = project / ".weir" / "catalog.db"
    for name in ("catalog.db-wal", "catalog.db-shm"):
        (project / ".weir" / name).unlink(missing_ok=True)
    catalog.write_bytes(os.urandom(40_000))
    error = clean_failure(weir("runs", cwd=project, check=False))
    assert "cannot be read" in error and str(catalog) in error


# the lake ------------------------------------------------------------------------------------


def test_a_deleted_data_file_is_named_and_the_next_run_rebuilds_the_table(
    weir: Weir, shop: Path
) -> None:
    project = shop
    [data] = list((project / ".weir" / "lake" / "orders").glob("*.parquet"))
    data.unlink()
    error = clean_failure(weir("show", "orders", cwd=project, check=False))
    assert "table 'orders' version 0" in error and f"{data.name} is missing" in error
    assert "fix:" in error and "weir run" in error
    rerun = weir("run", cwd=project)
    assert statuses(rerun.stdout)["source:orders"] == "succeeded", rerun.stdout
    assert "missing or damaged" in rerun.stdout
    assert "orders@1" in weir("show", "orders", cwd=project).stdout


def test_a_damaged_incremental_table_is_refused_until_a_full_refresh(
    weir: Weir, tmp_path: Path
) -> None:
    weir("init", "shop")
    project = tmp_path / "shop"
    config = project / "weir.yaml"
    config.write_text(
        config.read_text().replace(
            "    path: data/orders.csv\n", "    path: data/orders*.csv\n    incremental: true\n"
        )
    )
    weir("run", cwd=project)
    [data] = list((project / ".weir" / "lake" / "orders").glob("*.parquet"))
    data.write_bytes(data.read_bytes()[:100])  # truncated, as by a failed copy
    (project / "data" / "orders2.csv").write_text(
        "order_id,customer_id,amount,ordered_at\n9,5,1.00,2026-01-12T10:00:00Z\n"
    )
    failed = weir("run", cwd=project, check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stdout + failed.stderr
    assert "has 100 of" in failed.stdout and "--full-refresh" in failed.stdout, failed.stdout
    refreshed = weir("run", "--full-refresh", cwd=project)
    assert statuses(refreshed.stdout)["source:orders"] == "succeeded"
    assert "9 rows" in weir("show", "orders", cwd=project).stdout


# runs that died ------------------------------------------------------------------------------


SLOW_STEP = """
import time
from pathlib import Path

def slow(orders):
    Path("started").write_text("yes")
    time.sleep(120)
    return orders
"""


def test_a_run_killed_with_sigkill_is_marked_died_with_its_pid(weir: Weir, shop: Path) -> None:
    project = shop
    (project / "steps").mkdir()
    (project / "steps" / "slow.py").write_text(SLOW_STEP)
    with (project / "weir.yaml").open("a") as config:
        config.write(
            "\nsteps:\n  slowed:\n    function: steps/slow.py:slow\n    inputs: [orders]\n"
        )
    env = {**os.environ, "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "weir", "run"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            if (project / "started").exists():
                break
            time.sleep(0.1)
        assert (project / "started").exists(), "the slow step never started"
        running = weir("runs", cwd=project).stdout
        assert re.search(r"│ 2\s+│ running", running), running  # alive: not marked
        assert f"pid {process.pid}" in running
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    listed = weir("runs", cwd=project).stdout
    assert re.search(r"│ 2\s+│ died", listed), listed
    assert f"process {process.pid}" in listed and "python:slowed" in listed
    steps = weir("runs", "2", cwd=project).stdout
    assert "running" not in steps and "died" in steps
    (project / "steps" / "slow.py").write_text(SLOW_STEP.replace("time.sleep(120)", ""))
    after = weir("run", cwd=project)
    assert statuses(after.stdout)["python:slowed"] == "succeeded"


def test_the_next_run_marks_a_killed_run_died_and_says_so(weir: Weir, shop: Path) -> None:
    """A run that was killed before any command looked: the next run finds it."""
    project = shop
    catalog = project / ".weir" / "catalog.db"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    with sqlite3.connect(catalog) as db:  # what a run killed at its start leaves behind
        host = os.uname().nodename
        db.execute(
            "INSERT INTO runs (project, status, started_at, weir_version, git, settings, process)"
            " VALUES ('shop', 'running', '2026-01-01 00:00:00', '0', '{}', '{}', ?)",
            (f'{{"pid": {pid}, "host": "{host}", "boot_id": null, "start_ticks": 1}}',),
        )
    nxt = weir("run", cwd=project)
    assert f"run 2 died: process {pid} on {host} ended without finishing" in nxt.stdout
    assert "marked as died" in nxt.stdout
    assert re.search(r"│ 2\s+│ died", weir("runs", cwd=project).stdout)


# failures that must say what they are ----------------------------------------------------------


def test_a_catalog_disk_that_refuses_writes_is_named_and_no_step_stays_running(
    weir: Weir, shop: Path
) -> None:
    """A real refusal: the run gets a file-size limit (RLIMIT_FSIZE) just above the
    catalog's size, so SQLite's writes fail (EFBIG) as they would on a full disk."""
    import resource

    project = shop
    catalog = project / ".weir" / "catalog.db"
    with sqlite3.connect(catalog) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (project / "data" / "orders.csv").write_text(
        (project / "data" / "orders.csv").read_text() + "9,5,1.00,2026-01-12T10:00:00Z\n"
    )
    limit = catalog.stat().st_size + 8192

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [sys.executable, "-m", "weir", "run", "--force"],
        cwd=project,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limited,
        check=False,
    )
    error = clean_failure(result)
    assert f"the catalog at {catalog} could not be written" in error, error
    assert "ulimit -f" in error
    listed = weir("runs", cwd=project).stdout  # without the limit
    assert not re.search(r"│ 2\s+│ running", listed), listed
    assert "running" not in weir("runs", "2", cwd=project).stdout


def test_a_type_change_mid_stream_is_not_called_a_full_disk(weir: Weir, tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    with sqlite3.connect(project / "shop.db") as db:
        db.execute("CREATE TABLE t (id INTEGER, v INTEGER)")
        db.executemany("INSERT INTO t VALUES (?, ?)", [(i, i) for i in range(300)])
        db.execute("INSERT INTO t VALUES (301, 'abc')")  # SQLite lets a text into an integer
    (project / "weir.yaml").write_text(
        "name: p\nsources:\n  rows:\n    kind: sql\n    url: sqlite:///shop.db\n"
        "    table: t\n    batch_rows: 100\n"
    )
    result = weir("run", cwd=project, check=False)
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "disk space" not in output, output
    steps = weir("runs", "1", cwd=project).stdout
    assert "running" not in steps, steps
    if result.returncode:  # the cause, with its table (or column) named
        assert "'rows'" in output or "column v" in output, output


# exit ----------------------------------------------------------------------------------------


def test_commands_exit_cleanly(weir: Weir, shop: Path) -> None:
    """No 'nanobind: leaked' lines, no abort at exit: every library object is closed while
    its library is still there."""
    project = shop
    commands = [
        ["tables"],
        ["runs"],
        ["runs", "1"],
        ["profile", "orders"],
        ["describe", "orders"],
        ["checks"],
        ["catalog"],
        ["lineage", "big_spenders.customer_id"],
        *[["show", "orders"]] * 5,
        ["run", "--force"],
    ]
    for command in commands:
        result = weir(*command, cwd=project, check=False)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert result.stderr == "", (command, result.stderr)
    for data in (project / ".weir" / "lake" / "customers").glob("*.parquet"):
        data.unlink()
    clean_failure(weir("show", "customers", cwd=project, check=False))
    # a load refused before its stream is read (a column changed type) must not leave the
    # reader's DuckDB connection for the interpreter to find at exit
    (project / "data" / "extra.csv").write_text("id,v\n1,10\n")
    config = project / "weir.yaml"
    config.write_text(
        config.read_text().replace(
            "sources:\n", "sources:\n  extra:\n    format: csv\n    path: data/extra.csv\n", 1
        )
    )
    weir("run", cwd=project)
    (project / "data" / "extra.csv").write_text("id,v\n1,ten\n")
    refused = weir("run", cwd=project, check=False)
    clean_failure(refused)
    assert "column v: int64 -> string changed type" in refused.stdout, refused.stdout


def test_show_exits_cleanly_on_a_table_of_many_files(weir: Weir, shop: Path) -> None:
    """`weir show` reads a few rows and exits while Arrow may still be reading ahead. Through
    deltalake's Python file system, that read-ahead called back into an exiting interpreter:
    on this table 30 of 30 runs of the old code crashed (SIGSEGV, SIGABRT 'terminate called
    without an active exception') or hung at exit."""
    import numpy as np
    import pyarrow as pa

    from weir.app import open_workspace
    from weir.project import load_project

    project = shop
    workspace = open_workspace(load_project(project))
    try:
        rows = pa.table({"order_id": np.arange(20_000, dtype="int64")})
        for _ in range(80):
            version = workspace.lake.write("many", rows, mode="append")
        workspace.catalog.record_version(
            "many",
            kind="model",
            version=version,
            row_count=80 * 20_000,
            fingerprint="0" * 64,
            schema=[{"name": "order_id", "type": "int64", "nullable": True}],
            run_id=1,
            step_run_id=None,
        )
    finally:
        workspace.close()
    for _ in range(3):
        shown = weir("show", "many", cwd=project, check=False)
        assert shown.returncode == 0 and shown.stderr == "", (shown.returncode, shown.stderr)
