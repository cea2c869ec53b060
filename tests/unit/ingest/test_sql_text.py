"""The SQL a SQL source sends: quoting of names and of the cursor values it stores."""

from __future__ import annotations

from pathlib import Path

from weir.ingest.sql import database_url, select_sql
from weir.project.sources import SqlSource


def source(**settings: object) -> SqlSource:
    return SqlSource.model_validate({"kind": "sql", "url": "mysql://u@h/db", **settings})


def test_cursor_values_are_quoted_for_each_dialect() -> None:
    orders = source(table="shop.orders", cursor="updated_at")
    mysql = select_sql("mysql", orders, "it's \\ here", "z")
    assert "FROM `shop`.`orders`" in mysql
    assert "`updated_at` > 'it''s \\\\ here' AND `updated_at` <= 'z'" in mysql
    postgres = select_sql("postgresql", orders, 41, 99)
    assert '"updated_at" > 41 AND "updated_at" <= 99 ORDER BY "updated_at"' in postgres


def test_a_first_load_of_an_empty_table_reads_nothing() -> None:
    assert "WHERE 1 = 0" in select_sql("sqlite", source(table="t", cursor="id"), None, None)


def test_a_query_is_wrapped_and_its_semicolon_dropped() -> None:
    sql = select_sql("postgresql", source(query="SELECT a FROM t;"), None, None)
    assert sql == "SELECT * FROM (SELECT a FROM t) AS weir_source"


def test_urls_lose_driver_suffixes_and_sqlite_paths_become_absolute(tmp_path: Path) -> None:
    pg = source(url="postgresql+psycopg://u:p@h:5432/db", table="t")
    assert database_url(pg, tmp_path) == ("postgresql", "postgresql://u:p@h:5432/db")
    maria = source(url="mariadb://u@h/db", table="t")
    assert database_url(maria, tmp_path) == ("mysql", "mysql://u@h/db")
    lite = source(url="sqlite:///data/app.db", table="t")
    assert database_url(lite, tmp_path) == ("sqlite", f"sqlite://{tmp_path.resolve()}/data/app.db")
