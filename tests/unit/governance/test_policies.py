from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.app import build_plan, open_workspace, run_project
from weir.core import ConfigError
from weir.engines import DuckDBEngine
from weir.governance import hmac_pads, policy_sql, pseudonym_sql
from weir.project import load_project
from weir.project.cleaning import ColumnPolicy

ENGINE = DuckDBEngine(threads=1)
KEY = "a-key-of-at-least-16-chars"


def apply(table: pa.Table, column: str, duckdb_type: str, **policy: Any) -> list[Any]:
    governed = policy_sql(column, f'"{column}"', duckdb_type, ColumnPolicy.model_validate(policy))
    with ENGINE.query(f"SELECT {governed.item} FROM t", {"t": table}, hmac_pads(KEY)) as reader:
        return reader.read_all().column(0).to_pylist()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=10),
    st.text(min_size=16, max_size=100),
)
def test_pseudonyms_are_hmac_sha256_computed_in_the_engine(values: list[str], key: str) -> None:
    with ENGINE.query(
        f"SELECT {pseudonym_sql('v')} AS p FROM t", {"t": pa.table({"v": values})}, hmac_pads(key)
    ) as reader:
        got = reader.read_all().column("p").to_pylist()
    want = [hmac.new(key.encode(), v.encode(), hashlib.sha256).hexdigest()[:32] for v in values]
    assert got == want


def test_pseudonyms_are_stable_across_tables_and_types_and_keep_nulls() -> None:
    as_int = apply(
        pa.table({"id": [42, None]}),
        "id",
        "BIGINT",
        **{"class": "pii.id", "action": "pseudonymise"},
    )
    as_text = apply(
        pa.table({"id": ["42"]}), "id", "VARCHAR", **{"class": "pii.id", "action": "pseudonymise"}
    )
    assert as_int[0] == as_text[0] and as_int[1] is None and len(as_int[0]) == 32


def test_mask_truncate_keep() -> None:
    phones = pa.table({"p": ["+44 123 4567", None, "12"]})
    assert apply(
        phones, "p", "VARCHAR", **{"class": "pii.phone", "action": "mask", "keep_last": 3}
    ) == ["*********567", None, "12"]
    import datetime as dt

    births = pa.table({"b": [dt.date(1984, 5, 17)]})
    assert apply(births, "b", "DATE", **{"class": "pii", "action": "truncate", "to": "year"}) == [
        dt.date(1984, 1, 1)
    ]
    assert apply(
        pa.table({"s": ["SW1A 2AA"]}),
        "s",
        "VARCHAR",
        **{"class": "pii", "action": "truncate", "length": 4},
    ) == ["SW1A"]
    with pytest.raises(ConfigError, match="needs a date"):
        apply(
            pa.table({"s": ["x"]}),
            "s",
            "VARCHAR",
            **{"class": "pii", "action": "truncate", "to": "year"},
        )


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"class": "PII", "action": "drop"}, "not a class name"),
        ({"class": "pii", "action": "truncate"}, "either 'to'"),
        ({"class": "pii", "action": "shred"}, "shred"),
    ],
)
def test_policy_validation(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception, match=message):
        ColumnPolicy.model_validate(policy)


PROJECT = """\
name: gov
sources:
  people: {{format: csv, path: people.csv, columns: {{id: int64, email: string, phone: string, born: date, city: string}}}}
  visits: {{format: csv, path: visits.csv, columns: {{person_id: int64, n: int64}}}}
clean:
  people:
    into: people_safe
    rules:
      - {{rule: trim, columns: [city]}}
  visits:
    rules: []
governance:
  key: {key}
  columns:
    people.id: {{class: pii.id, action: pseudonymise}}
    people.email: {{class: pii.email, action: drop}}
    people.phone: {{class: pii.phone, action: mask, keep_last: 2}}
    people.born: {{class: pii, action: truncate, to: year}}
    visits.person_id: {{class: pii.id, action: pseudonymise}}
"""


def write_project(root: Path, key: str = "${WEIR_KEY}", sql: str | None = None) -> None:
    (root / "weir.yaml").write_text(PROJECT.format(key=key))
    (root / "people.csv").write_text(
        "id,email,phone,born,city\n1,ada@example.com,+44 1234,1984-05-17, London \n2,bob@example.com,+1 999,1990-01-02,Paris\n"
    )
    (root / "visits.csv").write_text("person_id,n\n1,3\n2,5\n1,1\n")
    (root / "sql").mkdir(exist_ok=True)
    (root / "sql" / "visits_by_city.sql").write_text(
        sql
        or "SELECT p.city, sum(v.n) AS visits FROM clean_visits v JOIN people_safe p ON p.id = v.person_id GROUP BY p.city"
    )


def test_governed_tables_join_on_pseudonyms_and_hold_no_raw_pii(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEIR_KEY", KEY)
    write_project(tmp_path)
    ws = open_workspace(load_project(tmp_path))
    try:
        result = run_project(ws)
        assert result.ok, [r.error for r in result.reports]
        safe = ws.lake.read("people_safe", 0)
        assert "email" not in safe.schema.names
        assert safe.column("phone").to_pylist() == ["******34", "****99"]
        assert {str(b) for b in safe.column("born").to_pylist()} == {"1984-01-01", "1990-01-01"}
        assert safe.column("city").to_pylist() == ["London", "Paris"]
        assert 1 not in safe.column("id").to_pylist() and len(safe.column("id")[0].as_py()) == 32
        by_city = {r["city"]: r["visits"] for r in ws.lake.read("visits_by_city", 0).to_pylist()}
        assert by_city == {"London": 4, "Paris": 5}  # the join on pseudonyms still works
        summary = {r.step.name: r.summary for r in result.reports}["clean:people"]
        governance = summary.as_record()["rules"][-1]
        assert governance["rule"] == "governance" and governance["changed_values"] == 6
        assert governance["stats"]["email"] == "pii.email: drop"
    finally:
        ws.close()


def test_a_model_reading_raw_pii_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEIR_KEY", KEY)
    write_project(tmp_path, sql="SELECT email FROM people")
    with pytest.raises(
        ConfigError,
        match=r"reads 'people', whose PII columns .* are governed only in 'people_safe'",
    ):
        build_plan(load_project(tmp_path))


def test_pseudonymise_needs_a_key_of_sixteen_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEIR_KEY", "short")
    write_project(tmp_path)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_project(tmp_path)
    write_project(tmp_path, key="null")
    with pytest.raises(ConfigError, match=r"pseudonymise needs governance\.key"):
        load_project(tmp_path)


def test_changing_the_key_re_runs_the_clean_step_and_the_key_is_never_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEIR_KEY", KEY)
    write_project(tmp_path)
    ws = open_workspace(load_project(tmp_path))
    run_project(ws)
    ws.close()
    monkeypatch.setenv("WEIR_KEY", KEY + "-rotated")
    ws = open_workspace(load_project(tmp_path))
    reports = {r.step.name: r for r in run_project(ws).reports}
    ws.close()
    assert (
        reports["clean:people"].status == "succeeded"
        and reports["clean:people"].reason == "definition changed"
    )
    assert reports["source:people"].status == "skipped"
    for path in (tmp_path / ".weir").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
