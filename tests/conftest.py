"""Shared fixtures. Services: skip with a reason locally, fail under CI=true (CI must prove they ran)."""

from __future__ import annotations

import compileall
import importlib.util
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    """Make the processes the tests start cheap and alike, in one process or in xdist's."""
    _restore_terminal_size(config)
    _one_thread_per_pool()
    _compile_weir()


def _compile_weir() -> None:
    """Compile Weir's bytecode before any test starts `python -m weir`.

    Hundreds of tests run the CLI (or a server) in a subprocess. Where PYTHONDONTWRITEBYTECODE
    is set (as on the shared development machine), no process writes `__pycache__`, so each
    of those subprocesses compiled Weir's ~180 modules from source again: about a second of
    every CLI call. Python still reads bytecode that exists, and compileall skips what is up
    to date and writes atomically (xdist workers may race here)."""
    spec = importlib.util.find_spec("weir")
    for location in (spec.submodule_search_locations or []) if spec else []:
        compileall.compile_dir(location, quiet=1)


def _one_thread_per_pool() -> None:
    """One thread per OpenMP/BLAS pool: xdist runs a test per core already, and with a pool
    per core in each process the pools' threads spin-wait for one another; scikit-learn's
    histogram gradient boosting spent twice the CPU time training the test projects so.
    Set before scikit-learn loads here, and inherited by every `python -m weir` started;
    a value already set is kept."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")


TERMINAL_SIZE = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, in the main process: hand each worker the terminal size variables as set here."""
    node.workerinput["weir_terminal_size"] = {name: os.environ.get(name) for name in TERMINAL_SIZE}


def _restore_terminal_size(config: pytest.Config) -> None:
    """xdist workers started with COLUMNS=80 and LINES=24: GNU readline, loaded in the main
    process, puts them in its C environment (not in os.environ), which the workers inherit.
    Rich then drew 80 columns in a worker, against 140 in one process, and wrapped a path as
    long as a worker's tmp path in `weir init`'s output. Put back what the main process's
    os.environ holds."""
    given = getattr(config, "workerinput", {}).get("weir_terminal_size", {})
    for name, value in given.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) when a local service is not listening."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        message = f"{name} is not reachable at {host}:{port} ({exc}); start it to run this test"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    admin = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    name = f"weir_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A fresh, empty MariaDB database for one test, dropped afterwards."""
    require_service("MariaDB", "127.0.0.1", 3306)
    import pymysql

    name = f"weir_test_{uuid.uuid4().hex[:12]}"
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    try:
        yield f"mysql://root@127.0.0.1:3306/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
