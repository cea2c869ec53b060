"""The types a user's database holds, against the real local PostgreSQL and MariaDB and SQLite
files: each maps faithfully, is quarantined with its column named, or refuses the load
naming the column and the fix; never a Rust panic, never a step left "running". And the
time rule gives the same answer as for files, through every database and HTTP."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.integration.sources import run, table, write_project
from tests.integration.test_http_sources import Api, api, ok  # noqa: F401 (fixture)
from tests.integration.test_sql_sources import executor

UTC = dt.UTC
D = decimal.Decimal


def load(root: Path, url: str, name: str, **settings: Any) -> dict[str, Any]:
    write_project(root, {name: {"kind": "sql", "url": url, "table": name, **settings}})
    report = run(root)[f"source:{name}"]
    assert report["status"] in ("succeeded", "failed"), report  # never left running
    return report


def stored(root: Path, name: str) -> list[Any]:
    rows = sorted(table(root, name).to_pylist(), key=lambda r: r["id"])
    return [r["x"] for r in rows]


def quarantined(root: Path, name: str) -> list[str]:
    return [r["error"] for r in table(root, f"{name}__quarantine").to_pylist()]


# PostgreSQL -----------------------------------------------------------------------------------


PG_CASES: list[tuple[str, str, list[Any], list[str]]] = [
    # (column type, values, what is stored for id 1.., reasons quarantined)
    (
        "numeric(40,0)",
        "(1, 12345), (2, 1234567890123456789012345678901234567890)",
        [D(12345)],
        [
            "is not decimal(38,0) (the column is numeric(40,0), read as decimal(38,0); declare it as string"
        ],
    ),
    (
        "numeric(38,0)",
        "(1, 12345678901234567890123456789012345678)",
        [D("12345678901234567890123456789012345678")],
        [],
    ),
    ("numeric(20,12)", "(1, 1.123456789012)", [D("1.123456789012")], []),
    (
        "numeric",
        "(1, 1.5), (2, 1.12345678901234), (3, 'NaN')",
        [D("1.5")],
        ["'1.12345678901234' is not decimal(38,10)", "'NaN' is not decimal(38,10)"],
    ),
    ("numeric(60,50)", "(1, 1.5)", [D("1.5")], []),
    ("numeric(5,-2)", "(1, 1234567)", [D("1234600")], []),  # a KeyError ended the load
    ("numeric(3,5)", "(1, 0.00123)", [D("0.00123")], []),
    ("money", "(1, 12.34)", [D("12.34")], []),
    ("interval", "(1, '1 day 2 hours')", ["1 day 02:00:00"], []),
    (
        "uuid",
        "(1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
        ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
        [],
    ),
    ("jsonb", """(1, '{"a": 1}')""", ['{"a":1}'], []),
    ("int[]", "(1, '{1,2}')", [[1, 2]], []),
    (  # connectorx panicked on the second dimension and the load failed
        "int[]",
        "(1, '{1,2}'), (2, '{{1,2},{3,4}}'), (3, NULL)",
        [[1, 2], None],
        ["'{{1,2},{3,4}}' is an array of more than one dimension"],
    ),
    ("numeric(5,2)[]", "(1, '{1.5,2.25}')", ["{1.50,2.25}"], []),
    ("bytea", "(1, '\\xdeadbeef')", [b"\xde\xad\xbe\xef"], []),
    ("timetz", "(1, '10:00:00+02')", ["10:00:00+02"], []),
    ("time", "(1, '10:00:00')", ["10:00:00"], []),
    ('"char"', "(1, 'a')", ["a"], []),
    ("bit(3)", "(1, B'101')", ["101"], []),
    ("xml", "(1, '<a/>')", ["<a/>"], []),
    ("point", "(1, '(1,2)')", ["(1,2)"], []),
    (
        "date",
        "(1, '0001-01-01'), (2, '9999-12-31'), (3, 'infinity'), (4, '0044-03-15 BC')",
        [dt.date(1, 1, 1), dt.date(9999, 12, 31)],
        ["'infinity' is PostgreSQL's infinity", "'-0043-03-15' is outside years 1-9999"],
    ),
    (
        "timestamptz",
        "(1, '2025-01-01 10:00+02'), (2, '-infinity')",
        [dt.datetime(2025, 1, 1, 8, tzinfo=UTC)],
        ["'-infinity' is PostgreSQL's infinity"],
    ),
]


@pytest.mark.parametrize(
    ("kind", "values", "kept", "reasons"), PG_CASES, ids=[c[0] for c in PG_CASES]
)
def test_postgresql_types(
    postgres_url: str, tmp_path: Path, kind: str, values: str, kept: list[Any], reasons: list[str]
) -> None:
    execute = executor(postgres_url)
    execute(f"CREATE TABLE t (id INT, x {kind})")
    execute(f"INSERT INTO t VALUES {values}")
    report = load(tmp_path / "p", postgres_url, "t", timezone="UTC")
    assert report["status"] == "succeeded", report["error"]
    assert stored(tmp_path / "p", "t") == kept
    errors = sorted(quarantined(tmp_path / "p", "t"))
    assert len(errors) == len(reasons) and all(
        r in e for r, e in zip(sorted(reasons), errors, strict=True)
    ), errors
    assert all(e.startswith("column x: ") for e in errors)


def test_a_wide_numeric_declared_as_string_keeps_every_digit(
    postgres_url: str, tmp_path: Path
) -> None:
    execute = executor(postgres_url)
    execute("CREATE TABLE t (id INT, x numeric(40,0))")
    execute("INSERT INTO t VALUES (1, 1234567890123456789012345678901234567890)")
    report = load(tmp_path / "p", postgres_url, "t", columns={"id": "int64", "x": "string"})
    assert report["status"] == "succeeded", report["error"]
    assert stored(tmp_path / "p", "t") == ["1234567890123456789012345678901234567890"]


# MariaDB --------------------------------------------------------------------------------------


MY_CASES: list[tuple[str, str, list[Any], list[str]]] = [
    (
        "DATE",
        "(1, '2025-01-15'), (2, '0000-00-00'), (3, '2025-00-10'), (4, '9999-12-31')",
        [dt.date(2025, 1, 15), dt.date(9999, 12, 31)],
        ["'0000-00-00' is not a calendar date", "'2025-00-10' is not a calendar date"],
    ),
    (
        "DATETIME",
        "(1, '2025-01-15 10:00:00'), (2, '0000-00-00 00:00:00')",
        [dt.datetime(2025, 1, 15, 10, tzinfo=UTC)],
        ["'0000-00-00 00:00:00' is not a calendar date"],
    ),
    (
        "DECIMAL(65,30)",
        "(1, 1.5), (2, 123456789012345678901234567890123456.5)",
        [D("1.5")],
        ["is not decimal(38,3) (the column is decimal(65,30)"],
    ),
    ("DECIMAL(20,15)", "(1, 1.123456789012345)", [D("1.123456789012345")], []),
    ("BIT(3)", "(1, b'101')", [5], []),
    (
        "BIGINT UNSIGNED",
        "(1, 5), (2, 18446744073709551615)",
        [5],
        ["'18446744073709551615' is above int64"],
    ),
    ("YEAR", "(1, 2025)", [2025], []),
    ("TIME", "(1, '-838:59:59'), (2, '10:00:00')", ["-838:59:59", "10:00:00"], []),
    ("POINT", "(1, POINT(1, 2))", ["POINT(1 2)"], []),
    ("JSON", """(1, '{"a": 1}')""", ['{"a": 1}'], []),
]


@pytest.mark.parametrize(
    ("kind", "values", "kept", "reasons"), MY_CASES, ids=[c[0] for c in MY_CASES]
)
def test_mariadb_types(
    mariadb_url: str, tmp_path: Path, kind: str, values: str, kept: list[Any], reasons: list[str]
) -> None:
    # zero dates need a lax sql_mode, as older applications had; one session for both
    import pymysql

    connection = pymysql.connect(
        host="127.0.0.1", user="root", password="", database=mariadb_url.rsplit("/", 1)[1]
    )
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = ''")
        cursor.execute(f"CREATE TABLE t (id INT, x {kind})")
        cursor.execute(f"INSERT INTO t VALUES {values}")
    connection.commit()
    connection.close()
    report = load(tmp_path / "p", mariadb_url, "t", timezone="UTC")
    assert report["status"] == "succeeded", report["error"]
    assert stored(tmp_path / "p", "t") == kept
    errors = sorted(quarantined(tmp_path / "p", "t"))
    assert len(errors) == len(reasons) and all(
        r in e for r, e in zip(sorted(reasons), errors, strict=True)
    ), errors


# SQLite: a value of another kind than its column's declared type --------------------------------


def test_sqlite_dynamic_typing_quarantines_the_value_naming_the_column(tmp_path: Path) -> None:
    database = tmp_path / "d.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (id INTEGER, x INTEGER, r REAL, note)")
        connection.executemany(
            "INSERT INTO t VALUES (?, ?, ?, ?)",
            [
                (1, 10, 0.1 + 0.2, "a"),
                (2, "abc", 1.5, 2),
                (3, 1.5, "x", None),
                (4, None, None, 2.5),
            ],
        )
    report = load(tmp_path / "p", f"sqlite:///{database}", "t")
    assert report["status"] == "succeeded", report["error"]
    rows = sorted(table(tmp_path / "p", "t").to_pylist(), key=lambda r: r["id"])
    assert rows == [
        {"id": 1, "x": 10, "r": 0.30000000000000004, "note": "a"},
        {"id": 4, "x": None, "r": None, "note": "2.5"},
    ]
    errors = sorted(quarantined(tmp_path / "p", "t"))
    assert errors == [
        "column x: '1.5' is not an integer (SQLite stored a real in this INTEGER column); column r: 'x' is not a number (SQLite stored text in this REAL column)",
        "column x: 'abc' is not an integer (SQLite stored text in this INTEGER column)",
    ]


def test_sqlite_queries_with_expressions_keep_their_types(tmp_path: Path) -> None:
    database = tmp_path / "d.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (id INTEGER, c TEXT)")
        connection.executemany("INSERT INTO t VALUES (?, ?)", [(1, "a"), (2, "a"), (3, "b")])
    root = tmp_path / "p"
    query = "SELECT c, count(*) AS n, avg(id) AS mean FROM t GROUP BY c"
    write_project(root, {"g": {"kind": "sql", "url": f"sqlite:///{database}", "query": query}})
    assert run(root)["source:g"]["status"] == "succeeded"
    data = table(root, "g")
    assert str(data.schema.field("n").type) == "int64"
    assert sorted(data.to_pylist(), key=lambda r: r["c"]) == [
        {"c": "a", "n": 2, "mean": 1.5},
        {"c": "b", "n": 1, "mean": 3.0},
    ]


# the time rule through every database and HTTP ----------------------------------------------------


BERLIN = {"timezone": "Europe/Berlin", "ambiguous_times": "latest"}
WALL = ["2025-10-26 02:30:00", "2025-03-30 02:30:00", "2025-06-01 12:00:00"]
EXPECTED = {
    1: dt.datetime(2025, 10, 26, 1, 30, tzinfo=UTC),
    3: dt.datetime(2025, 6, 1, 10, tzinfo=UTC),
}


@pytest.mark.parametrize("database", ["postgresql", "mariadb", "sqlite"])
def test_databases_follow_the_one_time_rule(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'd.db'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url" if database == "postgresql" else "mariadb_url")
    )
    execute = executor(url)
    column = {"postgresql": "TIMESTAMP", "mariadb": "DATETIME", "sqlite": "DATETIME"}[database]
    execute(f"CREATE TABLE t (id INTEGER, x {column})")
    for index, wall in enumerate(WALL, start=1):
        execute(f"INSERT INTO t VALUES ({index}, '{wall}')")
    report = load(tmp_path / "p", url, "t", **BERLIN)
    assert report["status"] == "succeeded", report["error"]
    rows = {r["id"]: r["x"] for r in table(tmp_path / "p", "t").to_pylist()}
    assert rows == EXPECTED
    assert quarantined(tmp_path / "p", "t") == [
        "column x: '2025-03-30 02:30:00' does not exist in Europe/Berlin (clocks go forward)"
    ]
    assert report["summary"]["coerced"] == "coerced x: ambiguous local time read as latest (1)"
    # and the same file, as CSV, gives the same answer
    csv_root = tmp_path / "csv"
    csv_root.mkdir()
    (csv_root / "t.csv").write_text("id,x\n" + "".join(f"{i},{w}\n" for i, w in enumerate(WALL, 1)))
    write_project(csv_root, {"t": {"format": "csv", "path": "t.csv", **BERLIN}})
    csv_report = run(csv_root)["source:t"]
    assert {r["id"]: r["x"] for r in table(csv_root, "t").to_pylist()} == EXPECTED
    assert csv_report["summary"]["coerced"] == report["summary"]["coerced"]


def test_http_follows_the_one_time_rule(api: Api, tmp_path: Path) -> None:  # noqa: F811
    api.handle = lambda *_: ok([{"id": i, "x": w} for i, w in enumerate(WALL, start=1)])
    settings = {
        "kind": "http",
        "url": api.url + "/items",
        "columns": {"id": "int64", "x": "timestamp"},
        **BERLIN,
    }
    root = write_project(tmp_path / "p", {"items": settings})
    report = run(root)["source:items"]
    assert report["status"] == "succeeded", report["error"]
    assert {r["id"]: r["x"] for r in table(root, "items").to_pylist()} == EXPECTED
    bad = table(root, "items__quarantine").to_pylist()
    assert [(b["key"], b["error"]) for b in bad] == [
        (
            "page 1 record 2",
            "column x: '2025-03-30 02:30:00' does not exist in Europe/Berlin (clocks go forward)",
        )
    ]
    assert json.loads(bad[0]["raw"]) == {"id": 2, "x": "2025-03-30 02:30:00"}
    assert report["summary"]["coerced"] == "coerced x: ambiguous local time read as latest (1)"


class PanicException(BaseException):
    """What connectorx raises when its Rust code panics: not an Exception."""


def test_a_panic_mid_stream_fails_the_step_with_a_weir_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa

    from weir.ingest import sql
    from weir.ingest.sql_types import ReadPlan

    database = tmp_path / "d.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (id INTEGER, x INTEGER)")
        connection.execute("INSERT INTO t VALUES (1, 1)")
    schema = pa.schema([("id", pa.int64()), ("x", pa.int64())])

    def batches() -> Any:
        yield pa.record_batch([[1], [1]], schema=schema)
        raise PanicException("cx writer failed: Source(Unexpected)")

    def broken(*_: Any) -> tuple[pa.RecordBatchReader, ReadPlan]:
        return pa.RecordBatchReader.from_batches(schema, batches()), ReadPlan()

    monkeypatch.setattr(sql, "_open", broken)
    report = load(tmp_path / "p", f"sqlite:///{database}", "t")
    assert report["status"] == "failed"
    assert "a value could not be read: cx writer failed" in report["error"]
    assert "Traceback" not in report["error"]


def test_a_mariadb_timestamp_is_an_instant_whatever_the_source_zone(
    mariadb_url: str, tmp_path: Path
) -> None:
    """A TIMESTAMP is stored in UTC and shown in the session's zone; it was read as a
    wall-clock time in the source's `timezone` (meant for DATETIME), an hour or two off."""
    import pymysql

    connection = pymysql.connect(
        host="127.0.0.1", user="root", password="", database=mariadb_url.rsplit("/", 1)[1]
    )
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = '', time_zone = '+00:00'")
        cursor.execute("CREATE TABLE t (id INT, x TIMESTAMP(6) NULL, wall DATETIME)")
        cursor.execute(
            "INSERT INTO t VALUES (1, '2025-01-01 10:00:00.123456', '2025-01-01 10:00:00'), "
            "(2, '0000-00-00 00:00:00', '2025-01-01 10:00:00'), (3, NULL, NULL)"
        )
    connection.commit()
    connection.close()
    report = load(tmp_path / "p", mariadb_url, "t", timezone="Europe/Berlin")
    assert report["status"] == "succeeded", report["error"]
    rows = sorted(table(tmp_path / "p", "t").to_pylist(), key=lambda r: r["id"])
    assert rows[0]["x"] == dt.datetime(2025, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert rows[0]["wall"] == dt.datetime(2025, 1, 1, 9, tzinfo=UTC)
    assert rows[1]["x"] is None and rows[1]["id"] == 3
    assert "is not a calendar date" in quarantined(tmp_path / "p", "t")[0]
