"""No value of a governed PII column leaves the raw layer: not through profiles, cleaning
statistics, check results or error messages (the lake files alone hold them)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from weir.engines import DuckDBEngine
from weir.project.cleaning import Cast, FillMissing, Outliers
from weir.project.model import AggregateCheck, ExpressionCheck
from weir.quality import profile_table, run_checks
from weir.quality.cleaning import Chain, apply_rule

ENGINE = DuckDBEngine(threads=1)
EMAILS = ["ann.secret@example.com", "bob.secret@example.com", "ann.secret@example.com"]
PEOPLE = pa.table(
    {
        "email": EMAILS,
        "salary": [91234, 45678, None],
        "born": [dt.date(1961, 2, 3), dt.date(1999, 4, 5), dt.date(1977, 6, 7)],
        "country": ["DE", "FR", "DE"],
    }
)
WITHHELD = {"email": "pii.email", "salary": "pii", "born": "pii.birthdate"}
VALUES = ("secret@example.com", "91234", "45678", "1961", "1999")


def _leaks(text: str) -> list[str]:
    return [v for v in VALUES if v in text]


def test_a_withheld_column_is_profiled_by_counts_only() -> None:
    profile = profile_table(ENGINE, PEOPLE, withheld=WITHHELD)
    assert _leaks(json.dumps(profile.as_record(), default=str)) == []
    email = profile.column("email")
    assert (email.count, email.nulls, email.distinct_approx) == (3, 0, 2)
    assert email.withheld == "pii.email" and email.top_values is None
    salary = profile.column("salary")
    assert (salary.count, salary.nulls) == (2, 1)
    assert salary.min is salary.max is salary.mean is salary.histogram is None
    assert salary.quantiles_approx is None
    # the other columns keep their distribution
    country = profile.column("country")
    assert country.withheld is None and country.top_values == [
        {"value": "DE", "count": 2},
        {"value": "FR", "count": 1},
    ]


def test_a_profile_kept_before_the_column_was_withheld_loses_its_values() -> None:
    from weir.quality import TableProfile

    stored = profile_table(ENGINE, PEOPLE).as_record()
    assert _leaks(json.dumps(stored, default=str))  # what an older Weir stored
    cleaned = TableProfile.from_record(stored).without_values(WITHHELD).as_record()
    assert _leaks(json.dumps(cleaned, default=str)) == []
    assert TableProfile.from_record(cleaned).column("email").distinct_approx == 2


def test_cleaning_statistics_and_errors_of_a_withheld_column_show_no_value() -> None:
    chain = Chain(ENGINE, PEOPLE, "clean.people", withheld=WITHHELD)
    apply_rule(chain, FillMissing(rule="fill_missing", columns=["salary"], strategy="mode"), 0)
    apply_rule(chain, Outliers(rule="outliers", column="salary", method="iqr", action="clip"), 1)
    stats = json.dumps([s.report.stats for s in chain.stages], default=str)
    assert _leaks(stats) == [] and "withheld (pii)" in stats
    from weir.core.errors import StepError

    with pytest.raises(StepError) as caught:
        apply_rule(chain, Cast(rule="cast", column="email", to="int64", on_error="fail"), 2)
    assert _leaks(str(caught.value)) == [] and "3 values of 'email'" in str(caught.value)


def test_check_results_on_a_raw_table_show_no_value() -> None:
    checks: list[Any] = [
        ExpressionCheck(rule="expression", expression="email::INT > 0", severity="error"),
        AggregateCheck(rule="aggregate", expression="max(salary)", max=10, severity="error"),
    ]
    outcomes = run_checks(ENGINE, PEOPLE, checks, withheld=list(WITHHELD))
    details = " ".join(o.detail for o in outcomes)
    assert [o.passed for o in outcomes] == [False, False]
    assert _leaks(details) == [], details
    # without PII, the value helps: it stays
    [plain] = run_checks(ENGINE, PEOPLE, checks[1:])
    assert "91234" in plain.detail


# Through a project: nothing of the PII reaches the catalog ---------------------------------

CUSTOMERS = (
    "id,name,email,phone,nick,born,age\n"
    "1,Ann Secret,ann.secret@example.com,+49 151 2345678,annie-secret,1961-02-03,34\n"
    "2,Bob Secret,bob.secret@example.com,+33 6 87654321,bobby-secret,1999-04-05,41\n"
    "3,Cy Secret,cy.secret@example.com,+1 555 0100999,cyclone-secret,1977-06-07,not-a-number\n"
)
PROJECT = """name: p
sources:
  customers:
    format: csv
    path: data/customers.csv
    columns: {id: int64, name: string, email: string, phone: string, nick: string, born: date, age: int64}
