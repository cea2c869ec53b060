"""The reported sandbox escape, as a user runs it: a view reading /etc/passwd, and a model
reading the view's columns from DuckDB's catalog. Refused before anything runs."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Weir

VIEW = """-- weir:
--   materialized: view
SELECT * FROM read_csv('/etc/passwd', sep='\\x01', header=true, all_varchar=true, quote='', escape='')
"""
LEAK = """WITH unused AS (SELECT * FROM harmless_view)
SELECT column_name AS line FROM duckdb_columns() WHERE table_name = 'harmless_view'
"""


def test_the_reported_escape_is_refused_without_a_traceback(tmp_path: Path, weir: Weir) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "events.csv").write_text("id,amount\n1,5\n")
    (tmp_path / "weir.yaml").write_text(
        "name: m\nsources:\n  events:\n    format: csv\n    path: data/events.csv\n"
        "    columns: {id: int64, amount: int64}\n"
    )
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "harmless_view.sql").write_text(VIEW)
    (tmp_path / "sql" / "leak.sql").write_text(LEAK)
    first_line = Path("/etc/passwd").read_text().splitlines()[0]
    result = weir("run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "sql/harmless_view.sql:3:15" in output and "read_csv()" in output
    assert "Traceback" not in output and first_line not in output
    tables = weir("tables", check=False)
    assert "leak" not in tables.stdout and first_line not in tables.stdout
