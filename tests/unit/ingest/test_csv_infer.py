"""The sniffed types of a CSV load without `columns`: one set for the whole load, the same
on the careful re-read as on the fast read."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from weir.engines import DuckDBEngine
from weir.ingest import RereadError
from weir.ingest.csv_files import CsvFile, plan_files
from weir.ingest.csv_infer import bind_inferred
from weir.project.sources import FileSource

ENGINE = DuckDBEngine(threads=2)
SOURCE = FileSource(format="csv", path="*.csv")


def planned(root: Path, *names: str) -> list[CsvFile]:
    with ThreadPoolExecutor(1) as counter:
        files = plan_files([root / n for n in names], "s", SOURCE, {}, counter)
        for file in files:
            file.count  # noqa: B018 - counted before the executor goes
        return files


def test_the_careful_read_sniffs_the_file_itself_not_its_staged_copy(tmp_path: Path) -> None:
    """A careful read stages the good records; were the copy sniffed, a type could differ
    from the fast read's (here: a copy that reads as text)."""
    (tmp_path / "a.csv").write_text("id,v\n1,2\n3,4\n")
    (tmp_path / "staged.csv").write_text("id,v\nx,y\n")
    files = planned(tmp_path, "a.csv")
    connection = ENGINE.connect()
    try:
        fast, _ = bind_inferred(connection, files, "s", SOURCE, None, careful=False)
        staged = {tmp_path / "a.csv": tmp_path / "staged.csv"}
        careful, _ = bind_inferred(connection, files, "s", SOURCE, staged, careful=True)
    finally:
        connection.close()
    assert fast.columns == careful.columns == {"id": "int64", "v": "int64"}


def test_a_file_duckdb_cannot_sniff_is_sniffed_from_its_staged_copy(tmp_path: Path) -> None:
    rows = [f"{i},{i}" for i in range(1, 2_001)]
    rows[2] = '3,"never closed'
    (tmp_path / "a.csv").write_text("id,v\n" + "\n".join(rows) + "\n")
    (tmp_path / "staged.csv").write_text("id,v\n1,1\n2,2\n")
    files = planned(tmp_path, "a.csv")
    connection = ENGINE.connect()
    try:
        with pytest.raises(RereadError, match="could not infer the columns' types"):
            bind_inferred(connection, files, "s", SOURCE, None, careful=False)
        staged = {tmp_path / "a.csv": tmp_path / "staged.csv"}
        types, _ = bind_inferred(connection, files, "s", SOURCE, staged, careful=True)
    finally:
        connection.close()
    assert types.columns == {"id": "int64", "v": "int64"}


def test_every_file_is_bound_to_the_first_files_types_by_name(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,v\n1,2\n")
    (tmp_path / "b.csv").write_text("v,id,w\nx,3,2025-01-01\n")
    files = planned(tmp_path, "a.csv", "b.csv")
    connection = ENGINE.connect()
    try:
        types, bound = bind_inferred(connection, files, "s", SOURCE, None, careful=False)
    finally:
        connection.close()
    assert types.columns == {"id": "int64", "v": "int64", "w": "date"}
    assert [f.order for f in bound] == [("id", "v"), ("v", "id", "w")]
