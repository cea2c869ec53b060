"""Which connection failures are retried: told by the driver's type and code."""

from __future__ import annotations

import psycopg
import pymysql
import pytest

from weir.core.errors import SourceRefusedError, SourceUnavailableError
from weir.ingest.sql_connect import check_connection, driver_failure
from weir.project.sources import SqlSource


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (pymysql.err.OperationalError(2003, "Can't connect to MySQL server (111)"), True),
        (pymysql.err.OperationalError(2013, "Lost connection to MySQL server"), True),
        (pymysql.err.OperationalError(1040, "Too many connections"), True),
        (pymysql.err.OperationalError(1045, "Access denied for user 'x' (timeout)"), False),
        (pymysql.err.OperationalError(1049, "Unknown database 'refused'"), False),
        (pymysql.err.ProgrammingError(1064, "You have an error"), False),
        (psycopg.OperationalError('connection to server at "h", port 9 failed: refused'), True),
        (psycopg.OperationalError("connection failed: timeout expired"), True),
        (psycopg.OperationalError("failed: FATAL:  password authentication failed"), False),
        (psycopg.OperationalError("failed: FATAL:  the database system is starting up"), True),
        (psycopg.OperationalError('could not translate host name "dbb" to address'), False),
        (psycopg.InterfaceError("the connection is closed"), False),
    ],
)
def test_a_failure_is_retried_by_what_the_driver_says_it_was(
    error: Exception, transient: bool
) -> None:
    """The text of a MySQL error does not decide (code 1045 saying 'timeout' is not
    retried): the code does."""
    assert driver_failure(error)[0] is transient


def test_an_error_that_is_not_a_drivers_is_not_worded_as_one() -> None:
    assert driver_failure(ValueError("bug")) == (None, "")


def test_a_missing_sqlite_file_is_refused_at_once() -> None:
    source = SqlSource(kind="sql", url="sqlite:///none.db", table="t", retries=3)
    with pytest.raises(SourceRefusedError, match=r"source 't': cannot connect to .*no database"):
        check_connection("sqlite", "sqlite:///nowhere/none.db", source, "t")


def test_a_refused_port_is_unavailable_after_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("weir.core.retry.time.sleep", waits.append)
    url = "postgresql://u:pw@127.0.0.1:9/db"
    source = SqlSource(kind="sql", url=url, table="t", retries=2, connect_timeout_seconds=1)
    with pytest.raises(SourceUnavailableError, match="after 3 attempts") as raised:
        check_connection("postgresql", url, source, "t")
    assert len(waits) == 2 and "pw" not in str(raised.value).replace("postgresql", "")
