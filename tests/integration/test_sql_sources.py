"""SQL sources against the real local PostgreSQL and MariaDB, and SQLite files."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from tests.integration.sources import run, table, versions, write_project

Execute = Callable[[str], None]


def executor(url: str) -> Execute:
    if url.startswith("postgresql"):

        def pg(sql: str) -> None:
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute(sql)  # type: ignore[arg-type]

        return pg
    if url.startswith("mysql"):
        database = url.rsplit("/", 1)[1]

        def my(sql: str) -> None:
            connection = pymysql.connect(
                host="127.0.0.1", user="root", password="", database=database, autocommit=True
            )
            with connection.cursor() as cursor:
                cursor.execute(sql)
            connection.close()

        return my
    path = url.removeprefix("sqlite:///")

    def lite(sql: str) -> None:
        with sqlite3.connect(path) as connection:
            connection.executescript(sql)

    return lite


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Execute]:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    elif request.param == "mariadb":
        url = request.getfixturevalue("mariadb_url")
    else:
        url = f"sqlite:///{tmp_path / 'shop.db'}"
    return url, executor(url)


def orders_table(execute: Execute, rows: range) -> None:
    execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer VARCHAR(20), amount FLOAT)")
    insert_orders(execute, rows)


def insert_orders(execute: Execute, rows: range) -> None:
    values = ", ".join(f"({i}, 'c{i % 7}', {i * 1.5})" for i in rows)
    execute(f"INSERT INTO orders VALUES {values}")


def test_full_then_incremental_by_cursor_streams_in_batches(
    database: tuple[str, Execute], tmp_path: Path
) -> None:
    url, execute = database
    orders_table(execute, range(1, 2501))
    source: dict[str, Any] = {"kind": "sql", "url": url, "table": "orders", "cursor": "id"}
    root = write_project(tmp_path / "p", {"orders": {**source, "batch_rows": 1000}})
    first = run(root)["source:orders"]
    assert first["status"] == "succeeded", first["error"]
    assert first["summary"]["rows"] == 2500
    assert sorted(table(root, "orders").column("id").to_pylist()) == list(range(1, 2501))

    insert_orders(execute, range(2501, 2611))
    second = run(root)["source:orders"]
    assert second["summary"]["new_rows"] == 110
    assert second["summary"]["incremental"] == "rows above the cursor"
    ids = table(root, "orders").column("id").to_pylist()
    assert sorted(ids) == list(range(1, 2611)) and len(ids) == len(set(ids))

    if url.startswith("sqlite"):  # an unchanged database file: the cache skips the step
        assert run(root)["source:orders"]["status"] == "skipped"
    committed = versions(root, "orders"), versions(root, "orders__quarantine")
    third = run(root, force=True)["source:orders"]  # read, and find nothing new
    assert third["status"] == "succeeded", third["error"]
    assert (versions(root, "orders"), versions(root, "orders__quarantine")) == committed
    assert third["summary"]["new_rows"] == 0
    assert third["summary"]["version"] == second["summary"]["version"]


def test_a_query_source_with_declared_types_quarantines_what_does_not_fit(
    database: tuple[str, Execute], tmp_path: Path
) -> None:
    url, execute = database
    execute("CREATE TABLE readings (id INTEGER, value VARCHAR(20))")
    execute("INSERT INTO readings VALUES (1, '10'), (2, 'n/a'), (3, '30')")
    source = {
        "kind": "sql",
        "url": url,
        "query": "SELECT id, value FROM readings WHERE id > 0",
        "columns": {"id": "int64", "value": "int64"},
    }
    root = write_project(tmp_path / "p", {"readings": source})
    report = run(root)["source:readings"]
    assert report["status"] == "succeeded", report["error"]
    assert report["summary"]["quarantined_rows"] == 1
    assert sorted(table(root, "readings").column("value").to_pylist()) == [10, 30]
    bad = table(root, "readings__quarantine").to_pylist()
    assert bad[0]["key"] == "row 2" and "'n/a' is not int64" in bad[0]["error"]
    assert '"n/a"' in bad[0]["raw"]


def test_times_without_a_zone_need_one_declared(postgres_url: str, tmp_path: Path) -> None:
    execute = executor(postgres_url)
    execute("CREATE TABLE events (id INT, at TIMESTAMP)")
    execute("INSERT INTO events VALUES (1, '2026-03-29 01:30:00'), (2, '9999-12-31 00:00:00')")
    root = write_project(
        tmp_path / "p", {"events": {"kind": "sql", "url": postgres_url, "table": "events"}}
    )
    report = run(root)["source:events"]
    assert report["status"] == "failed"
    assert "column at has no time zone (row 1)" in report["error"]
    assert "01:30" not in report["error"]  # the error is stored: it quotes no value
    assert "sources.events.timezone" in report["error"]

    write_project(
        tmp_path / "p",
        {
            "events": {
                "kind": "sql",
                "url": postgres_url,
                "table": "events",
                "timezone": "Europe/Paris",
            }
        },
    )
    assert run(root)["source:events"]["status"] == "succeeded"
    at = table(root, "events").column("at")
    assert str(at.type) == "timestamp[us, tz=UTC]"
    values = sorted(v.isoformat() for v in at.to_pylist())
    assert values[0] == "2026-03-29T00:30:00+00:00"  # CET, an hour before the switch
    assert values[1].startswith("9999-12-30T23:00:00")  # the sentinel is kept, not nulled


def test_a_wrong_password_fails_at_once_naming_the_source_not_the_secret(
    postgres_url: str, tmp_path: Path
) -> None:
    # roles belong to the whole server, not to the test's database: unique names, so that
    # parallel workers (or another checkout's run) neither collide nor find a leftover
    locked, nobody = (f"weir_{what}_{uuid.uuid4().hex[:8]}" for what in ("locked", "nobody"))
    executor(postgres_url)(f"CREATE ROLE {locked} LOGIN PASSWORD 'right-horse-battery'")
    try:
        url = postgres_url.replace("postgres@", f"{locked}:Sup3rSecretPw@")
        # trust auth lets any password in locally, so ask for a role that does not exist
        url = url.replace(f"{locked}:", f"{nobody}:")
        root = write_project(tmp_path / "p", {"t": {"kind": "sql", "url": url, "table": "x"}})
        started = time.monotonic()
        report = run(root)["source:t"]
        assert time.monotonic() - started < 10
        assert report["status"] == "failed"
        assert "cannot connect to postgresql://127.0.0.1:5432/" in report["error"]
        assert nobody in report["error"]
        assert "Sup3rSecretPw" not in report["error"]
        assert "sources.t.url" in report["error"]
    finally:
        executor(postgres_url)(f"DROP ROLE {locked}")


def test_mariadb_access_denied_is_terminal_and_redacted(mariadb_url: str, tmp_path: Path) -> None:
    url = mariadb_url.replace("root@", "root:Sup3rSecretPw@")
    root = write_project(tmp_path / "p", {"t": {"kind": "sql", "url": url, "table": "x"}})
    report = run(root)["source:t"]
    assert report["status"] == "failed"
    assert "Access denied" in report["error"] and "Sup3rSecretPw" not in report["error"]


def test_a_refused_connection_is_retried_then_reported(tmp_path: Path) -> None:
    url = "postgresql://postgres:Sup3rSecretPw@127.0.0.1:9/db"  # port 9: nothing listens
    root = write_project(
        tmp_path / "p", {"t": {"kind": "sql", "url": url, "table": "x", "retries": 2}}
    )
    report = run(root)["source:t"]
    assert report["status"] == "failed"
    assert "after 3 attempts" in report["error"] and "refused" in report["error"].lower()
    assert "Sup3rSecretPw" not in report["error"]


def test_a_missing_sqlite_file_is_named(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p", {"t": {"kind": "sql", "url": "sqlite:///data/none.db", "table": "x"}}
    )
    report = run(root)["source:t"]
    assert report["status"] == "failed" and "no database file at" in report["error"]


def test_column_names_are_normalised_and_collisions_refused(tmp_path: Path) -> None:
    path = tmp_path / "p" / "names.db"
    path.parent.mkdir(parents=True)
    executor(f"sqlite:///{path}")(
        'CREATE TABLE t ("Order ID" INT, "customerId" TEXT); INSERT INTO t VALUES (1, \'a\');'
    )
    source = {
        "kind": "sql",
        "url": "sqlite:///names.db",
        "table": "t",
        "normalise_names": "snake_case",
    }
    root = write_project(tmp_path / "p", {"t": source})
    assert run(root)["source:t"]["status"] == "succeeded"
    assert table(root, "t").column_names == ["order_id", "customer_id"]

    source = {
        "kind": "sql",
        "url": "sqlite:///names.db",
        "query": 'SELECT "Order ID", "Order ID" AS "order_id" FROM t',
        "normalise_names": "snake_case",
    }
    write_project(tmp_path / "p", {"t": source})
    report = run(root)["source:t"]
    assert report["status"] == "failed" and "have the same name under snake_case" in report["error"]


def test_a_full_load_whose_every_row_is_set_aside_does_not_empty_the_table(
    tmp_path: Path,
) -> None:
    """It committed an empty version over the good one; files refused such a load already."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    execute = executor(url)
    execute("CREATE TABLE readings (id INTEGER, value VARCHAR(20))")
    execute("INSERT INTO readings VALUES (1, '10'), (2, '20')")
    source = {"kind": "sql", "url": url, "table": "readings", "columns": {"value": "int64"}}
    root = write_project(tmp_path / "p", {"readings": source})
    assert run(root)["source:readings"]["status"] == "succeeded"
    execute("UPDATE readings SET value = 'n/a'")
    report = run(root)["source:readings"]
    assert report["status"] == "failed"
    assert "all 2 were set aside (the first: row 1, column value: a value" in report["error"]
    assert "n/a" not in report["error"]  # the error is stored: it quotes no value
    assert sorted(table(root, "readings").column("value").to_pylist()) == [10, 20]
    assert versions(root, "readings") == [0]
    assert not list((root / ".weir" / "staging" / "readings").iterdir())  # staged rows gone


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
def test_a_wide_numeric_cursor_is_read_and_compared_exactly(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str
) -> None:
    """connectorx failed on a numeric(30,0) cursor ('decimal scale is not equal to expected
    scale'); and MariaDB compares a DECIMAL with a text literal as doubles, so ids that differ
    past the 17th digit would be taken for the position already loaded."""
    url = request.getfixturevalue("postgres_url" if dialect == "postgresql" else "mariadb_url")
    execute = executor(url)
    base = 12345678901234567890123
    execute("CREATE TABLE ledger (id DECIMAL(30,0), v INT)")
    execute(f"INSERT INTO ledger VALUES ({base}, 1)")
    source = {"kind": "sql", "url": url, "table": "ledger", "cursor": "id"}
    root = write_project(tmp_path / "p", {"ledger": source})
    first = run(root)["source:ledger"]
    assert first["status"] == "succeeded", first["error"]
    execute(f"INSERT INTO ledger VALUES ({base + 1}, 2)")
    second = run(root)["source:ledger"]
    assert second["status"] == "succeeded", second["error"]
    assert second["summary"]["new_rows"] == 1
    assert sorted(table(root, "ledger").column("v").to_pylist()) == [1, 2]


