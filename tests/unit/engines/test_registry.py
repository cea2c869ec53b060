from __future__ import annotations

from pathlib import Path

import pytest

from weir.core.errors import ConfigError
from weir.engines import ENGINES, DuckDBEngine, EngineOptions


def test_duckdb_is_registered_and_built_with_the_project_settings(tmp_path: Path) -> None:
    assert ENGINES.names() == ["duckdb"]
    engine = ENGINES.get("duckdb")(
        EngineOptions(
            threads=2, memory_limit="1GB", query_timeout_seconds=5, temp_directory=tmp_path
        )
    )
    assert isinstance(engine, DuckDBEngine)
    assert (engine.threads, engine.memory_limit, engine.query_timeout_seconds) == (2, "1GB", 5)
    assert engine.temp_directory == tmp_path


def test_an_unknown_engine_is_a_config_error_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="unknown engine 'duckbd'") as info:
        ENGINES.get("duckbd")
    assert "duckdb" in str(info.value.fix)


def test_the_dialect_is_part_of_the_settings_that_key_the_cache() -> None:
    settings = DuckDBEngine(threads=1).settings()
    assert settings["dialect"] == "duckdb" == DuckDBEngine.dialect
    assert DuckDBEngine(threads=4).settings() == settings  # speed settings stay out
