"""Checks against values that slip through: NaN in a range, bounds that are no numbers,
null keys; and a failure names its rule, its column and examples, never a PII value."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pydantic import TypeAdapter, ValidationError

from weir.engines import DuckDBEngine
from weir.project.cleaning import CleaningRule
from weir.project.model import CheckConfig
from weir.quality import run_checks
from weir.quality.runner import CheckOutcome

ENGINE = DuckDBEngine(threads=1)
CHECK: TypeAdapter[Any] = TypeAdapter(CheckConfig)


def judge(table: pa.Table, check: dict[str, Any], withheld: tuple[str, ...] = ()) -> CheckOutcome:
    [outcome] = run_checks(ENGINE, table, [CHECK.validate_python(check)], withheld=withheld)
    return outcome


def test_nan_is_outside_every_range() -> None:
    table = pa.table({"v": [1.0, math.nan, None]})
    for bounds in ({"min": 0}, {"max": 5}, {"min": 0, "max": 5}):
        outcome = judge(table, {"rule": "range", "column": "v"} | bounds)
        assert (outcome.passed, outcome.failing) == (False, 1), bounds
    assert judge(pa.table({"v": [1, 2]}), {"rule": "range", "column": "v", "min": 0}).passed


@pytest.mark.parametrize("rule", ["range", "aggregate"])
@pytest.mark.parametrize("bound", [math.nan, math.inf, -math.inf])
def test_a_bound_that_is_no_finite_number_is_refused(rule: str, bound: float) -> None:
    check = {"rule": rule, "min": bound} | (
        {"column": "v"} if rule == "range" else {"expression": "avg(v)"}
    )
    with pytest.raises(ValidationError, match="finite"):
        CHECK.validate_python(check)


def test_rows_with_a_null_key_are_no_duplicates() -> None:
    table = pa.table({"id": [1, 1, None, None], "k": ["a", "b", "c", "c"]})
    outcome = judge(table, {"rule": "unique", "columns": ["id"]})
    assert (outcome.passed, outcome.failing) == (False, 2)
    assert judge(pa.table({"id": [1, None, None]}), {"rule": "unique", "columns": ["id"]}).passed


def test_a_failure_names_examples() -> None:
    table = pa.table({"country": ["DE", "D\u0395", "de", None, "DE"], "id": [1, 2, 2, 3, 4]})
    outcome = judge(table, {"rule": "accepted_values", "column": "country", "values": ["DE"]})
    # the Greek capital epsilon is no E: a look-alike fails, and is shown escaped
    assert outcome.failing == 2 and "'D\u0395'" in outcome.detail and "'de'" in outcome.detail
    unique = judge(table, {"rule": "unique", "columns": ["id"]})
    assert "e.g. 2" in unique.detail
    expression = judge(table, {"rule": "expression", "expression": "id < 4"})
    assert "e.g. 4" in expression.detail


def test_a_relationship_failure_names_the_missing_keys() -> None:
    check = CHECK.validate_python(
        {"rule": "relationships", "column": "k", "to": "o", "field": "id"}
    )
    [outcome] = run_checks(
        ENGINE, pa.table({"k": [1, 2, 3, 3]}), [check], {"o": pa.table({"id": [1]})}
    )
    assert outcome.detail == "3 failing rows, e.g. 2, 3"


def test_a_failure_on_a_pii_column_shows_no_value() -> None:
    table = pa.table({"email": ["ann.secret@example.com", "bob", "bob"], "n": [1, 1, 1]})
    for check in (
        {"rule": "regex", "column": "email", "pattern": "[^@]+@[^@]+"},
        {"rule": "accepted_values", "column": "email", "values": ["x"]},
        {"rule": "expression", "expression": "length(email) < 5"},
        {"rule": "unique", "columns": ["n", "email"]},
        {"rule": "expression", "expression": "to_json(t)::VARCHAR = ''"},
    ):
        outcome = judge(table, check, withheld=("email",))
        assert not outcome.passed and "secret" not in outcome.detail, outcome
        assert "bob" not in outcome.detail, outcome


def test_a_check_on_a_model_shows_no_value_lineage_traces_to_kept_pii(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weir.app import open_workspace, run_project
    from weir.project import load_project

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "people.csv").write_text("id,nick\n1,annie-secret\n2,bobby-secret\n")
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "contacts.sql").write_text("SELECT id, nick AS handle FROM clean_people")
    (tmp_path / "weir.yaml").write_text(
        "name: p\nsources:\n  people: {format: csv, path: data/people.csv}\n"
        "governance:\n  columns:\n    people.nick: {class: pii, action: keep}\n"
        "checks:\n  contacts:\n"
        "    - {rule: accepted_values, column: handle, values: [x], severity: warn}\n"
        "    - {rule: accepted_values, column: id, values: [1], severity: warn}\n"
    )
    ws = open_workspace(load_project(tmp_path))
    try:
        run_project(ws)
        details = [c.detail for c in ws.catalog.latest_checks("contacts")]
    finally:
        ws.close()
    assert len(details) == 2 and "secret" not in " ".join(details), details
    assert "examples withheld" in details[0] and "e.g. 2" in details[1]


def test_accepted_text_is_compared_as_text() -> None:
    table = pa.table({"s": ["01", " 1", "1.0", "1"], "n": [1, 1, 2, 1], "f": [1.0, 1.5, 1.0, 1.0]})
    text = judge(table, {"rule": "accepted_values", "column": "s", "values": [1]})
    assert (text.passed, text.failing) == (False, 3)  # only '1' is the text of 1
    numbers = judge(table, {"rule": "accepted_values", "column": "n", "values": [1]})
    assert numbers.failing == 1
    floats = judge(table, {"rule": "accepted_values", "column": "f", "values": [1]})
    assert floats.failing == 1


def test_a_value_in_the_future_does_not_make_a_table_fresh() -> None:
    import datetime as dt

    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    sentinel = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
    outcome = judge(
        pa.table({"t": [old, sentinel]}), {"rule": "freshness", "column": "t", "max_age": "1d"}
    )
    assert not outcome.passed and "h old" in outcome.detail


def test_text_rules_refuse_a_column_that_is_not_text() -> None:
    from weir.core import ConfigError
    from weir.quality.cleaning import Chain, apply_rule

    adapter: TypeAdapter[Any] = TypeAdapter(CleaningRule)
    for rule in (
        {"rule": "trim", "columns": ["v"]},
        {"rule": "case", "columns": ["v"], "to": "upper"},
        {"rule": "normalise_whitespace", "columns": ["v"]},
    ):
        chain = Chain(ENGINE, pa.table({"v": [1, 2]}), "clean.t")
        with pytest.raises(ConfigError, match=r"rules\.0 .*'v' is BIGINT, not text"):
            apply_rule(chain, adapter.validate_python(rule), 0)
