"""The SQL engine attacked where the sandbox's allow-list does not look: what a query leaves
on disk, what it prints, and how its errors arrive.

- A query that outgrows memory spills its rows to DuckDB's temporary directory, by default
  `.tmp` under whatever directory Weir was started in: raw rows (PII included) outside the
  workspace. Spilling goes to the workspace's own `tmp/`, or nowhere.
- DuckDB's progress bar writes to standard output once a query runs two seconds: into
  `weir run`'s output and any JSON printed to a pipe.
- An error met while the result streams came out as an OSError with the engine's whole
  message (the runner then added a traceback), not as the SqlError every caller handles.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from weir.engines import DuckDBEngine, SqlError

# sorting this many 100-byte rows needs ~250 MB: far beyond the memory limit below
OUTGROWS = (
    "SELECT count(*) AS n FROM "
    "(SELECT range AS r, repeat('x', 100) AS s FROM range(2000000) ORDER BY random())"
)


def test_an_engine_without_a_workspace_never_spills_into_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = DuckDBEngine(threads=1, memory_limit="30MB")
    with pytest.raises(SqlError) as caught, engine.query(OUTGROWS, {}) as reader:
        reader.read_all()
    assert "Out of Memory" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_an_engine_spills_only_into_its_own_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spill = tmp_path / "workspace" / "tmp"
    engine = DuckDBEngine(threads=1, memory_limit="30MB", temp_directory=spill)
    with engine.query(OUTGROWS, {}) as reader:
        assert reader.read_all().to_pylist() == [{"n": 2_000_000}]
    assert spill.is_dir()  # DuckDB made it to spill into (its files are gone with the query)
    assert list(elsewhere.iterdir()) == []


def test_a_workspace_engine_spills_inside_the_workspace(tmp_path: Path) -> None:
    from weir.app import open_workspace
    from weir.project import load_project

    (tmp_path / "weir.yaml").write_text("name: spill\n")
    ws = open_workspace(load_project(tmp_path))
    try:
        connection = ws.engine.connect()
        try:
            [(where,)] = connection.execute("SELECT current_setting('temp_directory')").fetchall()
        finally:
            connection.close()
    finally:
        ws.close()
    assert Path(where).resolve().is_relative_to(ws.project.workspace.resolve())


def test_no_query_draws_a_progress_bar_on_standard_output() -> None:
    """DuckDB turns its bar on when standard output is a real file or pipe (as under
    `weir run > log`), not under pytest's capture: so ask a process of its own."""
    probe = (
        "from weir.engines import DuckDBEngine\n"
        "c = DuckDBEngine(threads=1).connect()\n"
        "print(c.execute(\"SELECT current_setting('enable_progress_bar')\").fetchall())\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert shown.strip() == "[(False,)]"


def test_an_error_met_while_streaming_is_a_sql_error() -> None:
    """The bad value sits far past the first batch, so DuckDB meets it while Arrow reads."""
    rows = 1_000_000
    dates = pa.table({"born": ["2020-01-01"] * rows + ["notadate"]})
    engine = DuckDBEngine(threads=1)
    with (
        pytest.raises(SqlError) as caught,
        engine.query("SELECT CAST(born AS DATE) AS d FROM t", {"t": dates}) as reader,
    ):
        reader.read_all()
    assert "Conversion Error" in caught.value.message


def test_a_query_that_runs_past_the_timeout_is_stopped() -> None:
    """`range(1e13)` would count for hours; engine.query_timeout_seconds stops it."""
    engine = DuckDBEngine(threads=1, query_timeout_seconds=0.5)
    with (
        pytest.raises(SqlError) as caught,
        engine.query("SELECT count(*) AS n FROM range(10000000000000)", {}) as reader,
    ):
        reader.read_all()
    assert "query_timeout_seconds (0.5 s)" in caught.value.message
    assert caught.value.fix and "engine.query_timeout_seconds" in caught.value.fix
    with engine.query("SELECT 1 AS one", {}) as reader:  # a quick one is not touched
        assert reader.read_all().to_pylist() == [{"one": 1}]


def test_the_timeout_is_a_key_of_the_engine(tmp_path: Path) -> None:
    from weir.app import open_workspace
    from weir.project import load_project

    (tmp_path / "weir.yaml").write_text("name: t\nengine: {query_timeout_seconds: 90}\n")
    ws = open_workspace(load_project(tmp_path))
    try:
        assert ws.engine.query_timeout_seconds == 90
    finally:
        ws.close()
