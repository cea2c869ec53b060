from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from weir.core import LakeError, NotFoundError
from weir.lake import Lake
from weir.lake.failures import InputStreamError


def test_each_write_is_a_version_and_every_version_stays_readable(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    assert lake.write("t", pa.table({"a": [1, 2]})) == 0
    assert lake.write("t", pa.table({"a": [3]}).to_reader()) == 1
    assert lake.write("t", pa.table({"a": [4]}), mode="append") == 2
    assert lake.read("t", 0).column("a").to_pylist() == [1, 2]
    assert lake.read("t", 1).column("a").to_pylist() == [3]
    assert sorted(lake.read("t", 2).column("a").to_pylist()) == [3, 4]
    assert lake.versions("t") == [0, 1, 2]
    assert lake.latest_version("t") == 2


def test_overwrite_may_change_the_schema(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("t", pa.table({"a": [1]}))
    lake.write("t", pa.table({"b": ["x"]}))
    assert lake.read("t", 1).schema.names == ["b"]
    assert lake.read("t", 0).schema.names == ["a"]


def test_commit_metadata_is_recorded(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("t", pa.table({"a": [1]}), metadata={"weir.run": "7"})
    [entry] = DeltaTable(str(tmp_path / "t")).history()
    assert entry["weir.run"] == "7"


def test_empty_table_is_a_valid_version(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("t", pa.table({"a": pa.array([], pa.int64())}))
    assert lake.read("t", 0).num_rows == 0


def test_missing_table_and_version_say_what_exists(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    with pytest.raises(NotFoundError, match="has no data"):
        lake.read("nope", 0)
    lake.write("t", pa.table({"a": [1]}))
    with pytest.raises(NotFoundError, match="no version 5 \\(versions run 0 to 0\\)"):
        lake.read("t", 5)
    assert lake.versions("nope") == [] and lake.latest_version("nope") is None


@pytest.mark.parametrize("name", ["../x", "a/b", "UPPER", "", "x y"])
def test_table_names_cannot_escape_the_lake(tmp_path: Path, name: str) -> None:
    with pytest.raises(LakeError, match="not a valid table name"):
        Lake(tmp_path).write(name, pa.table({"a": [1]}))


def test_a_failing_stream_commits_nothing(tmp_path: Path) -> None:
    schema = pa.schema([("a", pa.int64())])

    def batches():  # type: ignore[no-untyped-def]
        yield pa.record_batch([pa.array([1])], schema=schema)
        raise RuntimeError("source broke mid-way")

    lake = Lake(tmp_path)
    with pytest.raises(InputStreamError) as info:
        lake.write("t", pa.RecordBatchReader.from_batches(schema, batches()))
    assert not lake.exists("t")
    # the real cause, not a guess about the disk
    assert "RuntimeError: source broke mid-way" in info.value.message
    assert "disk" not in str(info.value) and "Traceback" not in str(info.value)


def test_scan_gives_files_for_plain_versions_and_a_dataset_otherwise(tmp_path: Path) -> None:
    from weir.core.tables import TableFiles

    lake = Lake(tmp_path)
    lake.write("t", pa.table({"a": [1, 2]}))
    lake.write("t", pa.table({"a": [3]}), mode="append")
    scan = lake.scan("t", 1)
    assert isinstance(scan, TableFiles) and len(scan.paths) == 2 and scan.schema.names == ["a"]
    assert isinstance(lake.scan("t", 0), TableFiles) and len(lake.scan("t", 0).paths) == 1  # type: ignore[union-attr]
    lake.write("e", pa.table({"a": pa.array([], pa.int64())}))
    assert not isinstance(lake.scan("e", 0), TableFiles)  # no files: the dataset carries the schema
