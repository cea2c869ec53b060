"""SQL database sources: PostgreSQL, MariaDB/MySQL and SQLite, streamed as Arrow batches.

The rows come through connectorx, which decodes each database's binary protocol straight
into Arrow in Rust and streams it in batches (measured in bench/postgres_ingest.py against
ADBC and psycopg's COPY). Before it, the connection is tried with the database's own driver,
because that is what tells a refused connection (retried, with backoff) from a wrong
password (fails at once); connectorx would retry both for half a minute and say neither.

Incremental loads read rows whose cursor column is above the highest value loaded before.
That value is taken from the rows actually read and committed with them, so a load that
dies part-way changes nothing and the next one starts from the same place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from weir.core.errors import ConfigError, SourceRefusedError
from weir.engines.split import Diverted, is_helper
from weir.ingest.base import Progress, SourceRead, counted
from weir.ingest.conform import Typing
from weir.ingest.names import check_names
from weir.ingest.secrets import redact, url_secrets
from weir.ingest.sql_connect import check_connection, split_password
from weir.ingest.sql_types import ReadPlan, mysql_connect, mysql_plan, postgres_plan
from weir.ingest.sqlite_read import read_sqlite, top_value
from weir.ingest.state import Cursor, CursorState
from weir.ingest.typed_stream import typed_stream
from weir.project.sources import SqlSource


def database_url(source: SqlSource, root: Path) -> tuple[str, str]:
    """(dialect, URL for connectorx): driver suffixes dropped, SQLite paths made absolute."""
    parts = urlsplit(source.url)
    scheme = parts.scheme.split("+")[0]
    if scheme == "sqlite":
        raw = source.url.split(":///", 1)[1] if ":///" in source.url else ""
        path = Path(unquote(raw.split("?")[0]))
        path = path if path.is_absolute() else root / path
        return "sqlite", f"sqlite://{path.resolve()}"
    dialect = "postgresql" if scheme in ("postgresql", "postgres") else "mysql"
    rest = source.url.split("://", 1)[1]
    return dialect, f"{dialect}://{rest}"


def sqlite_file(source: object, root: Path) -> Path | None:
    """The database file of an SQLite source (None for any other source): a local file whose
    content the run's cache can fingerprint, so an unchanged database is not read again."""
    if not isinstance(source, SqlSource) or not source.url.startswith("sqlite"):
        return None
    return Path(database_url(source, root)[1].removeprefix("sqlite://"))


def _quote_name(dialect: str, name: str) -> str:
    mark = "`" if dialect == "mysql" else '"'
    return ".".join(mark + part.replace(mark, mark * 2) + mark for part in name.split("."))


def _literal(dialect: str, value: Any) -> str:
    """A cursor value as SQL text; values come from the database itself, not from users,
    but they are quoted as if they did."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | Decimal):
        return repr(value) if not isinstance(value, Decimal) else str(value)
    text = str(value)
    if dialect == "mysql":
        text = text.replace("\\", "\\\\")
    return "'" + text.replace("'", "''") + "'"


def select_sql(dialect: str, source: SqlSource, after: Any | None, upto: Any | None) -> str:
    """The rows of this load: with a cursor, those in (after, upto], in cursor order."""
    base = (
        f"SELECT * FROM {_quote_name(dialect, source.table)}"
        if source.table
        else f"SELECT * FROM ({source.query.strip().rstrip(';')}) AS weir_source"  # type: ignore[union-attr]
    )
    if source.cursor is None:
        return base
    cursor = _quote_name(dialect, source.cursor)
    bounds = ["1 = 0" if upto is None else f"{cursor} <= {_literal(dialect, upto)}"]
    if after is not None:
        bounds.insert(0, f"{cursor} > {_literal(dialect, after)}")
    return f"SELECT * FROM ({base}) AS weir_rows WHERE {' AND '.join(bounds)} ORDER BY {cursor}"


def _exact(value: Any, decimal: bool) -> Any:
    return Decimal(value) if decimal and value is not None else value


def cursor_bound(url: str, dialect: str, source: SqlSource, after: Any | None) -> Any:
    """The highest cursor value now, as the database's driver reads it: the load reads up to
    it, so the position committed with the rows is known before the first row is read."""
    assert source.cursor is not None
    base = select_sql(dialect, source.model_copy(update={"cursor": None}), None, None)
    cursor = _quote_name(dialect, source.cursor)
    where = "" if after is None else f" WHERE {cursor} > {_literal(dialect, after)}"
    # ORDER BY .. LIMIT 1 rather than max(): SQLite types a column by its declaration, but
    # an aggregate has none, and connectorx cannot type the NULL max of an empty window
    sql = f"SELECT {cursor} AS top FROM ({base}) AS weir_rows{where} ORDER BY {cursor} DESC LIMIT 1"
    if dialect == "sqlite":
        return top_value(Path(url.removeprefix("sqlite://")), sql)
    # the driver reads any type exactly; connectorx failed on a numeric(30,0) cursor
    return _driver_value(dialect, url, sql)


def _driver_value(dialect: str, url: str, sql: str) -> Any:
    """The first value of a one-column query, read by the database's own driver."""
    if dialect == "postgresql":
        import psycopg

        conninfo, password = split_password(url)
        with psycopg.connect(conninfo, password=password, autocommit=True) as connection:
            row = connection.execute(sql).fetchone()
        return None if row is None else row[0]
    connection = mysql_connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            found = cursor.fetchone()
    finally:
        connection.close()
    return None if found is None else found[0]


