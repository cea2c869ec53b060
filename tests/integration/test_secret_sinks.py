"""Secrets with URL characters and of two characters, through every sink a run has:
the step error, the catalog's stored step errors, OpenLineage warnings and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pymysql
import pytest
from tests.integration.sources import table, write_project

from weir.app import open_workspace, run_project
from weir.project import load_project

NASTY = "p@ss/w#rd:%?&"
PIECES = ("p@ss", "ss/w", "w#rd", "rd:%", quote(NASTY, safe=""), "cEBzcy93I3Jk")


def run_and_record(root: Path) -> tuple[dict[str, str], list[str], list[str]]:
    """(step -> error as reported, the errors the catalog stored, the run's warnings)."""
    ws = open_workspace(load_project(root))
    try:
        result = run_project(ws)
        reported = {r.step.name: r.error or "" for r in result.reports}
        stored = [s.error or "" for s in ws.catalog.run(result.run_id).steps]
        return reported, stored, result.warnings
    finally:
        ws.close()


@pytest.fixture
def nasty_user(mariadb_url: str) -> Iterator[tuple[str, str]]:
    """(user, database) on MariaDB whose password is NASTY; the database holds table t."""
    database = mariadb_url.rsplit("/", 1)[1]
    user = f"w{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (NASTY,))
        cursor.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'%%'", ())
        cursor.execute(f"CREATE TABLE `{database}`.t (id INT PRIMARY KEY, name VARCHAR(10))")
        cursor.execute(f"INSERT INTO `{database}`.t VALUES (1, 'a'), (2, 'b')")
    try:
        yield user, database
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'%%'", ())
        admin.close()


def sql_source(user: str, database: str) -> dict[str, Any]:
    return {
        "kind": "sql",
        "url": f"mysql://{user}:${{DB_PASSWORD}}@127.0.0.1:3306/{database}",
        "table": "t",
        "retries": 0,
    }


def test_a_password_with_url_characters_reaches_the_database_whole(
    tmp_path: Path, nasty_user: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASSWORD", NASTY)
    root = write_project(tmp_path / "p", {"t": sql_source(*nasty_user)})
    reported, _, _ = run_and_record(root)
    assert reported["source:t"] == ""
    assert table(root, "t").num_rows == 2


def test_a_refused_password_shows_no_piece_of_itself_anywhere(
    tmp_path: Path, nasty_user: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASSWORD", NASTY + "-wrong")
    root = write_project(tmp_path / "p", {"t": sql_source(*nasty_user)})
    reported, stored, _ = run_and_record(root)
    assert "Access denied" in reported["source:t"]
    cli = subprocess.run(
        [sys.executable, "-m", "weir", "run", "-p", str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        timeout=300,
        check=False,
    )
    runs = subprocess.run(
        [sys.executable, "-m", "weir", "runs", "2", "-p", str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"},
        timeout=300,
        check=False,
    )
    assert cli.returncode == 1 and "Access denied" in cli.stdout + cli.stderr
    for text in (reported["source:t"], *stored, cli.stdout, cli.stderr, runs.stdout):
        for piece in PIECES:
            assert piece not in text, (piece, text)


PY_STEP = """
import os
import pyarrow as pa

def leak(a: pa.Table) -> pa.Table:
    secret = os.environ["DB_PASSWORD"]
    raise RuntimeError(f"could not log in as reader with {secret} (or {secret!r})")
"""


@pytest.mark.parametrize("password", [NASTY, "q7"])
def test_a_step_error_quoting_the_password_is_masked_before_it_is_stored(
    tmp_path: Path, nasty_user: tuple[str, str], monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    monkeypatch.setenv("DB_PASSWORD", password)
    # the SQL source makes the password a secret of the project (and fails with "q7");
    # the step reads a file source, so it runs either way
    root = write_project(
        tmp_path / "p",
        {"t": sql_source(*nasty_user), "a": {"path": "a.csv", "format": "csv"}},
        steps={"leaked": {"function": "steps/leak.py:leak", "inputs": ["a"]}},
    )
    (root / "a.csv").write_text("id\n1\n")
    (root / "steps").mkdir()
    (root / "steps" / "leak.py").write_text(PY_STEP)
    reported, stored, _ = run_and_record(root)
    assert "could not log in as reader with *** (or '***')" in reported["python:leaked"]
    assert any("could not log in as reader with ***" in e for e in stored)
    for text in (reported["python:leaked"], *stored):
        assert f" {password} " not in text and f"'{password}'" not in text


@pytest.fixture
def lineage_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(dict(self.headers.items()))
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


@pytest.mark.parametrize("password", [NASTY, "q7"])
def test_openlineage_credentials_never_show_in_delivery_warnings(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lineage_server: tuple[str, list[dict[str, str]]],
    password: str,
) -> None:
    monkeypatch.setenv("OL_PASSWORD", password)
    monkeypatch.setenv("OL_TOKEN", "tk")
    data = tmp_path / "p" / "data"
    data.mkdir(parents=True)
    (data / "a.csv").write_text("id\n1\n")
    source = {"path": "data/a.csv", "format": "csv"}
    # a server that is not there: every event is a warning
    root = write_project(
        tmp_path / "p",
        {"a": source},
        openlineage={"url": "http://reader:${OL_PASSWORD}@127.0.0.1:9/api?token=${OL_TOKEN}"},
    )
    _, _, warnings = run_and_record(root)
    assert warnings and all("reader:***@127.0.0.1:9/api?token=***" in w for w in warnings)
    for warning in warnings:
        assert "tk" not in warning.replace("token", "")
        for piece in (*PIECES, f":{password}@", quote(password, safe="")):
            assert piece not in warning, warning

    # a server that is there gets the user info as a Basic header, not in a DNS name
    address, seen = lineage_server
    config = json.loads(json.dumps({"url": f"http://reader:${{OL_PASSWORD}}@{address}/api"}))
    root = write_project(tmp_path / "q", {"a": source}, openlineage=config)
    (tmp_path / "q" / "data").mkdir()
    (tmp_path / "q" / "data" / "a.csv").write_text("id\n1\n")
    _, _, warnings = run_and_record(root)
    assert warnings == [] and len(seen) == 2
    assert all(h["Authorization"].startswith("Basic ") for h in seen)
