from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from weir.project import SqlModelFile
from weir.transform import column_sources, parse_model

INPUTS = {
    "orders": ["id", "customer_id", "amount", "ts"],
    "customers": ["customer_id", "birth_date", "country"],
}


def sources(sql: str, column: str) -> set[tuple[str, str]] | None:
    model = parse_model(SqlModelFile("m", Path("sql/m.sql"), sql), list(INPUTS), "sql/m.sql")
    return column_sources(model, column, INPUTS)


def test_through_ctes_joins_and_functions() -> None:
    sql = """
    WITH o AS (SELECT customer_id, amount * 2 AS doubled FROM orders)
    SELECT o.doubled, date_diff('year', c.birth_date, DATE '2026-01-01') AS age, c.country
    FROM o JOIN customers AS c USING (customer_id)
    """
    assert sources(sql, "doubled") == {("orders", "amount")}
    assert sources(sql, "age") == {("customers", "birth_date")}
    assert sources(sql, "country") == {("customers", "country")}


def test_window_partitions_count_as_origins() -> None:
    sql = "SELECT avg(amount) OVER (PARTITION BY customer_id ORDER BY ts) AS running FROM orders"
    assert sources(sql, "running") == {
        ("orders", "amount"),
        ("orders", "customer_id"),
        ("orders", "ts"),
    }


def test_star_is_expanded_from_the_input_columns() -> None:
    assert sources("SELECT * FROM customers", "birth_date") == {("customers", "birth_date")}


def test_what_cannot_be_traced_is_unknown_not_guessed() -> None:
    assert sources("SELECT amount FROM orders", "no_such_column") is None


FIXTURES = __import__("yaml").safe_load(
    (Path(__file__).parents[2] / "fixtures" / "sql" / "column_lineage.yaml").read_text()
)


@pytest.mark.parametrize("case", FIXTURES, ids=[c["name"] for c in FIXTURES])
def test_column_lineage_fixtures(case: dict[str, Any]) -> None:
    assert sources(case["sql"], case["column"]) == {tuple(pair) for pair in case["sources"]}