def test_an_unchanged_full_load_commits_nothing_and_a_changed_row_commits(
    database: tuple[str, Execute], tmp_path: Path
) -> None:
    """Every run committed the same rows again as a new version (and its quarantine too)."""
    url, execute = database
    execute("CREATE TABLE readings (id INTEGER, value VARCHAR(20))")
    execute("INSERT INTO readings VALUES (1, '10'), (2, 'n/a'), (3, '30')")
    source = {"kind": "sql", "url": url, "table": "readings", "columns": {"value": "int64"}}
    root = write_project(tmp_path / "p", {"readings": source})
    first = run(root)["source:readings"]
    assert first["status"] == "succeeded", first["error"]
    before = versions(root, "readings"), versions(root, "readings__quarantine")

    again = run(root, force=True)["source:readings"]  # read again (SQLite's file is unchanged)
    assert again["status"] == "succeeded", again["error"]
    assert again["summary"]["unchanged"].startswith("unchanged: the same content as readings@")
    assert again["summary"]["version"] == first["summary"]["version"]
    assert (versions(root, "readings"), versions(root, "readings__quarantine")) == before
    assert not list((root / ".weir" / "staging" / "readings").iterdir())

    execute("UPDATE readings SET value = '31' WHERE id = 3")
    changed = run(root, force=True)["source:readings"]
    assert changed["status"] == "succeeded", changed["error"]
    assert "unchanged" not in changed["summary"]
    assert changed["summary"]["version"] == first["summary"]["version"] + 1
    assert sorted(table(root, "readings").column("value").to_pylist()) == [10, 31]
    assert len(table(root, "readings__quarantine")) == 1

    execute("UPDATE readings SET value = 'none' WHERE id = 2")  # only a reject changed
    rejected = run(root, force=True)["source:readings"]
    assert "unchanged" not in rejected["summary"]
    assert "none" in table(root, "readings__quarantine").column("raw")[0].as_py()


