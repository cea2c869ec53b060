"""`weir catalog rebuild` against the real PostgreSQL catalog: a new empty database beside a
full lake is refused, then rebuilt; a readable catalog is only replaced with force (its
tables kept in a schema of their own); ids continue after the restored ones."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml
from tests.integration.sources import run

from weir.app import open_workspace
from weir.app.rebuild import rebuild_catalog
from weir.catalog import CatalogLostError
from weir.core import CatalogError
from weir.project import load_project

pytestmark = pytest.mark.integration


def project(root: Path, url: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "in").mkdir(exist_ok=True)
    (root / "in" / "a.csv").write_text("id,v\n1,10\n2,x\n")
    (root / "sql").mkdir(exist_ok=True)
    (root / "sql" / "doubled.sql").write_text("SELECT id, v * 2 AS v2 FROM events")
    config = {
        "name": "t",
        "catalog": {"url": url},
        "sources": {
            "events": {
                "format": "csv",
                "path": "in/*.csv",
                "columns": {"id": "int64", "v": "int64"},
            }
        },
    }
    (root / "weir.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def tables(root: Path) -> dict[str, tuple[str, int, int, str]]:
    workspace = open_workspace(load_project(root))
    try:
        return {
            r.table: (r.kind, r.version, r.row_count, r.fingerprint)
            for r in workspace.catalog.tables()
        }
    finally:
        workspace.close()


def test_postgres_catalog_lost_then_rebuilt(tmp_path: Path, postgres_url: str) -> None:
    root = project(tmp_path / "p", postgres_url)
    assert {r["status"] for r in run(root).values()} == {"succeeded"}
    before = tables(root)
    assert set(before) == {"events", "events__quarantine", "doubled"}

    with pytest.raises(CatalogError, match="can be read and holds 1 run"):
        rebuild_catalog(load_project(root))
    result = rebuild_catalog(load_project(root), force=True)
    assert result.kept_aside is not None and result.kept_aside.startswith("schema weir_replaced_")
    assert tables(root) == before
    schema = result.kept_aside.split()[1]
    with psycopg.connect(postgres_url) as db:  # the old catalog, whole, in its own schema
        assert db.execute(f'SELECT count(*) FROM "{schema}".runs').fetchone() == (1,)

    # the lineage the commit metadata recorded came back
    workspace = open_workspace(load_project(root))
    try:
        doubled = workspace.catalog.version("doubled")
        assert [(p.table, p.version) for p in workspace.catalog.parents(doubled.id)] == [
            ("events", 0)
        ]
        assert [r.status for r in workspace.catalog.runs()] == ["rebuilt"]
    finally:
        workspace.close()
    # new runs get ids after the restored ones (PostgreSQL's sequences were moved on)
    assert {r["status"] for r in run(root).values()} == {"succeeded"}
    workspace = open_workspace(load_project(root))
    try:
        assert [r.id for r in workspace.catalog.runs()] == [2, 1]
    finally:
        workspace.close()


def test_an_empty_postgres_database_beside_a_full_lake_is_refused(
    tmp_path: Path, postgres_url: str, sqlite_url: str
) -> None:
    root = project(tmp_path / "p", sqlite_url)
    run(root)
    project(root, postgres_url)  # the same lake, pointed at a new, empty database
    with pytest.raises(CatalogLostError, match="holds no history, but the lake"):
        open_workspace(load_project(root))
    result = rebuild_catalog(load_project(root))
    assert result.kept_aside is None
    assert {t.name for t in result.tables} == {"events", "events__quarantine", "doubled"}
    assert tables(root)["events"][1:3] == (0, 1)
