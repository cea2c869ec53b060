"""One small real source of every connector kind, holding the same rows, for the contract
suite: a folder of CSV files, SQLite and PostgreSQL tables, an HTTP API served by a local
server thread, an application's JSON-lines log. Each can add rows, and add a row whose score is not a number."""

from __future__ import annotations

import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from weir.ingest.append_log import AppendLogSource
from weir.ingest.connector import SourceConfig
from weir.project.sources import FileSource, HttpSource, SqlSource

Row = tuple[int, str, Any]  # id, name, score
COLUMNS = {"id": "int64", "name": "string", "score": "float64"}
FIRST: list[Row] = [(1, "a", 0.5), (2, "b", 1.5), (3, "c", 2.5)]


class Kit(Protocol):
    """A real source of one kind, and what a bad row's place looks like in quarantine."""

    kind: str
    bad_place: str  # a substring of the bad row's place (file/line/key)

    def source(self) -> SourceConfig: ...

    def add(self, rows: list[Row]) -> None: ...


class CsvKit:
    kind = "file"
    bad_place = "line 2"

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "data").mkdir(parents=True)
        self.files = 0
        self.add(FIRST)

    def source(self) -> SourceConfig:
        return FileSource(format="csv", path="data/*.csv", incremental=True, columns=COLUMNS)

    def add(self, rows: list[Row]) -> None:
        self.files += 1
        lines = ["id,name,score", *(f"{i},{n},{s}" for i, n, s in rows)]
        (self.root / "data" / f"part{self.files:03d}.csv").write_text("\n".join(lines) + "\n")


class SqliteKit:
    kind = "sql"
    bad_place = "id=9"

    def __init__(self, root: Path) -> None:
        self.root = root
        with sqlite3.connect(root / "db.sqlite") as db:
            db.execute("CREATE TABLE t (id INTEGER, name TEXT, score REAL)")
        self.add(FIRST)

    def source(self) -> SourceConfig:
        return SqlSource(
            kind="sql", url="sqlite:///db.sqlite", table="t", cursor="id", columns=COLUMNS
        )

    def add(self, rows: list[Row]) -> None:
        with sqlite3.connect(self.root / "db.sqlite") as db:
            db.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)


class PostgresKit:
    kind = "sql"
    bad_place = "id=9"

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("CREATE TABLE t (id integer, name text, score text)")
        self.add(FIRST)

    def source(self) -> SourceConfig:
        return SqlSource(kind="sql", url=self.url, table="t", cursor="id", columns=COLUMNS)

    def add(self, rows: list[Row]) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as db, db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO t VALUES (%s, %s, %s)", [(i, n, str(s)) for i, n, s in rows]
            )


class HttpKit:
    """An API that pages by number and honours `since` as '>=' (as many do): the boundary
    record comes again, and the connector must not load it twice."""

    kind = "http"
    bad_place = "id=9"

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.requests: list[str] = []
        kit = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                kit.requests.append(self.path)
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                since = int(query.get("since", 0))
                page = int(query["page"])
                chosen = [r for r in kit.records if r["id"] >= since]
                body = json.dumps({"items": chosen[(page - 1) * 2 : page * 2]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/items"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.add(FIRST)

    def source(self) -> SourceConfig:
        return HttpSource.model_validate(
            {
                "kind": "http",
                "url": self.url,
                "records": "items",
                "key": "id",
                "columns": COLUMNS,
                "pagination": {"kind": "page", "size": 2},
                "incremental": {"cursor": "id", "since_param": "since"},
                "backoff_seconds": 0.01,
            }
        )

    def add(self, rows: list[Row]) -> None:
        self.records += [{"id": i, "name": n, "score": s} for i, n, s in rows]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AppendLogKit:
    """An application's event log: one JSON object per line, only ever appended to."""

    kind = "append_log"
    bad_place = "app.log line 4"

    def __init__(self, root: Path) -> None:
        self.log = root / "logs" / "app.log"
        self.log.parent.mkdir(parents=True)
        self.log.touch()
        self.add(FIRST)

    def source(self) -> SourceConfig:
        return AppendLogSource(kind="append_log", path="logs/app.log", columns=COLUMNS)

    def add(self, rows: list[Row]) -> None:
        with self.log.open("a", encoding="utf-8") as out:
            for i, n, s in rows:
                out.write(json.dumps({"id": i, "name": n, "score": s}) + "\n")
