"""A catalog that exists but cannot be read is refused, named and left alone; never
recreated empty. A catalog that cannot be written says why (full, size limit), not a
driver traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from weir.catalog import Catalog, CatalogCorruptError


def filled(tmp_path: Path) -> Path:
    """A real catalog with some history, closed, its WAL folded into the file."""
    path = tmp_path / "catalog.db"
    catalog = Catalog.open(f"sqlite:///{path}")
    for number in range(40):
        run = catalog.start_run("p", "0", {}, {})
        catalog.record_version(
            f"t{number}",
            kind="source",
            version=0,
            row_count=number,
            fingerprint="f" * 64,
            schema=[{"name": "x" * 200, "type": "int64", "nullable": True}],
            run_id=run,
            step_run_id=None,
        )
        catalog.finish_run(run, "succeeded")
    catalog.close()
    import sqlite3

    with sqlite3.connect(path) as db:  # fold the WAL into the file, as after a clean exit
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert path.stat().st_size > 16_384
    return path


@pytest.mark.parametrize("keep", [100, 4_000, 8_192, 16_384])
def test_a_truncated_catalog_is_refused_and_kept(tmp_path: Path, keep: int) -> None:
    path = filled(tmp_path)
    os.truncate(path, keep)
    with pytest.raises(CatalogCorruptError) as info:
        Catalog.open(f"sqlite:///{path}")
    error = info.value
    assert str(path) in error.message and "truncated" in error.message
    assert error.fix is not None and "weir catalog rebuild" in error.fix
    assert path.stat().st_size == keep, "the damaged file must not be touched"


def test_a_catalog_overwritten_with_garbage_is_refused(tmp_path: Path) -> None:
    path = filled(tmp_path)
    path.write_bytes(b"this is not a database\n" * 500)
    with pytest.raises(CatalogCorruptError, match="not a SQLite database"):
        Catalog.open(f"sqlite:///{path}")
    assert path.read_bytes().startswith(b"this is not a database")


def test_damage_inside_the_file_is_a_weir_error_when_it_is_read(tmp_path: Path) -> None:
    """The header is whole but pages are not: found when SQLite reads them."""
    path = filled(tmp_path)
    size = path.stat().st_size
    with path.open("r+b") as handle:  # scribble over every page but the first
        handle.seek(4096)
        handle.write(b"\xff" * (size - 4096))
    with pytest.raises(CatalogCorruptError) as info:
        catalog = Catalog.open(f"sqlite:///{path}")
        try:
            catalog.runs()
            catalog.tables()
        finally:
            catalog.close()
    assert str(path) in info.value.message


_FULL_DISK = textwrap.dedent(
    """
    import resource, sys
    from weir.catalog import Catalog, CatalogWriteError
    catalog = Catalog.open(sys.argv[1])
    run = catalog.start_run("p", "0", {}, {})
    # from here on no file may grow past its current size: the next writes must fail
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        for number in range(10_000):
            catalog.record_version(
                f"t{number}", kind="source", version=0, row_count=1, fingerprint="f" * 64,
                schema=[{"name": "x" * 500, "type": "int64", "nullable": True}],
                run_id=run, step_run_id=None,
            )
    except CatalogWriteError as exc:
        print("WEIR", exc.message)
        print("FIX", exc.fix)
    """
)


def test_a_catalog_that_cannot_grow_says_so(tmp_path: Path) -> None:
    """A real file-size limit (RLIMIT_FSIZE: writes past it fail with EFBIG), the way a
    full disk fails SQLite's writes, in a child process so the limit stays there."""
    path = tmp_path / "catalog.db"
    Catalog.open(f"sqlite:///{path}").close()
    limit = 256 * 1024
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, f"sqlite:///{path}", str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"WEIR the catalog at {path} could not be written" in done.stdout, done.stdout
    assert "SQLITE_" in done.stdout and "ulimit -f" in done.stdout
    reopened = Catalog.open(f"sqlite:///{path}")  # what was committed before is intact
    try:
        assert [r.status for r in reopened.runs()] == ["running"]
    finally:
        reopened.close()


def test_postgres_errors_are_named_by_their_sqlstate() -> None:
    """PostgreSQL says 'disk full' by SQLSTATE class 53; the message names the database (its
    password masked by the caller) and the cause."""
    import psycopg.errors
    from sqlalchemy.exc import IntegrityError, OperationalError

    from weir.catalog import CatalogUnavailableError, CatalogWriteError
    from weir.catalog.failures import translate

    where = "postgresql+psycopg://weir:***@db:5432/weir"
    full = psycopg.errors.DiskFull("could not extend file: No space left on device")
    error = translate(OperationalError("INSERT ...", {}, full), where)
    assert isinstance(error, CatalogWriteError)
    assert error.message == (
        f"the catalog database {where} could not be written: could not extend file: "
        "No space left on device (SQLSTATE 53100)"
    )
    gone = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    assert isinstance(
        translate(OperationalError("SELECT 1", {}, gone), where), CatalogUnavailableError
    )
    duplicate = psycopg.errors.UniqueViolation("duplicate key value violates unique constraint")
    refused = translate(IntegrityError("INSERT ...", {}, duplicate), where)
    assert type(refused).__name__ == "CatalogError" and "duplicate key" in refused.message


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_catalog_path_that_is_not_a_file_is_refused_and_left(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "catalog.db"
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    with pytest.raises(CatalogCorruptError, match=f"it is a {kind}, not a SQLite database"):
        Catalog.open(f"sqlite:///{path}")
    assert path.is_dir() if kind == "directory" else path.is_fifo()
