from __future__ import annotations

from pathlib import Path

import pytest

from weir.project import ProjectFileError, load_project, parse_project_text, scaffold_project
from weir.project.loader import expand_env

FILE = Path("weir.yaml")
MINIMAL = """\
name: p
sources:
  orders:
    format: csv
    path: data/orders.csv
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ProjectFileError) as info:
        parse_project_text(text, FILE, env or {})
    return [p.render(FILE) for p in info.value.problems]


def test_minimal_project_parses_with_defaults() -> None:
    config = parse_project_text(MINIMAL, FILE, {})
    assert config.workspace == ".weir"
    assert config.engine.kind == "duckdb"
    assert config.sources["orders"].csv.null_values == [""]


def test_unknown_key_names_line_key_path_and_suggestion() -> None:
    text = MINIMAL.replace("    path:", "    pth: x\n    path:")
    [message] = problems(text)
    assert message.startswith("weir.yaml:5: sources.orders.pth: unknown key 'pth'")
    assert "did you mean 'path'?" in message


def test_unknown_top_level_key_suggests() -> None:
    [message] = problems(MINIMAL + "chekcs: {}\n")
    assert "chekcs" in message and "did you mean 'checks'?" in message


def test_every_problem_is_reported_at_once() -> None:
    text = "name: p\nsources:\n  a:\n    format: xls\n    path: a.csv\n  b:\n    format: csv\n"
    found = problems(text)
    assert len(found) == 2
    assert any("sources.a.format" in m and "'xls' is not allowed" in m for m in found)
    assert any("sources.b.path: required key is missing" in m for m in found)


def test_unknown_check_rule_suggests_a_rule() -> None:
    text = MINIMAL + "checks:\n  orders:\n    - {rule: not_nul, columns: [a]}\n"
    [message] = problems(text)
    assert "unknown check rule 'not_nul'" in message and "did you mean 'not_null'?" in message


def test_unknown_key_inside_a_check_suggests_that_checks_keys() -> None:
    text = MINIMAL + "checks:\n  orders:\n    - {rule: range, colum: a, min: 0}\n"
    found = problems(text)
    assert any("colum" in m and "did you mean 'column'?" in m for m in found)


def test_range_check_needs_a_bound_and_ordered_bounds() -> None:
    assert any(
        "at least one of 'min' and 'max'" in m
        for m in problems(MINIMAL + "checks:\n  orders:\n    - {rule: range, column: a}\n")
    )
    assert any(
        "greater than max" in m
        for m in problems(
            MINIMAL + "checks:\n  orders:\n    - {rule: range, column: a, min: 5, max: 1}\n"
        )
    )


def test_unknown_column_type_suggests() -> None:
    text = MINIMAL + "    columns: {a: integer64}\n"
    assert any("unknown type 'integer64'" in m for m in problems(text))


def test_duplicate_yaml_keys_are_rejected_not_overwritten() -> None:
    text = "name: p\nname: q\n"
    [message] = problems(text)
    assert "duplicate key 'name'" in message


def test_invalid_yaml_names_the_line() -> None:
    [message] = problems("name: p\nsources: [\n")
    assert "not valid YAML" in message and "weir.yaml:" in message


def test_empty_file_and_non_mapping() -> None:
    assert "empty" in problems("")[0]
    assert "mapping" in problems("- a\n- b\n")[0]


def test_env_expansion_with_defaults_and_escapes() -> None:
    value, found = expand_env(
        {"a": "x${USER_X}y", "b": ["${MISSING:-d}"], "c": "$${literal}"}, {"USER_X": "1"}
    )
    assert value == {"a": "x1y", "b": ["d"], "c": "${literal}"}
    assert found == []


def test_missing_env_var_names_key_and_never_a_value() -> None:
    text = "name: p\ncatalog:\n  url: postgresql://u:${DB_PASSWORD}@h/db\n"
    [message] = problems(text, {"OTHER": "secret-value"})
    assert "weir.yaml:3: catalog.url: environment variable DB_PASSWORD is not set" in message
    assert "secret-value" not in message


def test_env_values_reach_the_config() -> None:
    config = parse_project_text(
        "name: p\ncatalog:\n  url: ${URL}\n", FILE, {"URL": "sqlite:///x.db"}
    )
    assert config.catalog.url == "sqlite:///x.db"


def test_names_must_be_identifiers() -> None:
    text = "name: p\nsources:\n  Bad-Name:\n    format: csv\n    path: a.csv\n"
    assert any("lower case letters" in m for m in problems(text))


def test_target_cannot_be_a_feature_and_stratified_regression_is_refused() -> None:
    base = "name: p\nml:\n  m:\n    table: t\n    target: y\n    task: {task}\n    features: {{numeric: [{feature}]}}\n"
    assert any(
        "also listed as a feature" in m
        for m in problems(base.format(task="classification", feature="y"))
    )
    text = base.format(task="regression", feature="x") + "    split: {method: stratified}\n"
    assert any("stratified split needs class labels" in m for m in problems(text))


# whole projects on disk -----------------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_scaffolded_project_loads(tmp_path: Path) -> None:
    scaffold_project(tmp_path / "p")
    project = load_project(tmp_path / "p")
    assert set(project.sql_models) == {"customer_totals", "big_spenders"}
    assert project.tables() == ["customers", "orders", "big_spenders", "customer_totals"]
    assert project.catalog_url.startswith("sqlite:///") and project.catalog_url.endswith(
        ".weir/catalog.db"
    )


def test_scaffold_refuses_to_overwrite(tmp_path: Path) -> None:
    scaffold_project(tmp_path)
    with pytest.raises(Exception, match="already exists"):
        scaffold_project(tmp_path)


def test_project_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    scaffold_project(tmp_path)
    assert load_project(tmp_path / "sql").root == tmp_path


def test_no_project_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="weir init"):
        load_project(tmp_path)


@pytest.mark.parametrize(
    "path", ["../outside.csv", "/etc/passwd", "data/../../x.csv", "//server/x.csv", "a#b.csv"]
)
def test_source_paths_cannot_leave_the_project(tmp_path: Path, path: str) -> None:
    write(
        tmp_path, {"weir.yaml": f"name: p\nsources:\n  a:\n    format: csv\n    path: '{path}'\n"}
    )
    with pytest.raises(ProjectFileError, match="leaves the project directory"):
        load_project(tmp_path)


def test_cross_section_problems(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "weir.yaml": "name: p\nsources:\n  orders: {format: csv, path: o.csv}\n"
            "models:\n  totls: {}\nchecks:\n  ordrs:\n    - {rule: row_count, min: 1}\n"
            "ml:\n  m: {table: nope, target: y, task: regression, features: {numeric: [x]}}\n",
            "sql/totals.sql": "select 1",
            "sql/Bad Name.sql": "select 1",
            "sql/orders.sql": "select 1",
        },
    )
    with pytest.raises(ProjectFileError) as info:
        load_project(tmp_path)
    text = str(info.value)
    assert "sql/Bad Name.sql" in text
    assert "models.totls: no file sql/totls.sql" in text and "did you mean 'totals'?" in text
    assert "checks.ordrs: no table 'ordrs'" in text and "did you mean 'orders'?" in text
    assert "ml.m.table: no table 'nope'" in text
    assert "both a source and sql/orders.sql" in text


def test_busy_polling_needs_the_prediction_log_that_does_it() -> None:
    serve = "serve:\n  busy_poll_ms: 2\n  log: {enabled: false}\n"
    [message] = problems(MINIMAL + serve)
    assert message.startswith("weir.yaml:") and "serve" in message
    assert "busy_poll_ms is done by the prediction-log writer" in message
    assert "turn the log on, or remove busy_poll_ms" in message
    [message] = problems(MINIMAL + "serve:\n  busy_poll_ms: -1\n")
    assert "serve.busy_poll_ms" in message
    off = parse_project_text(
        MINIMAL + "serve:\n  busy_poll_ms: 0\n  log: {enabled: false}\n", FILE, {}
    )
    assert off.serve.busy_poll_ms == 0
    assert parse_project_text(MINIMAL, FILE, {}).serve.busy_poll_ms == 0  # opt-in: off unless set


def test_engine_kind_is_a_name_the_engines_registry_decides_on() -> None:
    config = parse_project_text(MINIMAL + "engine:\n  kind: spark\n", FILE, {})
    assert config.engine.kind == "spark"  # known or not: the app asks the registry
    [message] = problems(MINIMAL + "engine:\n  kind: 'duck db'\n")
    assert "engine.kind" in message and "not an engine name" in message


def test_names_weir_reserves_for_its_own_tables_are_refused_everywhere(tmp_path: Path) -> None:
    """A table named like a quarantine or a prediction log would be written over by Weir
    (or write over Weir's): refused when the project loads, for every command, naming it."""
    write(
        tmp_path,
        {
            "weir.yaml": "name: p\nsources:\n  orders__quarantine: {format: csv, path: o.csv}\n"
            "  fraud__predictions: {format: csv, path: f.csv}\n"
            "clean:\n  orders__quarantine: {into: x__quarantine, rules: []}\n",
            "sql/totals__predictions.sql": "select 1",
        },
    )
    with pytest.raises(ProjectFileError) as info:
        load_project(tmp_path)
    text = str(info.value)
    for where in (
        "sources.orders__quarantine",
        "sources.fraud__predictions",
        "sql/totals__predictions.sql",
        "clean.orders__quarantine.into",
    ):
        assert where in text, where
    assert "ends with '__quarantine', which Weir reserves" in text
    assert "ends with '__predictions', which Weir reserves" in text
