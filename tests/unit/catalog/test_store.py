"""The catalog's behaviour, on SQLite always and on the local PostgreSQL as an integration test."""

from __future__ import annotations

from typing import Any

import pytest

from weir.catalog import Catalog, CheckRecord, masked, normalise_url
from weir.core import CatalogError, NotFoundError


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def catalog(request: pytest.FixtureRequest) -> Any:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    opened = Catalog.open(url)
    yield opened
    opened.close()


def version(
    catalog: Catalog, table: str, v: int, run_id: int, parents: list[int] = (), **extra: Any
) -> Any:  # type: ignore[assignment]
    return catalog.record_version(
        table,
        kind="model",
        version=v,
        row_count=10 * (v + 1),
        fingerprint=f"fp{v}",
        schema=[{"name": "a", "type": "int64", "nullable": True}],
        run_id=run_id,
        step_run_id=None,
        parents=parents,
        **extra,
    )


def test_runs_and_step_runs(catalog: Catalog) -> None:
    run_id = catalog.start_run("p", "0.1.0", {"repository": False}, {"engine": "duckdb"})
    step = catalog.start_step(run_id, "sql:a", "sql")
    catalog.finish_step(
        step,
        status="succeeded",
        reason="first run",
        cache_key="k1",
        key_parts={"parts": {"code": "c"}},
        summary={"rows": 3},
    )
    failed = catalog.start_step(run_id, "sql:b", "sql")
    catalog.finish_step(
        failed, status="failed", reason="first run", cache_key="k2", key_parts={}, error="boom"
    )
    catalog.finish_run(run_id, "failed")
    record = catalog.run(run_id)
    assert record.status == "failed" and record.finished_at is not None
    assert [(s.step, s.status) for s in record.steps] == [
        ("sql:a", "succeeded"),
        ("sql:b", "failed"),
    ]
    assert record.steps[1].error == "boom" and record.steps[0].summary == {"rows": 3}
    assert record.started_at.tzinfo is not None
    success = catalog.last_success("sql:a")
    assert (
        success is not None
        and success.cache_key == "k1"
        and success.key_parts == {"parts": {"code": "c"}}
    )
    assert catalog.last_success("sql:b") is None
    assert catalog.run().id == run_id
    assert [r.id for r in catalog.runs()] == [run_id]


def test_versions_lineage_and_current(catalog: Catalog) -> None:
    run_id = catalog.start_run("p", "0.1.0", {}, {})
    src = version(catalog, "src", 0, run_id, description="raw")
    v0 = version(catalog, "m", 0, run_id, parents=[src.id])
    v1 = version(catalog, "m", 1, run_id, parents=[src.id])
    assert catalog.current_version("m") == v1
    assert catalog.version("m", 0) == v0
    assert [p.table for p in catalog.parents(v1.id)] == ["src"]
    assert [t.table for t in catalog.tables()] == ["m", "src"]
    assert [t.version for t in catalog.tables()] == [1, 0]
    assert catalog.version("src").description == "raw"
    with pytest.raises(NotFoundError, match="did you mean 'm'"):
        catalog.version("mm")
    with pytest.raises(NotFoundError, match="recorded versions: 0, 1"):
        catalog.version("m", 7)


def test_checks(catalog: Catalog) -> None:
    run_id = catalog.start_run("p", "0.1.0", {}, {})
    v = version(catalog, "t", 0, run_id)
    step = catalog.start_step(run_id, "check:t", "check")
    catalog.record_checks(
        step,
        v.id,
        [
            CheckRecord("not_null(a)", "error", True, 0, ""),
            CheckRecord("unique(a)", "warn", False, 2, "2 failing rows"),
        ],
    )
    results = catalog.latest_checks("t")
    assert [(r.check, r.passed, r.failing, r.version, r.run_id) for r in results] == [
        ("not_null(a)", True, 0, 0, run_id),
        ("unique(a)", False, 2, 0, run_id),
    ]
    assert catalog.latest_checks("other") == []


def test_models_and_their_training_data(catalog: Catalog) -> None:
    run_id = catalog.start_run("p", "0.1.0", {}, {})
    data = version(catalog, "features", 3, run_id)
    common: dict[str, Any] = {
        "task": "classification",
        "algorithm": "lr",
        "params": {"C": 1.0},
        "seed": 42,
        "features": {"numeric": ["x"]},
        "environment": {"python": "3.11"},
        "run_id": run_id,
        "step_run_id": None,
        "trained_on": [data.id],
    }
    first = catalog.register_model_version(
        "fraud", metrics={"roc_auc": 0.8}, artifact_path="a", artifact_sha256="s1", **common
    )
    second = catalog.register_model_version(
        "fraud", metrics={"roc_auc": 0.9}, artifact_path="b", artifact_sha256="s2", **common
    )
    assert (first.version, second.version) == (1, 2)
    assert second.trained_on == ["features@3"] and second.stage == "candidate"
    assert catalog.model_version("fraud").version == 2
    assert catalog.model_version("fraud", 1).metrics == {"roc_auc": 0.8}
    with pytest.raises(NotFoundError, match="did you mean 'fraud'"):
        catalog.model_versions("frau")
    with pytest.raises(NotFoundError, match="versions: 1, 2"):
        catalog.model_version("fraud", 5)


def test_reopening_keeps_everything(sqlite_url: str) -> None:
    first = Catalog.open(sqlite_url)
    run_id = first.start_run("p", "0.1.0", {}, {})
    first.close()
    again = Catalog.open(sqlite_url)
    assert again.run(run_id).project == "p"
    again.close()


def test_a_catalog_of_another_schema_version_is_refused(sqlite_url: str) -> None:
    from sqlalchemy import text

    catalog = Catalog.open(sqlite_url)
    with catalog.engine.begin() as connection:
        connection.execute(text("UPDATE weir_meta SET value = '999' WHERE key = 'schema_version'"))
    catalog.close()
    with pytest.raises(CatalogError, match="schema version 999"):
        Catalog.open(sqlite_url)


def test_urls_are_normalised_and_passwords_masked() -> None:
    assert normalise_url("postgresql://u:pw@h/db").drivername == "postgresql+psycopg"
    assert "pw" not in masked("postgresql://u:pw@h/db")
    with pytest.raises(CatalogError, match="not a database URL"):
        normalise_url("not a url")


@pytest.mark.integration
def test_unreachable_postgres_is_a_clear_error_without_the_password() -> None:
    from weir.catalog import CatalogUnavailableError

    with pytest.raises(CatalogUnavailableError) as info:
        Catalog.open("postgresql://postgres:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(info.value) and "***" in str(info.value)
