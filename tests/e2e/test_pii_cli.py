"""`weir profile` of a raw table with governed PII: counts only, and it says why."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Weir


def test_weir_profile_withholds_governed_values(tmp_path: Path, weir: Weir) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "customers.csv").write_text(
        "id,email,country\n1,ann.secret@example.com,DE\n2,bob.secret@example.com,FR\n"
    )
    (tmp_path / "weir.yaml").write_text(
        "name: p\nsources:\n  customers:\n    format: csv\n    path: data/customers.csv\n"
        "    columns: {id: int64, email: string, country: string}\n"
        "governance:\n  columns:\n    customers.email: {class: pii.email, action: drop}\n"
    )
    weir("run")
    shown = weir("profile", "customers").stdout
    assert "values withheld (pii.email)" in shown
    assert "secret" not in shown and "DE (1)" in shown
