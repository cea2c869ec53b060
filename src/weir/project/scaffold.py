"""`weir init`: a small project that runs as it is and shows each part of the file."""

from __future__ import annotations

from pathlib import Path

from weir.core.errors import ConfigError

WEIR_YAML = """\
# Weir project file. Reference: docs/project-file.md
name: {name}

# Where weir keeps the lake (Delta tables), the catalog and artifacts.
workspace: .weir

engine:
  kind: duckdb

# catalog:
#   url: ${{WEIR_CATALOG_URL}}   # e.g. postgresql+psycopg://user@host/db; default: SQLite in .weir

sources:
  customers:
    format: csv
    path: data/customers.csv
    columns: {{customer_id: int64, name: string, country: string}}
  orders:
    format: csv
    path: data/orders.csv
    columns: {{order_id: int64, customer_id: int64, amount: float64, ordered_at: timestamp}}

checks:
  orders:
    - {{rule: not_null, columns: [order_id, customer_id]}}
    - {{rule: unique, columns: [order_id]}}
    - {{rule: range, column: amount, min: 0}}

# SQL models live in sql/NAME.sql and make table NAME. Describe them here if you like.
models:
  customer_totals:
    description: Orders and spend per customer.

# ml:
#   big_spender:
#     table: customer_totals
#     target: is_big
#     task: classification
#     features: {{numeric: [orders], categorical: [country]}}
#     algorithm: logistic_regression
#     seed: 42
"""

CUSTOMERS = """\
customer_id,name,country
1,Ada,GB
2,Grace,US
3,Linus,FI
4,Margaret,US
5,Ken,US
"""

ORDERS = """\
order_id,customer_id,amount,ordered_at
1,1,12.50,2026-01-03T10:00:00Z
2,1,80.00,2026-01-05T18:30:00Z
3,2,5.25,2026-01-06T09:15:00Z
4,3,42.00,2026-01-07T12:00:00Z
5,2,19.99,2026-01-08T21:45:00Z
6,4,300.00,2026-01-09T08:00:00Z
7,5,7.00,2026-01-10T14:20:00Z
8,4,55.10,2026-01-11T16:05:00Z
"""

CUSTOMER_TOTALS = """\
-- Orders and spend per customer: this table is made from the file name, customer_totals.
SELECT
    c.customer_id,
    c.country,
    count(o.order_id) AS orders,
    coalesce(sum(o.amount), 0) AS spend
FROM customers AS c
LEFT JOIN orders AS o ON o.customer_id = c.customer_id
GROUP BY c.customer_id, c.country
"""

BIG_SPENDERS = """\
SELECT customer_id, country, spend
FROM customer_totals
WHERE spend > 50
"""


def scaffold_project(directory: Path, name: str | None = None) -> list[Path]:
    """Write a runnable starter project into `directory`; refuse to overwrite a project."""
    directory = directory.resolve()
    if (directory / "weir.yaml").exists():
        raise ConfigError(
            f"{directory / 'weir.yaml'} already exists",
            fix="choose an empty directory, or edit the existing project",
        )
    project_name = name or directory.name or "weir-project"
    files = {
        "weir.yaml": WEIR_YAML.format(name=project_name),
        "data/customers.csv": CUSTOMERS,
        "data/orders.csv": ORDERS,
        "sql/customer_totals.sql": CUSTOMER_TOTALS,
        "sql/big_spenders.sql": BIG_SPENDERS,
        ".gitignore": ".weir/\n",
    }
    written = []
    for relative, content in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
