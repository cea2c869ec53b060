"""`weir predict` and `weir api-key` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from tests.e2e.test_serve import ROW, Server, call, project, weir  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e


def fails(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "weir", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=600,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_batch_scoring_into_a_table_and_files(project: Path) -> None:  # noqa: F811
    out = weir(
        "predict", "quick", "-i", "sales", "-o", "scored", "--batch-rows", "100", cwd=project
    ).stdout
    assert "scored 600 rows with quick v1 -> table scored@0" in out
    scored = DeltaTable(str(project / ".weir" / "lake" / "scored")).to_pyarrow_table()
    assert scored.num_rows == 600 and {"sale_id", "prediction", "probability"} <= set(
        scored.schema.names
    )
    assert "made from: sales@0" in weir("show", "scored", cwd=project).stdout  # lineage

    server = Server(project, "quick")
    try:
        first = scored.sort_by("sale_id").slice(0, 1).to_pylist()[0]
        row = {"area": first["area"], "rooms": first["rooms"], "district": first["district"]}
        answer = call(server.port, "POST", "/predict", row)[1]
    finally:
        server.stop()
    assert answer["probability"] == pytest.approx(
        first["probability"], abs=1e-6
    )  # one graph, one answer
    assert str(answer["label"]) == str(first["prediction"])

    pacsv.write_csv(
        pa.table({"area": [80.0, 120.5], "rooms": [2, 4], "district": ["north", "old_town"]}),
        project / "new.csv",
    )
    weir("predict", "quick@1", "-i", "new.csv", "-o", "out/new.parquet", cwd=project)
    written = pq.read_table(project / "out" / "new.parquet")
    assert written.num_rows == 2 and written.column("probability").null_count == 0
    weir("predict", "quick", "-i", "new.csv", "-o", "out/new.csv", cwd=project)
    assert (project / "out" / "new.csv").read_text().count("\n") == 3
    assert not list((project / "out").glob("*.tmp"))


def test_batch_scoring_mistakes_are_named(project: Path) -> None:  # noqa: F811
    assert "did you mean 'sales'" in fails("predict", "quick", "-i", "sale", "-o", "x", cwd=project)
    assert "input file missing.csv does not exist" in fails(
        "predict", "quick", "-i", "missing.csv", "-o", "x.parquet", cwd=project
    )
    pacsv.write_csv(pa.table({"area": [1.0]}), project / "thin.csv")
    assert "lacks the model's columns ['rooms', 'district']" in fails(
        "predict", "quick", "-i", "thin.csv", "-o", "x.parquet", cwd=project
    )
    # pyarrow's reader would fold the lines after a stray quote into one value, silently
    text = 'area,rooms,district\n80,2,north\n90,3,"old_town\n100,4,north\n'
    (project / "broken.csv").write_text(text)
    assert f"broken.csv line 3 (byte {text.index('90,3')}) is not a clean record" in fails(
        "predict", "quick", "-i", "broken.csv", "-o", "x.parquet", cwd=project
    )
    (project / "empty.parquet").parent.mkdir(exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "area": pa.array([], pa.float64()),
                "rooms": pa.array([], pa.int64()),
                "district": pa.array([], pa.string()),
            }
        ),
        project / "empty.parquet",
    )
    assert "has no rows" in fails(
        "predict", "quick", "-i", "empty.parquet", "-o", "x.parquet", cwd=project
    )
    assert "is a table of the project" in fails(
        "predict", "quick", "-i", "sales", "-o", "sales", cwd=project
    )
    assert "model 'quick' has no version 9" in fails(
        "predict", "quick@9", "-i", "sales", "-o", "x", cwd=project
    )


def test_an_api_key_file_holds_hashes_only(project: Path) -> None:  # noqa: F811
    out = weir("api-key", "add", "checkout", "--role", "predict", cwd=project).stdout
    key = out.split(": ", 1)[1].split()[0]
    stored = (project / ".weir" / "api_keys").read_text()
    assert key not in stored and stored.split()[:2] == ["checkout", "predict"]
    assert "unknown role 'root'" in fails("api-key", "add", "ops", "--role", "root", cwd=project)
    server = Server(project, "quick")
    try:
        assert call(server.port, "POST", "/predict", ROW)[0] == 401
        assert call(server.port, "POST", "/predict", ROW, key=f"predict:{key}")[0] == 200
        assert call(server.port, "POST", "/admin/reload", key=f"predict:{key}")[0] == 403
    finally:
        server.stop()
        (project / ".weir" / "api_keys").unlink()
