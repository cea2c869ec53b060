"""Engines by the name weir.yaml gives them (`engine.kind`): one registration per engine.

A factory takes the engine's settings from the project file (`EngineOptions`, plain values:
the engines layer does not read the project model) and returns a ready engine. Adding an
engine is its module plus one `ENGINES.add` here; an unknown kind is a ConfigError with a
suggestion (`Registry.get`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from weir.core.plugins import Registry
from weir.engines.base import Engine
from weir.engines.duckdb import DuckDBEngine


@dataclass(frozen=True)
class EngineOptions:
    """The `engine:` settings of weir.yaml an engine may use, and where it may spill."""

    threads: int | None = None
    memory_limit: str | None = None
    query_timeout_seconds: float | None = None
    temp_directory: Path | None = None  # the workspace's tmp/: spilled rows stay inside it


EngineFactory = Callable[[EngineOptions], Engine]

ENGINES: Registry[EngineFactory] = Registry("engine")


def _duckdb(options: EngineOptions) -> DuckDBEngine:
    return DuckDBEngine(
        threads=options.threads,
        memory_limit=options.memory_limit,
        temp_directory=options.temp_directory,
        query_timeout_seconds=options.query_timeout_seconds,
    )


ENGINES.add("duckdb", _duckdb)
