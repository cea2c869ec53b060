"""Connecting to a source database once, with its own driver, before connectorx reads.

The driver says what kind of failure it was, and that decides whether to retry: a refused
connection, a timeout, a server starting up or out of connections may pass on the next
try (SourceUnavailableError, retried by `weir.core.retry`); a wrong password, an unknown
database or a missing SQLite file never will (SourceRefusedError, at once).

The failure is told by the driver's exception type and code wherever the driver gives
one: MySQL/MariaDB's client and server error numbers (pymysql's OperationalError args),
PostgreSQL's SQLSTATE class. libpq gives no SQLSTATE for a connection that failed (psycopg's
`sqlstate` is None, and its text carries the server's FATAL line), so there the one signal
is whether the server answered: a server that answered refused us for a reason retrying
cannot cure, unless it said it is starting up, shutting down or full.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from weir.core.errors import SourceError, SourceRefusedError, SourceUnavailableError
from weir.core.retry import RetryPolicy, retry
from weir.ingest.secrets import Secrets, safe_url, url_secrets
from weir.ingest.sql_types import mysql_connect
from weir.project.sources import SqlSource

# MySQL client errors: cannot connect (socket, TCP), server gone or lost mid-way; server
# errors: too many connections, shutting down. Anything else (1045 access denied, 1049
# unknown database, 2005 unknown host) is the URL's fault.
MYSQL_TRANSIENT = frozenset({2002, 2003, 2006, 2013, 1040, 1053})
# PostgreSQL SQLSTATE classes: 08 connection exception, 53 insufficient resources,
# 57P operator intervention (admin shutdown, crash shutdown, cannot connect now)
POSTGRES_TRANSIENT = ("08", "53", "57P")
# the server's own FATAL lines that retrying may cure (libpq has no code for them)
_POSTGRES_SERVER_BUSY = ("starting up", "shutting down", "too many clients", "in recovery")
MAX_DELAY_SECONDS = 8.0


def split_password(url: str) -> tuple[str, str | None]:
    """(the URL without its password, the password decoded): a driver that takes the
    password as its own argument never has it in a connection string it may quote back."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{hostport}")), unquote(parts.password)


def check_connection(dialect: str, url: str, source: SqlSource, name: str) -> None:
    """Connect once with the database's driver: retry what may pass, fail fast on the rest."""
    secrets = url_secrets(source.url)
    where = safe_url(source.url) if dialect != "sqlite" else url.removeprefix("sqlite://")

    def exhausted(error: BaseException, attempts: int) -> SourceError:
        reason = error.reason if isinstance(error, _UnreachableError) else str(error)
        return SourceUnavailableError(
            name,
            f"cannot connect to {where} after {attempts} attempts: {reason}",
            fix="check that the database is running and reachable",
        )

    policy = RetryPolicy(
        attempts=source.retries + 1, backoff_seconds=0.5, max_delay_seconds=MAX_DELAY_SECONDS
    )
    retry(lambda: _connect(dialect, url, source, name, where, secrets), policy, exhausted=exhausted)


class _UnreachableError(SourceUnavailableError):
    """The database did not answer; `reason` is the driver's word for it, redacted."""

    def __init__(self, name: str, where: str, reason: str) -> None:
        super().__init__(name, f"cannot connect to {where}: {reason}")
        self.reason = reason


def _connect(
    dialect: str, url: str, source: SqlSource, name: str, where: str, secrets: Secrets
) -> None:
    if dialect == "sqlite":
        _check_sqlite(Path(url.removeprefix("sqlite://")), name)
        return
    try:
        if dialect == "postgresql":
            _connect_postgres(url, source.connect_timeout_seconds)
        else:
            mysql_connect(url, connect_timeout=source.connect_timeout_seconds).close()
    except Exception as exc:
        transient, text = driver_failure(exc)
        if transient is None:
            raise
        reason = secrets.redact(text)
        if transient:
            raise _UnreachableError(name, where, reason) from None
        raise SourceRefusedError(
            name,
            f"cannot connect to {where}: {reason}",
            fix=f"check the user, password and database in sources.{name}.url "
            "(keep the password in ${ENV})",
        ) from None


def _connect_postgres(url: str, timeout: float) -> None:
    import psycopg

    conninfo, password = split_password(url)
    psycopg.connect(conninfo, password=password, connect_timeout=max(1, int(timeout))).close()


def driver_failure(exc: BaseException) -> tuple[bool | None, str]:
    """(whether a retry may cure it, its text on one line) for a driver's connection error;
    (None, '') for an exception that is not a database driver's (a bug: not ours to word)."""
    import psycopg
    import pymysql

    if isinstance(exc, pymysql.Error):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = str(exc.args[-1]) if exc.args else str(exc)
        return isinstance(exc, pymysql.OperationalError) and code in MYSQL_TRANSIENT, text
    if isinstance(exc, psycopg.Error):
        text = " ".join(line.strip() for line in str(exc).splitlines())
        if not isinstance(exc, psycopg.OperationalError):
            return False, text
        if exc.sqlstate:
            return exc.sqlstate.startswith(POSTGRES_TRANSIENT), text
        answered = "FATAL:" in text
        if not answered:
            return "could not translate host name" not in text, text  # a typo'd host
        return any(busy in text for busy in _POSTGRES_SERVER_BUSY), text
    return None, ""


def _check_sqlite(path: Path, name: str) -> None:
    """A local file: it is there and is a database, or it never will be by waiting."""
    problem = None
    if not path.is_file():
        problem = f"no database file at {path}"
    else:
        with path.open("rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00" and path.stat().st_size > 0:
                problem = f"{path} is not an SQLite database"
    if problem is not None:
        raise SourceRefusedError(
            name,
            f"cannot connect to {path}: {problem}",
            fix=f"check the path in sources.{name}.url (sqlite:///path, relative to the "
            "project directory)",
        )
