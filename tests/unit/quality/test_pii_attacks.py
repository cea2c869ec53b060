"""Governed PII, attacked through what a check or a quarantine rule reports.

The engine's messages quote values in more ways than single quotes: double quotes
(`invalid date field format: "..."`), after `Input:`, or bare (`error(email)` raises the
value itself). And an aggregate can read a governed column without naming it: `COLUMNS(...)`,
the row as a struct (`to_json(t)`), a positional reference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from weir.engines import DuckDBEngine
from weir.project.model import AggregateCheck, ExpressionCheck, FreshnessCheck, RowCountCheck
from weir.quality import run_checks

ENGINE = DuckDBEngine(threads=1)
PEOPLE = pa.table(
    {
        "email": ["ann.secret@example.com", "bob.secret@example.com"],
        "born": ["1961-02-03", "notadate-secret"],
        "country": ["DE", "FR"],
        "amount": [5, 7],
    }
)
WITHHELD = ["email", "born"]


def _leaks(text: str) -> bool:
    return "secret" in text or "1961" in text


# Each fails in the engine with a message that quotes a governed value, or part of one.
QUOTING = [
    ("CAST(born AS DATE) < current_date", "notadate"),
    ("born::TIMESTAMP IS NOT NULL", "notadate"),
    ("strptime(email, '%Y') IS NOT NULL", "secret"),
    ("email::JSON IS NOT NULL", "secret"),
    ("json_extract(email, '$.a') IS NULL", "secret"),
    ("from_base64(email) IS NOT NULL", "secret"),
    ("email::DECIMAL(5,2) > 0", "secret"),
    ("error(email) IS NULL", "secret"),
    ("assert_true(false, email) IS NULL", "secret"),
    ("unhex(email) IS NOT NULL", "hex digit: n"),  # its first letter
    ("make_date(1, 1, length(email) * 1000000) IS NOT NULL", "22000000"),  # its length
    ("email::INT > 0", "to INT32"),
]


@pytest.mark.parametrize(("expression", "quoted"), QUOTING)
def test_a_failing_check_on_a_table_with_pii_shows_the_kind_of_error_only(
    expression: str, quoted: str
) -> None:
    check = ExpressionCheck(rule="expression", expression=expression, severity="error")
    [plain] = run_checks(ENGINE, PEOPLE, [check])
    assert quoted in plain.detail  # what the engine says, where no column is withheld
    [outcome] = run_checks(ENGINE, PEOPLE, [check], withheld=WITHHELD)
    assert not outcome.passed and "the check's SQL failed" in outcome.detail
    assert quoted not in outcome.detail and not _leaks(outcome.detail), outcome.detail
    assert " Error" in outcome.detail  # the kind of error is still said


def test_a_check_that_fails_before_reading_a_row_keeps_its_whole_message() -> None:
    """Binder errors quote the SQL and the schema, never data: they stay useful."""
    check = ExpressionCheck(rule="expression", expression="emial IS NOT NULL", severity="error")
    [outcome] = run_checks(ENGINE, PEOPLE, [check], withheld=WITHHELD)
    assert "emial" in outcome.detail and "email" in outcome.detail


@pytest.mark.parametrize(
    "expression",
    [
        "max(ascii(COLUMNS('^em.il$')))",
        "max(unicode(substr(COLUMNS(*)::VARCHAR, 1, 1)))",
        "max(length(to_json(t)))",
        "max(ascii(struct_extract(t, 'email')))",
        "max(ascii(t.email))",
        'max(ascii("EMAIL"))',
        "max(list_max(list_transform([1], lambda x: ascii(email))))",
    ],
)
def test_an_aggregate_that_may_read_pii_reports_pass_or_fail_only(expression: str) -> None:
    check = AggregateCheck(rule="aggregate", expression=expression, min=0, max=1, severity="error")
    [outcome] = run_checks(ENGINE, PEOPLE, [check], withheld=WITHHELD)
    assert not outcome.passed
    assert "value withheld" in outcome.detail and not any(c.isdigit() for c in outcome.detail)


def test_a_freshness_check_of_a_pii_date_does_not_tell_the_newest_value() -> None:
    births = pa.table({"born": pa.array([0, 10_000], pa.date32()), "amount": [1, 2]})
    check = FreshnessCheck(rule="freshness", column="born", max_age="1d", severity="error")
    [outcome] = run_checks(ENGINE, births, [check], withheld=["born"])
    assert "withheld" in outcome.detail and not any(c.isdigit() for c in outcome.detail)


def test_aggregates_over_other_columns_keep_their_value() -> None:
    checks: list[Any] = [
        AggregateCheck(rule="aggregate", expression="max(amount)", max=1, severity="error"),
        AggregateCheck(
            rule="aggregate", expression="count(DISTINCT country)", max=1, severity="warn"
        ),
        RowCountCheck(rule="row_count", min=5, severity="error"),
    ]
    details = [o.detail for o in run_checks(ENGINE, PEOPLE, checks, withheld=WITHHELD)]
    assert details == [
        "value 7, expected ..1.0",
        "value 2, expected ..1.0",
        "2 rows, expected 5..any",
    ]


# Through a project: a quarantine rule that fails in the engine ----------------------------

PROJECT = """name: p
openlineage:
  file: lineage.ndjson
sources:
  people:
    format: csv
    path: data/people.csv
    columns: {id: int64, email: string, born: string}
checks:
  people:
    - rule: expression
      expression: "CASE WHEN id < 0 THEN CAST(email AS DATE) < current_date ELSE true END"
      severity: quarantine
governance:
  key: ${WEIR_TEST_KEY}
  columns:
    people.email: {class: pii.email, action: pseudonymise}
    people.born: {class: pii.birthdate, action: drop}
"""


@pytest.mark.parametrize("good_rows", [1, 150_000])  # the bad one in the first batch, or later
def test_a_quarantine_rule_that_fails_names_itself_and_quotes_no_pii(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, good_rows: int
) -> None:
    from weir.app import open_workspace, run_project
    from weir.project import load_project

    monkeypatch.setenv("WEIR_TEST_KEY", "k" * 32)
    (tmp_path / "data").mkdir()
    good = "".join(f"{i},ann{i}.secret@example.com,1961-02-03\n" for i in range(good_rows))
    (tmp_path / "data" / "people.csv").write_text(
        f"id,email,born\n{good}-1,bob.secret@example.com,notadate-secret\n"
    )
    (tmp_path / "weir.yaml").write_text(PROJECT)
    ws = open_workspace(load_project(tmp_path))
    try:
        result = run_project(ws)
        [source] = [r for r in result.reports if r.step.name == "source:people"]
        stored = [s.error or "" for s in ws.catalog.run(result.run_id).steps]
    finally:
        ws.close()
    assert source.status == "failed" and source.error
    assert "quarantine" in source.error and "Conversion Error" in source.error
    lineage = (tmp_path / "lineage.ndjson").read_text()
    assert not _leaks(source.error + json.dumps(stored) + lineage), source.error
