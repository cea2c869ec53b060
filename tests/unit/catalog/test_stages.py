"""Registry stages: promotion archives what it replaces, roll-back restores the previous
production version, every change is kept. On SQLite and the local PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from weir.catalog import ArtifactRef, Catalog, CvScore, ModelDetails
from weir.catalog.schema import SCHEMA_VERSION
from weir.core import ConfigError, NotFoundError


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def catalog(request: pytest.FixtureRequest) -> Any:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    opened = Catalog.open(url)
    yield opened
    opened.close()


def register(catalog: Catalog, count: int) -> None:
    run_id = catalog.start_run("p", "0.1.0", {}, {})
    for number in range(count):
        catalog.register_model_version(
            "fraud",
            task="classification",
            algorithm="lightgbm",
            metrics={"roc_auc": 0.7 + number / 100},
            params={},
            seed=1,
            features={},
            artifact_path=f"models/fraud/{number}.skops",
            artifact_sha256=str(number) * 64,
            environment={},
            run_id=run_id,
            step_run_id=None,
            trained_on=[],
            details=ModelDetails(cv={"roc_auc": CvScore(mean=0.7, std=0.01)}),
        )


def stages(catalog: Catalog) -> dict[int, str]:
    return {r.version: r.stage for r in catalog.model_versions("fraud")}


def test_promotion_archives_the_version_it_replaces_and_rollback_restores_it(
    catalog: Catalog,
) -> None:
    register(catalog, 3)
    catalog.set_stage("fraud", 1, "production", "first release")
    moves = catalog.set_stage("fraud", 2, "production", "better recall")
    assert [(m.version, m.from_stage, m.to_stage) for m in moves] == [
        (2, "candidate", "production"),
        (1, "production", "archived"),
    ]
    catalog.set_stage("fraud", 3, "staging")
    assert stages(catalog) == {1: "archived", 2: "production", 3: "staging"}
    assert catalog.in_stage("fraud", "production").version == 2  # type: ignore[union-attr]

    catalog.rollback("fraud", "alerts fired")
    assert stages(catalog) == {1: "production", 2: "archived", 3: "staging"}
    history = [(m.version, m.to_stage, m.reason) for m in catalog.stage_history("fraud")]
    assert history[-2:] == [(1, "production", "alerts fired"), (2, "archived", "replaced by v1")]
    assert catalog.set_stage("fraud", 1, "production") == []  # already there: nothing to do


def test_rollback_needs_an_earlier_production_version(catalog: Catalog) -> None:
    register(catalog, 2)
    with pytest.raises(NotFoundError, match="no earlier production version"):
        catalog.rollback("fraud")
    catalog.set_stage("fraud", 1, "production")
    with pytest.raises(NotFoundError, match="no earlier production version"):
        catalog.rollback("fraud")


def test_stage_mistakes_are_named(catalog: Catalog) -> None:
    register(catalog, 1)
    with pytest.raises(ConfigError, match="choices: archived, candidate, production, staging"):
        catalog.set_stage("fraud", 1, "prod")
    with pytest.raises(NotFoundError, match="no version 9"):
        catalog.set_stage("fraud", 9, "production")


def test_details_are_kept_and_extended(catalog: Catalog) -> None:
    register(catalog, 1)
    catalog.add_details("fraud", 1, report=ArtifactRef(path="r.html", sha256="x"))
    details = catalog.model_version("fraud", 1).details
    assert details.report is not None and details.report.path == "r.html"
    assert details.cv["roc_auc"].mean == 0.7


def test_a_schema_1_catalog_is_upgraded_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = Catalog.open(url)
    register(catalog, 1)
    catalog.close()
    with sqlite3.connect(tmp_path / "catalog.db") as db:  # make it look like Weir 0.x wrote it
        db.execute("ALTER TABLE model_versions DROP COLUMN details")
        db.execute("DROP TABLE model_stage_changes")
        db.execute("UPDATE weir_meta SET value = '1' WHERE key = 'schema_version'")
    upgraded = Catalog.open(url)
    record = upgraded.model_version("fraud", 1)
    assert record.details == ModelDetails() and record.metrics == {"roc_auc": 0.7}
    upgraded.set_stage("fraud", 1, "production")
    upgraded.close()
    with sqlite3.connect(tmp_path / "catalog.db") as db:
        assert db.execute(
            "SELECT value FROM weir_meta WHERE key = 'schema_version'"
        ).fetchone() == (str(SCHEMA_VERSION),)


def test_a_schema_3_catalog_gains_model_outputs(tmp_path: Path) -> None:
    """Schema 4 adds the table that links a table version to the model versions whose
    answers it holds; a catalog of schema 3 gets it on open, and its records stay."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = Catalog.open(url)
    register(catalog, 1)
    catalog.close()
    with sqlite3.connect(tmp_path / "catalog.db") as db:
        db.execute("DROP TABLE model_outputs")
        db.execute("UPDATE weir_meta SET value = '3' WHERE key = 'schema_version'")
    upgraded = Catalog.open(url)
    model = upgraded.model_version("fraud", 1)
    answers = upgraded.record_version(
        "fraud__predictions",
        kind="prediction_log",
        version=0,
        row_count=2,
        fingerprint="f" * 64,
        schema=[],
        run_id=None,
        step_run_id=None,
        answers_of=[model.id],
    )
    assert upgraded.answers_of(answers.id) == [("fraud", 1)]
    assert upgraded.answers_of(model.id + 1000) == []
    upgraded.close()