clean:
  customers:
    rules:
      - {rule: fill_missing, columns: [email], strategy: mode}
governance:
  key: ${WEIR_TEST_KEY}
  columns:
    customers.name: {class: pii.name, action: drop}
    customers.email: {class: pii.email, action: pseudonymise}
    customers.phone: {class: pii.phone, action: mask, keep_last: 2}
    customers.nick: {class: pii, action: keep}
    customers.born: {class: pii.birth_date, action: truncate, to: year}
checks:
  customers:
    - {rule: aggregate, expression: "max(length(email))", max: 1, severity: warn}
    - {rule: expression, expression: "email::INT > 0", severity: warn}
"""
# looked for in lower case; 1977-06-07 is on the quarantined line only
RAW_VALUES = ("secret", "2345678", "87654321", "annie", "bobby", "1961-02-03", "1977-06-07")


def test_a_run_keeps_governed_values_in_the_lake_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weir.app import open_workspace, run_project
    from weir.app.inspect import table_profile
    from weir.project import load_project

    monkeypatch.setenv("WEIR_TEST_KEY", "k" * 32)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "weir.yaml").write_text(PROJECT)
    (tmp_path / "sql").mkdir()
    # a model carries the kept column on, renamed and changed: lineage still finds it
    (tmp_path / "sql" / "contacts.sql").write_text(
        "SELECT id, nick AS handle, upper(nick) AS shout, email FROM clean_customers"
    )
    ws = open_workspace(load_project(tmp_path))
    try:
        result = run_project(ws)
        assert all(r.status == "succeeded" for r in result.reports), result.reports
        tables = {t.table for t in ws.catalog.tables()}
        assert {"customers", "customers__quarantine", "clean_customers", "contacts"} <= tables
        profiles = {t: table_profile(ws, ws.catalog.current_version(t)) for t in tables}
        summaries = json.dumps(
            [r.summary.as_record() for r in result.reports if r.summary], default=str
        )
        checks = json.dumps([c.detail for c in ws.catalog.latest_checks("customers")])
    finally:
        ws.close()
    leaks = {
        table: found
        for table, profile in profiles.items()
        if (found := [v for v in RAW_VALUES if v in json.dumps(profile, default=str).lower()])
    }
    assert leaks == {}
    assert [v for v in RAW_VALUES if v in (summaries + checks).lower()] == []
    # the catalog file itself (and its journal), byte for byte
    for path in (tmp_path / ".weir").glob("catalog.db*"):
        data = path.read_bytes().lower()
        assert [v for v in RAW_VALUES if v.encode() in data] == [], path.name
    # pseudonyms and masked values are governed: their profile keeps values
    clean = {c["name"]: c for c in profiles["clean_customers"]["columns"]}
    assert clean["email"]["top_values"] and clean["phone"]["top_values"]
    assert clean["born"]["min"] == "1961-01-01"  # truncated to the year
    assert clean["nick"]["withheld"] == "pii" and clean["nick"]["top_values"] is None
    contacts = {c["name"]: c for c in profiles["contacts"]["columns"]}
    assert contacts["handle"]["withheld"] == contacts["shout"]["withheld"] == "pii"
    assert contacts["email"]["withheld"] is None and contacts["email"]["top_values"]
