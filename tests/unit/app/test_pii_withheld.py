"""Values of PII a clean step keeps stay out of check details, profiles and step errors,
also where column lineage cannot follow them (a Python step without `lineage`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from weir.app import open_workspace, run_project
from weir.app.workspace import Workspace
from weir.project import load_project

STEPS = """\
def handles(clean_people):
    return clean_people

def labels(codes):
    return codes

def shout(clean_people):
    return [int(v) for v in clean_people.column("nick").to_pylist()]
"""

CONFIG = """\
name: p
sources:
  people: {format: csv, path: data/people.csv}
  codes: {format: csv, path: data/codes.csv}
governance:
  columns:
    people.nick: {class: pii, action: keep}
steps:
  handles:
    function: steps/s.py:handles
    inputs: [clean_people]
    lineage: {id: [clean_people.id]}
  labels:
    function: steps/s.py:labels
    inputs: [codes]
  shout:
    function: steps/s.py:shout
    inputs: [clean_people]
checks:
  handles:
    - {rule: regex, column: nick, pattern: "^x", severity: warn}
    - {rule: accepted_values, column: id, values: [1], severity: warn}
  via:
    - {rule: accepted_values, column: handle, values: [x], severity: warn}
  labels:
    - {rule: accepted_values, column: label, values: [x], severity: warn}
  cast_via:
    - {rule: expression, expression: "CAST(handle AS INT) > 0", severity: quarantine}
"""


reported: list[str] = []  # the errors the run reported (the CLI prints them)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root: Path = tmp_path_factory.mktemp("pii")
    (root / "data").mkdir()
    (root / "data" / "people.csv").write_text("id,nick\n1,annie-secret\n2,bobby-secret\n")
    (root / "data" / "codes.csv").write_text("code,label\n1,plain-label\n")
    (root / "steps").mkdir()
    (root / "steps" / "s.py").write_text(STEPS)
    (root / "sql").mkdir()
    (root / "sql" / "via.sql").write_text("SELECT id, nick AS handle FROM handles")
    (root / "sql" / "cast_via.sql").write_text("SELECT id, nick AS handle FROM handles")
    (root / "sql" / "bad.sql").write_text("SELECT CAST(nick AS INT) AS n FROM clean_people")
    (root / "weir.yaml").write_text(CONFIG)
    ws = open_workspace(load_project(root))
    try:
        reported.extend(r.error or "" for r in run_project(ws).reports)
        yield ws
    finally:
        ws.close()


def _details(ws: Workspace, table: str) -> dict[str, str]:
    return {c.check: c.detail for c in ws.catalog.latest_checks(table)}


def test_a_column_of_a_python_step_without_lineage_over_kept_pii_shows_no_example(
    ran: Workspace,
) -> None:
    handles, via = _details(ran, "handles"), _details(ran, "via")
    assert "secret" not in json.dumps([handles, via]), (handles, via)
    assert "examples withheld" in handles["regex(nick ~ ^x)"], handles
    assert "examples withheld" in via["accepted_values(handle)"], via
    # a column whose declared lineage reaches no PII still shows its examples
    assert "e.g. 2" in handles["accepted_values(id)"], handles


def test_a_step_whose_inputs_keep_no_pii_still_shows_examples(ran: Workspace) -> None:
    assert "e.g. 'plain-label'" in _details(ran, "labels")["accepted_values(label)"]


def test_the_profile_of_an_untraceable_column_over_kept_pii_holds_no_value(
    ran: Workspace,
) -> None:
    for table in ("handles", "via"):
        record = ran.catalog.current_version(table)
        assert record is not None
        profile = ran.catalog.profile(record.id)
        assert profile is not None and "secret" not in json.dumps(profile), profile


def test_the_steps_that_read_kept_pii_are_known_through_steps_and_models(ran: Workspace) -> None:
    from weir.app.pii import kept_pii_read
    from weir.app.plan import build_plan

    models = build_plan(ran.project).sql_models
    assert kept_pii_read(ran.project, models, "via") == {"pii"}  # via handles, a Python step
    assert kept_pii_read(ran.project, models, "labels") == set()


def test_a_python_step_reading_kept_pii_fails_without_quoting_the_value(tmp_path: Path) -> None:
    import pyarrow as pa

    from weir.core.errors import StepError
    from weir.transform.python import call_step

    def step(people: pa.Table) -> pa.Table:
        return pa.table({"n": [int(v) for v in people.column("nick").to_pylist()]})

    people = {"people": pa.table({"nick": ["annie-secret"]})}
    with pytest.raises(StepError) as refused:
        call_step(step, people, "arrow", "step:n", Path(__file__), withheld=True)
    assert "ValueError" in refused.value.message and "secret" not in str(refused.value)
    assert "test_pii_withheld.py, line" in (refused.value.fix or "")  # the place still shown
    with pytest.raises(StepError, match="annie-secret"):  # no PII read: the message is whole
        call_step(step, people, "arrow", "step:n", Path(__file__))


def test_a_model_or_step_over_kept_pii_fails_without_quoting_the_value(ran: Workspace) -> None:
    """`CAST(nick AS INT)` failed with DuckDB's "Could not convert string 'annie-secret'"
    as the step's error, printed and stored in the catalog."""
    stored = {s.step: s.error or "" for s in ran.catalog.run().steps}
    bad, shout, rule = stored["sql:bad"], stored["python:shout"], stored["sql:cast_via"]
    assert "Conversion Error" in bad and "sql/bad.sql:1" in bad, bad
    assert "ValueError" in shout, shout
    # a quarantine rule failing in the engine on a model whose lineage stops at kept PII
    assert "Conversion Error" in rule, rule
    assert "secret" not in bad + shout + rule + " ".join(reported), (bad, shout, rule, reported)