@contextmanager
def read_sql(
    root: Path,
    name: str,
    source: SqlSource,
    *,
    prior: CursorState | None = None,
    progress: Progress | None = None,
) -> Iterator[SourceRead]:
    """Stream a table or query; with a cursor, only rows above the last load's maximum."""
    import connectorx as cx

    dialect, url = database_url(source, root)
    check_connection(dialect, url, source, name)
    prior_cursor = prior.cursor if prior is not None and source.cursor else None
    after = prior_cursor.value if prior_cursor else None
    # a numeric cursor is kept as text (JSON has no exact decimal) and compared as a number:
    # MariaDB compares a DECIMAL with a string as doubles, which cannot tell 23-digit ids apart
    exact = bool(prior_cursor and prior_cursor.decimal)
    try:
        top = cursor_bound(url, dialect, source, _exact(after, exact)) if source.cursor else None
        upto = None if top is None else _json_value(top)
        exact = isinstance(top, Decimal) if top is not None else exact
        if source.cursor is not None and upto is None:
            upto = after  # nothing above the last load: read the empty window for its schema
        sql = select_sql(dialect, source, _exact(after, exact), _exact(upto, exact))
        stream, plan = _open(cx, dialect, url, sql, source)
    except BaseException as exc:  # connectorx raises RuntimeError, and panics as BaseException
        if not isinstance(exc, Exception) and not _is_panic(exc):
            raise
        raise SourceRefusedError(
            name,
            f"{'the query' if source.query else source.table} failed: "
            + redact(_first_line(exc), url_secrets(source.url)),
            fix=f"check sources.{name}.{'query' if source.query else 'table'} "
            "(run it in the database's own client)",
        ) from None
    columns = [n for n in stream.schema.names if not is_helper(n)]
    if source.cursor is not None and source.cursor not in columns:
        raise SourceRefusedError(
            name,
            f"the cursor column {source.cursor} is not in the result",
            fix=f"set sources.{name}.cursor to one of: {', '.join(columns)}",
        )
    state = prior if prior is not None else CursorState()
    wording = None
    if source.cursor is not None:
        state = state.model_copy(
            update={"cursor": Cursor(column=source.cursor, value=upto, decimal=exact)}
        )
        wording = "rows above the cursor" if after is not None else "full"
    read = SourceRead(
        name, stream, position=state, detail={"append": after is not None}, incremental=wording
    )
    read.nothing_new = source.cursor is not None and after is not None and upto == after
    if read.nothing_new:
        read.incremental = "nothing new"
    stored = check_names(columns, source.normalise_names, name, "the query's columns")
    cursor = stored[columns.index(source.cursor)] if source.cursor else ""

    def place(batch: pa.RecordBatch, index: int, row: int) -> str:
        if not cursor:
            return f"row {row + 1}"
        return f"{source.cursor}={batch.column(cursor)[index].as_py()}"

    diverted = Diverted("CAST")
    read.diverted.append(diverted)
    typed = typed_stream(
        _unpanicked(stream, read, source),
        stored,
        Typing(
            name,
            columns=dict(source.columns or {}),
            implied=plan.implied,
            rule=source.time_rule,
            notes=plan.notes,
        ),
        noun="rows",
        place=place,
        diverted=diverted,
        coerced=read.coerced,
    )
    read.batches = pa.RecordBatchReader.from_batches(typed.schema, counted(typed, read, progress))
    yield read


def _open(
    cx: Any, dialect: str, url: str, sql: str, source: SqlSource
) -> tuple[pa.RecordBatchReader, ReadPlan]:
    """The result as an Arrow stream, each column read in a form that arrives whole (see
    weir.ingest.sql_types and weir.ingest.sqlite_read), and the types of those read as text."""
    declared = dict(source.columns or {})
    if dialect == "sqlite":
        lite = read_sqlite(Path(url.removeprefix("sqlite://")), sql, source.batch_rows)
        stream = pa.RecordBatchReader.from_batches(lite.schema, lite.batches)
        return stream, ReadPlan(implied=lite.implied)
    plan = (postgres_plan if dialect == "postgresql" else mysql_plan)(url, sql, declared)
    stream = cx.read_sql(
        url, plan.sql(sql), return_type="arrow_stream", batch_size=source.batch_rows
    )
    return stream, plan


def _unpanicked(
    stream: pa.RecordBatchReader, read: SourceRead, source: SqlSource
) -> pa.RecordBatchReader:
    """The stream, with a panic of the Rust reader (a BaseException) turned into the Weir
    error it should have been: a value the plan did not foresee, named as far as known."""

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from stream
        except BaseException as exc:
            if not _is_panic(exc):
                raise
            read.failure = SourceRefusedError(
                read.source,
                f"a value could not be read: {redact(_first_line(exc), url_secrets(source.url))}; "
                "nothing was committed",
                fix=f"cast the column to text in sources.{read.source}.query "
                "(e.g. SELECT col::text AS col ...), or declare it as string",
            )
            raise read.failure from None

    return pa.RecordBatchReader.from_batches(stream.schema, batches())


def _is_panic(exc: BaseException) -> bool:
    return type(exc).__name__ == "PanicException"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _json_value(value: Any) -> Any:
    """A cursor value as it is stored in the commit: JSON text that reads back the same."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        raise ConfigError("a binary column cannot be a cursor", fix="choose an id or a timestamp")
    return value
