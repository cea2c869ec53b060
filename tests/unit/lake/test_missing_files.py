"""A lake table whose files are gone or damaged is found at read, named with its version and
the fix; never a Parquet reader's traceback, never an append that carries the loss on."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from weir.core import LakeError, NotFoundError
from weir.lake import BrokenLogError, Lake, MissingDataError, UnreadableDataError


def two_versions(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path)
    lake.write("orders", pa.table({"id": list(range(100))}))
    lake.write("orders", pa.table({"id": [100, 101]}), mode="append")
    return lake


def data_files(lake: Lake, version: int) -> list[Path]:
    return [Path(p) for p in DeltaTable(str(lake.path("orders")), version=version).file_uris()]


def test_a_deleted_data_file_is_named_with_table_version_and_fix(tmp_path: Path) -> None:
    lake = two_versions(tmp_path)
    gone = data_files(lake, 1)[-1]
    gone.unlink()
    for read in (lake.read, lake.scan, lake.dataset):
        with pytest.raises(MissingDataError) as info:
            read("orders", 1)
        error = info.value
        assert error.table == "orders" and error.version == 1
        assert f"{gone.name} is missing" in error.message
        assert "table 'orders' version 1" in error.message
        assert error.fix is not None and "weir run --full-refresh" in error.fix
    assert not lake.has_version("orders", 1)
    assert lake.has_version("orders", 0) != (gone in data_files(lake, 0))


def test_a_truncated_data_file_is_found_by_its_size(tmp_path: Path) -> None:
    lake = two_versions(tmp_path)
    damaged = data_files(lake, 0)[0]
    size = damaged.stat().st_size
    damaged.write_bytes(damaged.read_bytes()[: size // 2])
    with pytest.raises(MissingDataError, match=f"has {size // 2:,} of {size:,} bytes"):
        lake.read("orders", 0)


def test_an_append_onto_a_damaged_table_is_refused_and_commits_nothing(tmp_path: Path) -> None:
    lake = two_versions(tmp_path)
    data_files(lake, 1)[0].unlink()
    with pytest.raises(MissingDataError):
        lake.write("orders", pa.table({"id": [102]}), mode="append")
    with pytest.raises(MissingDataError):
        lake.merge("orders", pa.table({"id": [102]}), ["id"])
    assert lake.latest_version("orders") == 1
    lake.write("orders", pa.table({"id": [7]}))  # a whole rewrite does not need the old files
    assert lake.read("orders", 2).column("id").to_pylist() == [7]


def test_an_older_version_whose_files_were_vacuumed_says_to_read_a_newer_one(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path)
    lake.write("orders", pa.table({"id": [1]}))
    lake.write("orders", pa.table({"id": [2]}))
    DeltaTable(str(lake.path("orders"))).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )
    assert lake.read("orders", 1).column("id").to_pylist() == [2]
    with pytest.raises(MissingDataError) as info:
        lake.read("orders", 0)
    latest = lake.latest_version("orders")  # a vacuum is a commit of its own
    assert info.value.fix is not None and f"the latest is {latest}" in info.value.fix


def test_a_missing_log_entry_names_the_commit_file(tmp_path: Path) -> None:
    lake = two_versions(tmp_path)
    lake.write("orders", pa.table({"id": [5]}), mode="append")
    (lake.path("orders") / "_delta_log" / f"{1:020d}.json").unlink()
    for version in (None, 2):
        with pytest.raises(BrokenLogError) as info:
            lake.latest_version("orders") if version is None else lake.read("orders", version)
        assert f"missing commit 1 (_delta_log/{1:020d}.json)" in info.value.message
    assert not lake.has_version("orders", 2)


def test_a_missing_table_folder_says_it_was_deleted_or_never_built(tmp_path: Path) -> None:
    lake = two_versions(tmp_path)
    import shutil

    shutil.rmtree(lake.path("orders"))
    with pytest.raises(NotFoundError, match="there is no Delta table at") as info:
        lake.read("orders", 1)
    assert info.value.fix is not None and "restore it from a backup" in info.value.fix


_FILE_SIZE_LIMIT = textwrap.dedent(
    """
    import resource, sys
    import pyarrow as pa
    from weir.core import LakeError
    from weir.lake import Lake
    lake = Lake(__import__("pathlib").Path(sys.argv[1]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    try:
        lake.write("big", pa.table({"x": [str(i) * 20 for i in range(50_000)]}))
    except LakeError as exc:
        print("WEIR", exc.message)
        print("FIX", exc.fix)
    """
)


def test_a_write_the_disk_refuses_names_the_os_cause(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the Parquet writer's writes fail with EFBIG, as a full disk makes
    them fail with ENOSPC: a real failure of the write, in a child process."""
    done = subprocess.run(
        [sys.executable, "-c", _FILE_SIZE_LIMIT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "WEIR could not write table 'big'" in done.stdout, done.stdout + done.stderr
    assert "File too large" in done.stdout and "ulimit -f" in done.stdout
    assert "Traceback" not in done.stdout
    assert not Lake(tmp_path).exists("big") or Lake(tmp_path).versions("big") == []
    assert issubclass(MissingDataError, LakeError)


def test_a_disk_error_inside_the_stream_is_named_as_such(tmp_path: Path) -> None:
    """A load writes beside its stream (staged rejects): a full disk there is a full disk,
    not 'the rows could not be read'."""
    import errno

    schema = pa.schema([("a", pa.int64())])
    staged = str(tmp_path / "staging" / "load.parquet")

    def batches():  # type: ignore[no-untyped-def]
        yield pa.record_batch([pa.array([1])], schema=schema)
        raise OSError(errno.ENOSPC, "No space left on device", staged)

    with pytest.raises(LakeError) as info:
        Lake(tmp_path).write("t", pa.RecordBatchReader.from_batches(schema, batches()))
    assert info.value.message == (
        f"the load of table 't' failed: No space left on device ({staged}); nothing was committed"
    )
    assert info.value.fix is not None and "free space" in info.value.fix


def scrambled(path: Path) -> None:
    """The file keeps its size (the log's check passes) but its pages are garbage."""
    content = bytearray(path.read_bytes())
    for offset in range(8, len(content) - 16):
        content[offset] ^= 0x5A
    path.write_bytes(bytes(content))


def test_a_data_file_changed_in_place_is_named_when_it_is_read(tmp_path: Path) -> None:
    lake = two_versions(tmp_path)
    damaged = data_files(lake, 1)[0]
    scrambled(damaged)
    reads = (
        lambda: lake.read("orders", 1),
        lambda: lake.head("orders", 1, 200),
        lambda: lake.check_content("orders", 1),  # what a step calls when its engine failed
    )
    for read in reads:
        with pytest.raises(UnreadableDataError) as info:
            read()
        error = info.value
        assert "table 'orders' version 1" in error.message and damaged.name in error.message
        assert error.fix is not None and "weir run --force" in error.fix


def test_reading_every_file_of_a_whole_version_finds_nothing(tmp_path: Path) -> None:
    lake = two_versions(tmp_path)
    lake.check_content("orders", 1)
    assert lake.head("orders", 1, 200).num_rows == 102


@pytest.mark.parametrize("damage", ["garbled", "cut short", "deleted"])
def test_a_damaged_checkpoint_is_named_and_its_fix_works(tmp_path: Path, damage: str) -> None:
    lake = two_versions(tmp_path)
    DeltaTable(str(lake.path("orders"))).create_checkpoint()
    checkpoint = lake.path("orders") / "_delta_log" / "00000000000000000001.checkpoint.parquet"
    if damage == "garbled":
        checkpoint.write_bytes(b"garbage" * 100)
    elif damage == "cut short":
        checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    else:
        checkpoint.unlink()
    with pytest.raises(BrokenLogError) as info:
        lake.read("orders", 1)
    error = info.value
    assert checkpoint.name in error.message and error.fix is not None
    assert "every commit" in error.fix  # the commits it summarises are all still there
    for name in (checkpoint.name, "_last_checkpoint"):  # the fix, as it says
        (checkpoint.parent / name).unlink(missing_ok=True)
    assert lake.read("orders", 1).num_rows == 102
