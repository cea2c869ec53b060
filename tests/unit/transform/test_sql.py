from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from weir.core import ConfigError
from weir.project import SqlModelFile
from weir.transform import parse_model

FIXTURES = yaml.safe_load(
    (Path(__file__).parents[2] / "fixtures" / "sql" / "dependencies.yaml").read_text()
)
KNOWN = ["orders", "customers", "payments", "raw_orders", "events"]


def parse(sql: str, known: list[str] = KNOWN) -> Any:
    return parse_model(SqlModelFile("m", Path("sql/m.sql"), sql), known, "sql/m.sql")


@pytest.mark.parametrize("case", FIXTURES, ids=[c["name"] for c in FIXTURES])
def test_dependencies_from_fixtures(case: dict[str, Any]) -> None:
    assert list(parse(case["sql"]).dependencies) == case["reads"]


def test_normalised_text_ignores_comments_and_layout() -> None:
    a = parse("SELECT a,\n  b FROM orders -- note")
    b = parse("/* header */ select a, b\nfrom   orders")
    assert a.normalised == b.normalised
    assert parse("SELECT a, c FROM orders").normalised != a.normalised


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM ordrs", "(?s)reads table 'ordrs'.*did you mean 'orders'"),
        ("SELECT * FROM main.orders", "qualified by a schema"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("INSERT INTO orders VALUES (1)", "must be a SELECT"),
        ("SELECT FROM WHERE", r"sql/m.sql:1:\d+: cannot parse SQL"),
    ],
)
def test_errors_point_at_the_file_and_the_fix(sql: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(sql)


def test_parse_error_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"sql/m.sql:3:"):
        parse("SELECT a\nFROM orders\nWHERE (a = ")


def test_engine_errors_are_located_in_the_model() -> None:
    from weir.transform.sql import locate_error

    sql = "SELECT a,\n  nope\nFROM orders"
    message = (
        'Binder Error: Referenced column "nope" not found in FROM clause!\nCandidate bindings: "a"'
    )
    assert locate_error(sql, message) == (2, 3, False)
    parse = (
        'Parser Error: syntax error at or near "="\n\nLINE 2: WHERE b = = 1\n                  ^'
    )
    assert locate_error("SELECT a FROM orders\nWHERE b = = 1", parse) == (2, 11, True)
    assert locate_error(sql, "Out of Memory Error: no place given") is None
    qualified = 'Binder Error: Table "c" does not have a column named "countryy"'
    assert locate_error("SELECT\n  c.countryy\nFROM customers AS c", qualified) == (2, 5, False)
    assert locate_error(
        "SELECT *\nFROM nosuch", "Catalog Error: Table with name nosuch does not exist!"
    ) == (2, 6, False)
