"""`weir demo` from nothing to a registered model, as `make demo` runs it (smaller data).
The demo is built once for the module; each test reads (and changes) a copy of its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from tests.e2e.conftest import Weir, copy_project, run_weir, statuses

pytestmark = pytest.mark.e2e

ROWS = "20000"  # enough for a few data-entry outliers (1 in 2,000) for the quarantine


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`weir demo d` from an empty folder: the built project and what the command printed."""
    root = tmp_path_factory.mktemp("demo")
    return root / "d", run_weir("demo", "d", "--rows", ROWS, cwd=root)


def test_demo_end_to_end(
    weir: Weir, tmp_path: Path, demo: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    copy_project(demo[0], tmp_path / "d")
    out = demo[1].stdout
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
    # parser rejects name their file; rows diverted by a quarantine check name the rule
    assert set(quarantine.column("file").to_pylist()) == {"data/transactions.csv", None}
    assert any("range(amount" in (e or "") for e in quarantine.column("error").to_pylist())
    raw = set(quarantine.column("raw").to_pylist())
    assert any("N/A" in line for line in raw) and any("31/02/2026" in line for line in raw)

    clean = DeltaTable(str(lake / "clean_transactions")).to_pyarrow_table()
    ids = clean.column("txn_id")
    assert pa.compute.count_distinct(ids).as_py() == clean.num_rows

    # the answers of the demo's server: a lake table the catalog records, shown by name
    assert "every answer is in the table fraud__predictions" in out
    shown = weir("show", "fraud__predictions", "-p", "d").stdout
    assert "(prediction_log, 6 rows)" in shown and "answers of fraud v1" in shown

    again = weir("demo", "d", "--rows", ROWS).stdout
    assert set(statuses(again).values()) == {"skipped"}, again
    assert "is current" in again


def test_raw_pii_never_reaches_governed_tables_or_models(
    weir: Weir, tmp_path: Path, demo: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    import pyarrow.types as pat

    assert "warning: feature 'age' derives from customers.birth_date" in demo[1].stdout
    project = copy_project(demo[0], tmp_path / "d")
    from tests.unit.demo.test_generate import customers_of

    customers = customers_of(project / "data" / "crm.db")
    secrets = {
        str(v)
        for name in ("name", "email", "phone")
        for v in customers.column(name).to_pylist()
        if v not in (None, "")
    }
    raw_ids = set(customers.column("customer_id").to_pylist())
    assert len(secrets) > 300
    downstream = [
        "clean_customers",
        "clean_transactions",
        "customer_profile",
        "transaction_features",
    ]
    lake = project / ".weir" / "lake"
    for table_name in downstream:
        table = DeltaTable(str(lake / table_name)).to_pyarrow_table()
        for field in table.schema:
            if pat.is_string(field.type) or pat.is_large_string(field.type):
                values = set(table.column(field.name).to_pylist())
                leaked = values & secrets
                assert not leaked, (
                    f"{table_name}.{field.name} holds raw PII, e.g. {sorted(leaked)[:3]}"
                )
        ids = table.column("customer_id").to_pylist() if "customer_id" in table.schema.names else []
        assert all(isinstance(i, str) and len(i) == 32 for i in ids), table_name
        assert not set(ids) & {str(i) for i in raw_ids}
    feeds = weir("lineage", "customers.birth_date", "--down", "-p", "d").stdout
    for step in (
        "clean_customers.birth_date",
        "customer_profile.birth_date",
        "transaction_features.age",
        "model:fraud",
    ):
        assert step in feeds, feeds
    assert "dropped by clean:customers" in weir("lineage", "customers.email", "-p", "d").stdout
    origins = weir("lineage", "transaction_features.amount_ratio", "--up", "-p", "d").stdout
    assert "transactions.amount" in origins and "model:fraud" not in origins
    artifacts = list((project / ".weir" / "artifacts").rglob("*.skops"))
    reports = list((project / ".weir" / "artifacts" / "reports").rglob("*.html"))
    assert artifacts and reports
    import skops.io

    for artifact in artifacts:
        content = artifact.read_bytes()
        model = skops.io.loads(content, trusted=skops.io.get_untrusted_types(data=content))
        text = repr(model.named_steps["columns"].transformers_) + content.decode("latin-1")
        assert not any(secret in text for secret in secrets), artifact
    for report in reports:
        text = report.read_text()
        assert not any(secret in text for secret in secrets), report
