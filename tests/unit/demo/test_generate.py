from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from weir.demo import generate


def customers_of(path: Path) -> pa.Table:
    with sqlite3.connect(path) as connection:
        cursor = connection.execute("SELECT * FROM customers ORDER BY customer_id")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", rows=3000, seed=1)
    b = generate(tmp_path / "b", rows=3000, seed=1)
    c = generate(tmp_path / "c", rows=3000, seed=2)
    assert a.transactions.read_bytes() == b.transactions.read_bytes()
    assert customers_of(a.customers) == customers_of(b.customers)
    assert a.transactions.read_bytes() != c.transactions.read_bytes()


def test_the_world_has_pii_dirt_and_a_rare_label(tmp_path: Path) -> None:
    data = generate(tmp_path, rows=20_000, seed=3)
    customers = customers_of(data.customers)
    assert {"name", "email", "phone", "birth_date", "country"} <= set(customers.column_names)
    assert any(e in ("", None) for e in customers.column("email").to_pylist())  # missing e-mails
    assert any(c.islower() for c in customers.column("country").to_pylist())
    lines = data.transactions.read_text().splitlines()
    assert len(lines) == 1 + data.transaction_rows + data.malformed_lines
    malformed = [line for line in lines if line.startswith("9000000")]
    assert len(malformed) == data.malformed_lines >= 5
    ids = [line.split(",", 1)[0] for line in lines[1:] if not line.startswith("9000000")]
    assert len(ids) - len(set(ids)) == data.duplicate_rows > 0
    good = [line.split(",") for line in lines[1:] if not line.startswith("9000000")]
    fraud_rate = sum(row[-1] == "1" for row in good) / len(good)
    assert 0.005 < fraud_rate < 0.06
    assert any(row[3] == "" for row in good)  # missing amounts


def test_too_small_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1000"):
        generate(tmp_path, rows=10)