@pytest.mark.parametrize(
    ("dialect", "columns", "values"),
    [
        ("postgresql", "b BYTEA, a INT[]", "'\\x01', '{1,2}'"),
        ("mariadb", "b BLOB, a INT", "x'01', 1"),
    ],
)
def test_bytes_and_arrays_load_again_unchanged(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str, columns: str, values: str
) -> None:
    """The second load of a table with a bytea or an array column failed: 'column b: binary
    -> large_binary changed type' (the lake keeps binary, a read gives large_binary)."""
    url = request.getfixturevalue("postgres_url" if dialect == "postgresql" else "mariadb_url")
    execute = executor(url)
    execute(f"CREATE TABLE blobs (id INT, {columns})")
    execute(f"INSERT INTO blobs VALUES (1, {values}), (2, NULL, NULL)")
    root = write_project(tmp_path / "p", {"blobs": {"kind": "sql", "url": url, "table": "blobs"}})
    first = run(root)["source:blobs"]
    assert first["status"] == "succeeded", first["error"]
    again = run(root)["source:blobs"]
    assert again["status"] == "succeeded", again["error"]
    assert again["summary"]["unchanged"].startswith("unchanged")
    assert table(root, "blobs").sort_by("id").column("b").to_pylist() == [b"\x01", None]
