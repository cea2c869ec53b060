"""`weir demo` from nothing to a registered model, as `make demo` runs it (smaller data)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from tests.e2e.conftest import Weir, statuses

pytestmark = pytest.mark.e2e


def test_demo_end_to_end(weir: Weir, tmp_path: Path) -> None:
    result = weir("demo", "d", "--rows", "20000")
    out = result.stdout
    found = statuses(out)
    assert found["train:fraud"] == "succeeded", out
    assert all(status == "succeeded" for status in found.values()), out
    for heading in ("Tables", "Checks (latest)", "Models", "catalog", "lake"):
        assert heading in out
    assert "unique(txn_id)" in out  # the warning about re-sent rows is shown
    models = weir("models", "fraud", "-p", "d").stdout
    assert "roc_auc" in models and "transaction_features@0" in models

    lake = tmp_path / "d" / ".weir" / "lake"
    quarantine = DeltaTable(str(lake / "transactions__quarantine")).to_pyarrow_table()
    assert quarantine.num_rows >= 5
    assert set(quarantine.column("file").to_pylist()) == {"data/transactions.csv"}
    raw = set(quarantine.column("raw").to_pylist())
    assert any("N/A" in line for line in raw) and any("31/02/2026" in line for line in raw)

    clean = DeltaTable(str(lake / "clean_transactions")).to_pyarrow_table()
    ids = clean.column("txn_id")
    assert pa.compute.count_distinct(ids).as_py() == clean.num_rows

    again = weir("demo", "d", "--rows", "20000").stdout
    assert set(statuses(again).values()) == {"skipped"}, again
    assert "is current" in again
