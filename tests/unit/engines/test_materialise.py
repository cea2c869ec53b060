"""Engine.materialise against a real lake: a query over table versions, committed as one
Delta commit with its metadata (DuckDB streams its Arrow result into delta-rs)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from weir.engines import DuckDBEngine, Engine, Materialise, SqlError, TableAt
from weir.lake import Lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    lake.write("sales", pa.table({"id": [1, 2, 3], "v": [10, 20, 30]}))  # v0
    lake.write("sales", pa.table({"id": [1, 2, 3, 4], "v": [11, 20, 30, 40]}))  # v1
    return lake


def _rows(lake: Lake, table: str, version: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = lake.read(table, version).sort_by("id").to_pylist()
    return rows


def test_overwrite_commits_the_query_result_with_its_metadata(lake: Lake) -> None:
    engine: Engine = DuckDBEngine()
    done = engine.materialise(
        Materialise(
            sql="SELECT id, v * 2 AS v FROM s WHERE id > 1",
            inputs=(TableAt("sales", 1, alias="s"),),
            target="doubled",
            metadata=(("weir.run", "r1"),),
        ),
        lake,
    )
    assert done.version == 0 and done.merge_counts == ()
    assert _rows(lake, "doubled", 0) == [{"id": 2, "v": 40}, {"id": 3, "v": 60}, {"id": 4, "v": 80}]
    [entry] = DeltaTable(str(lake.path("doubled"))).history()
    assert entry["weir.run"] == "r1"


def test_inputs_are_read_at_the_version_named_not_the_latest(lake: Lake) -> None:
    done = DuckDBEngine().materialise(
        Materialise("SELECT sum(v) AS total FROM sales", (TableAt("sales", 0),), "totals"),
        lake,
    )
    assert lake.read("totals", done.version).to_pylist() == [{"total": 60}]


def test_append_adds_rows_and_merge_upserts_on_its_keys(lake: Lake) -> None:
    engine = DuckDBEngine()
    first = Materialise("SELECT id, v FROM sales WHERE id <= 2", (TableAt("sales", 0),), "copy")
    assert engine.materialise(first, lake).version == 0
    appended = Materialise(
        "SELECT id, v FROM sales WHERE id = 3", (TableAt("sales", 0),), "copy", mode="append"
    )
    assert engine.materialise(appended, lake).version == 1
    assert [r["id"] for r in _rows(lake, "copy", 1)] == [1, 2, 3]
    merged = engine.materialise(
        Materialise(
            "SELECT id, v FROM sales WHERE id IN (1, 4)",
            (TableAt("sales", 1),),
            "copy",
            mode="merge",
            keys=("id",),
        ),
        lake,
    )
    assert merged.version == 2
    counts = dict(merged.merge_counts)
    assert counts["num_target_rows_updated"] == 1 and counts["num_target_rows_inserted"] == 1
    assert _rows(lake, "copy", 2) == [
        {"id": 1, "v": 11},
        {"id": 2, "v": 20},
        {"id": 3, "v": 30},
        {"id": 4, "v": 40},
    ]


def test_views_of_the_inputs_are_readable(lake: Lake) -> None:
    done = DuckDBEngine().materialise(
        Materialise(
            "SELECT count(*) AS n FROM big",
            (TableAt("sales", 1),),
            "counted",
            views=(("big", "SELECT * FROM sales WHERE v >= 30"),),
        ),
        lake,
    )
    assert lake.read("counted", done.version).to_pylist() == [{"n": 2}]


def test_a_query_that_fails_midway_commits_nothing(lake: Lake) -> None:
    lake.write("texts", pa.table({"s": ["1"] * 200_000 + ["x"]}))
    with pytest.raises(SqlError, match="Conversion Error"):
        DuckDBEngine().materialise(
            Materialise("SELECT CAST(s AS INT) AS n FROM texts", (TableAt("texts", 0),), "nums"),
            lake,
        )
    assert not lake.exists("nums")


def test_the_sandbox_applies_as_to_any_query(lake: Lake) -> None:
    with pytest.raises(SqlError):
        DuckDBEngine().materialise(
            Materialise("SELECT * FROM read_csv('/etc/passwd')", (), "leak"), lake
        )
    assert not lake.exists("leak")


def test_a_request_is_consistent_or_refused() -> None:
    with pytest.raises(ValueError, match="merge needs its key"):
        Materialise("SELECT 1", (), "t", mode="merge")
    with pytest.raises(ValueError, match="only a merge takes keys"):
        Materialise("SELECT 1", (), "t", keys=("id",))
    with pytest.raises(ValueError, match="same name"):
        Materialise("SELECT 1", (TableAt("a", 0, alias="x"), TableAt("b", 0, alias="x")), "t")
