"""The SQL sandbox, attacked as someone writing models and checks would.

Two layers are tested apart: DuckDB's own settings (no file, no network, no extension; the
views made only after the lock) with the allow-list switched off, and the allow-list of
`weir.engines.sandbox` (what a statement may name) on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from weir.core.tables import TableFiles
from weir.engines import DuckDBEngine, SqlError
from weir.engines import duckdb as duckdb_engine
from weir.engines.sandbox import SandboxError, check_sql

ENGINE = DuckDBEngine(threads=1)
SECRET = "root:x:0:0:the-secret-line"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Files the process can read but no query may: text, JSON, Parquet, a Delta-like table
    directory holding the input version's file beside an older one and a commit log."""
    (tmp_path / "sub").mkdir()
    csv = tmp_path / "secret.csv"
    csv.write_text(f"{SECRET}\nline two\n")
    (tmp_path / "secret.json").write_text(json.dumps({"password": SECRET}) + "\n")
    pq.write_table(pa.table({"password": [SECRET]}), tmp_path / "secret.parquet")
    table = tmp_path / "lake" / "t"
    (table / "_delta_log").mkdir(parents=True)
    pq.write_table(pa.table({"a": [1]}), table / "part-1.parquet")
    pq.write_table(pa.table({"a": [2], "erased": [SECRET]}), table / "part-0.parquet")
    (table / "_delta_log" / "00000.json").write_text(json.dumps({"commitInfo": SECRET}) + "\n")
    return {
        "dir": str(tmp_path),
        "csv": str(csv),
        "json": str(tmp_path / "secret.json"),
        "parquet": str(tmp_path / "secret.parquet"),
        "table": str(table),
    }


def _inputs(files: dict[str, str]) -> dict[str, TableFiles | pa.Table]:
    current = TableFiles((f"{files['table']}/part-1.parquet",), pa.schema([("a", pa.int64())]))
    return {"t": current, "arrow": pa.table({"x": [1, 2]})}


def _run(sql: str, files: dict[str, str], views: dict[str, str] | None = None) -> str:
    """The query's whole output as text, or the engine's refusal as text."""
    try:
        with ENGINE.query(sql, _inputs(files), views=views) as reader:
            return str(reader.read_all().to_pylist())
    except SqlError as exc:
        return f"refused: {exc}"


def test_the_reported_escape_a_view_reads_a_file_and_the_catalog_tells(
    files: dict[str, str],
) -> None:
    view = (
        f"SELECT * FROM read_csv('{files['csv']}', sep='\\x01', header=true, "
        "all_varchar=true, quote='', escape='')"
    )
    leak = "SELECT column_name AS line FROM duckdb_columns() WHERE table_name = 'harmless_view'"
    answer = _run(leak, files, views={"harmless_view": view})
    assert SECRET not in answer
    assert answer.startswith("refused:") and "read_csv" in answer


# Every way DuckDB offers to read a file or the network. {csv}, {json}, ... are the files above.
FILE_READS = [
    "SELECT * FROM read_csv('{csv}')",
    "SELECT * FROM read_csv_auto('{csv}')",
    "SELECT * FROM read_csv('{csv}', sep='\\x01', header=true, all_varchar=true, quote='')",
    "SELECT * FROM read_csv('{dir}/sub/../secret.csv', header=true)",
    "SELECT * FROM read_csv('file://{csv}', header=true)",
    "SELECT * FROM '{csv}'",
    'SELECT * FROM "{csv}"',
    "SELECT * FROM read_text('{csv}')",
    "SELECT * FROM read_blob('{csv}')",
    "SELECT * FROM sniff_csv('{csv}')",
    "SELECT * FROM read_json('{json}')",
    "SELECT * FROM read_json_auto('{json}')",
    "SELECT * FROM read_ndjson('{json}')",
    "SELECT * FROM read_json_objects('{json}')",
    "SELECT * FROM read_parquet('{parquet}')",
    "SELECT * FROM parquet_scan('{parquet}')",
    "SELECT * FROM parquet_metadata('{parquet}')",
    "SELECT * FROM parquet_schema('{parquet}')",
    "SELECT * FROM parquet_kv_metadata('{parquet}')",
    "SELECT * FROM parquet_file_metadata('{parquet}')",
    "SELECT * FROM glob('{dir}/*')",
    # the input's own directory: an older version's file, the commit log, a glob over both
    "SELECT * FROM read_parquet('{table}/part-0.parquet')",
    "SELECT * FROM read_parquet('{table}/*.parquet', union_by_name = true)",
    "SELECT * FROM read_parquet('{table}/../t/part-0.parquet')",
    "SELECT * FROM read_json('{table}/_delta_log/00000.json')",
    "SELECT * FROM read_text('{table}/_delta_log/00000.json')",
    "SELECT * FROM glob('{table}/*')",
    "SELECT * FROM read_csv('http://127.0.0.1:9/secret.csv')",
    "SELECT * FROM read_parquet('https://127.0.0.1:9/secret.parquet')",
    "SELECT * FROM read_parquet('s3://bucket/secret.parquet')",
]


@pytest.mark.parametrize("sql", FILE_READS)
@pytest.mark.parametrize("place", ["query", "view"])
def test_duckdb_itself_refuses_files_and_urls_with_the_allow_list_off(
    files: dict[str, str], sql: str, place: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: even if the allow-list let a statement through, DuckDB's settings
    (locked before any view exists) keep files, sibling files and URLs out."""
    monkeypatch.setattr(duckdb_engine, "check_sql", lambda *a, **k: None, raising=False)
    text = sql.format(**files)
    if place == "query":
        answer = _run(text, files)
    else:
        # what DuckDB read when it made the view shows in the catalog: its columns
        catalog = _run(
            "SELECT * FROM duckdb_columns() WHERE table_name = 'v'", files, views={"v": text}
        )
        assert SECRET not in catalog
        answer = _run("SELECT * FROM v", files, views={"v": text})
    assert SECRET not in answer
    assert answer.startswith("refused:"), answer


# What a statement may not name, with the name the refusal must give.
NOT_ALLOWED = [
    ("SELECT current_setting('allowed_paths') AS s", "current_setting"),
    ("SELECT current_setting('secret_directory') AS s", "current_setting"),
    ("SELECT getenv('HOME') AS s", "getenv"),
    ("SELECT getvariable('x') AS s", "getvariable"),
    ("SELECT current_database() AS s", "current_database"),
    ("SELECT current_query() AS s", "current_query"),
    ("SELECT version() AS s", "version"),
    ("SELECT json_serialize_plan('SELECT * FROM t') AS s", "json_serialize_plan"),
    ("SELECT pg_get_viewdef(1) AS s", "pg_get_viewdef"),
    ("SELECT pg_catalog.current_schema() AS s", "pg_catalog.current_schema"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
    ("SELECT * FROM duckdb_databases()", "duckdb_databases"),
    ("SELECT * FROM duckdb_extensions()", "duckdb_extensions"),
    ("SELECT * FROM duckdb_tables()", "duckdb_tables"),
    ("SELECT * FROM duckdb_views()", "duckdb_views"),
    ("SELECT * FROM duckdb_columns()", "duckdb_columns"),
    ("SELECT * FROM duckdb_functions()", "duckdb_functions"),
    ("SELECT * FROM duckdb_secrets()", "duckdb_secrets"),
    ("SELECT * FROM duckdb_variables()", "duckdb_variables"),
    ("SELECT * FROM duckdb_memory()", "duckdb_memory"),
    ("SELECT * FROM pragma_version()", "pragma_version"),
    ("SELECT * FROM pragma_table_info('t')", "pragma_table_info"),
    ("SELECT * FROM pragma_database_size()", "pragma_database_size"),
    ("SELECT * FROM which_secret('s3://b/x', 's3')", "which_secret"),
    ("SELECT * FROM query('SELECT 1')", "query"),
    ("SELECT * FROM query_table('t')", "query_table"),
    ("SELECT * FROM sql_auto_complete('SEL')", "sql_auto_complete"),
    ("SELECT * FROM json_execute_serialized_sql('{}')", "json_execute_serialized_sql"),
    ("SELECT * FROM test_all_types()", "test_all_types"),
    ("SELECT * FROM duckdb_columns", "duckdb_columns"),
    ("SELECT * FROM duckdb_views", "duckdb_views"),
    ("SELECT * FROM sqlite_master", "sqlite_master"),
    ("SELECT * FROM pg_settings", "pg_settings"),
    ("SELECT * FROM pg_catalog.pg_views", "pg_catalog.pg_views"),
    ("SELECT * FROM information_schema.columns", "information_schema.columns"),
    ("SELECT * FROM main.t", "main.t"),
    ("SELECT * FROM memory.main.t", "memory.main.t"),
    ("SELECT * FROM (SHOW TABLES)", "SHOW"),
    ("SELECT * FROM (SHOW ALL TABLES)", "SHOW"),
    ("SELECT * FROM (DESCRIBE duckdb_settings)", "duckdb_settings"),
    ("SELECT * FROM (SUMMARIZE duckdb_views)", "duckdb_views"),
    ("SELECT * FROM t, (SELECT * FROM duckdb_settings()) s", "duckdb_settings"),
    ("SELECT (SELECT max(value) FROM duckdb_settings()) AS s FROM t", "duckdb_settings"),
    ("SELECT list_transform([1], x -> current_setting('threads')) AS s", "current_setting"),
    # a CTE may not stand in for a catalog view, whatever DuckDB's scoping of it
    ("WITH duckdb_tables AS (SELECT 1 AS a) SELECT * FROM duckdb_tables", "duckdb_tables"),
    (
        "WITH a AS (SELECT * FROM secret_cte), secret_cte AS (SELECT 1 AS x) SELECT * FROM a",
        "secret_cte",
    ),
    ("SELECT 1 AS a; SELECT * FROM duckdb_settings()", "2 statements"),
    ("SET enable_external_access = true", "not a SELECT"),
    ("RESET enable_external_access", "not a SELECT"),
    ("SET allowed_paths = ['/']", "not a SELECT"),
    ("PRAGMA version", "not a SELECT"),
    ("INSTALL httpfs", "not a SELECT"),
    ("LOAD httpfs", "not a SELECT"),
    ("ATTACH ':memory:' AS other", "not a SELECT"),
    ("COPY (SELECT 1) TO 'out.csv'", "not a SELECT"),
    ("EXPORT DATABASE 'out'", "not a SELECT"),
    ("CALL duckdb_settings()", "not a SELECT"),
    ("CREATE TABLE x AS SELECT 1", "not a SELECT"),
    ("SELECT * FROM (PIVOT arrow ON x USING count(*))", "PIVOT lists its values"),
]


@pytest.mark.parametrize(("sql", "named"), NOT_ALLOWED)
@pytest.mark.parametrize("place", ["query", "view"])
def test_the_allow_list_refuses_what_reads_the_session_or_runs_text(
    files: dict[str, str], sql: str, named: str, place: str
) -> None:
    if place == "query":
        answer = _run(sql, files)
    else:
        answer = _run("SELECT * FROM v", files, views={"v": sql})
    assert answer.startswith("refused:") and named in answer, answer
    assert "sandbox" in answer or "SELECT" in answer or "statements" in answer


ALLOWED = [
    "SELECT sum(a) AS s FROM t",
    "SELECT * FROM t JOIN arrow ON t.a = arrow.x",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "WITH a AS (SELECT * FROM t), b AS (SELECT * FROM a) SELECT * FROM b",
    "SELECT x, row_number() OVER (ORDER BY x) AS n FROM arrow QUALIFY n = 1",
    "SELECT * FROM range(3) r(i), generate_series(1, 2) g(j)",
    "SELECT unnest([1, 2]) AS u, list_transform([1], lambda v: v + 1) AS l",
    "SELECT * FROM unnest([1, 2]) AS u(v)",
    "SELECT * FROM json_each('{\"a\": 1}')",
    "SELECT nullif(x, 1) AS n, if(x > 1, 'a', 'b') AS i, array_to_string([1, 2], ',') AS s FROM arrow",
    "SELECT x::VARCHAR LIKE '1%' AS l, x::VARCHAR || 'z' AS c, try_cast('1' AS INT) AS t FROM arrow",
    "SELECT now() IS NOT NULL AS n, current_date IS NOT NULL AS d, random() < 2 AS r",
    "SELECT * FROM (DESCRIBE SELECT * FROM t)",
    "SELECT * FROM t USING SAMPLE 100 PERCENT (system, 42)",
    "FROM arrow SELECT x WHERE x IN (SELECT a FROM t)",
    "SELECT max(x) FILTER (WHERE x > 1) AS m, string_agg(x::VARCHAR ORDER BY x) AS s FROM arrow",
    "SELECT {'k': x}.k AS k, [x, x][1] AS first, 'Ab'.lower() AS l FROM arrow",
    "SELECT * EXCLUDE (x) FROM arrow, t",
    "SELECT COLUMNS('a') FROM t",
    "SELECT * FROM arrow PIVOT (count(*) FOR x IN (1, 2))",
    "SELECT * FROM t UNPIVOT (v FOR k IN (a))",
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_ordinary_sql_passes(files: dict[str, str], sql: str) -> None:
    assert not _run(sql, files).startswith("refused:"), _run(sql, files)


def test_a_refusal_says_where_and_how_to_fix() -> None:
    sql = "SELECT a,\n       current_setting('threads') AS s\nFROM t"
    with pytest.raises(SandboxError) as caught:
        check_sql(sql, ["t"], what="sql/m.sql")
    assert caught.value.offset == sql.index("current_setting")
    assert "sql/m.sql uses function current_setting()" in caught.value.message
    assert caught.value.fix and "Python step" in caught.value.fix
    with pytest.raises(SandboxError) as caught:
        check_sql("SELECT * FROM read_csv('x.csv')", ["t"])
    assert caught.value.fix and "sources:" in caught.value.fix


def test_connections_never_fetch_or_load_extensions_or_scan_python_variables() -> None:
    connection = ENGINE.connect()
    try:
        settings = dict(
            connection.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN ("
                "'autoinstall_known_extensions', 'autoload_known_extensions', "
                "'allow_community_extensions', 'python_enable_replacements')"
            ).fetchall()
        )
    finally:
        connection.close()
    assert settings == {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "allow_community_extensions": "false",
        "python_enable_replacements": "false",
    }
    secret_table = pa.table({"password": [SECRET]})  # noqa: F841 - what a scan would find
    with pytest.raises(SqlError), ENGINE.query("SELECT * FROM secret_table", {}) as reader:
        reader.read_all()


def test_column_names_are_data_never_sql(files: dict[str, str]) -> None:
    """Names come from headers the user does not control: Weir's own SQL (fingerprints,
    profiles, checks) quotes them, so a hostile name is just a name."""
    from weir.project.model import NotNullCheck
    from weir.quality import profile_table, run_checks

    name = f"x\" FROM read_text('{files['csv']}') --"
    table = pa.table({name: ["a", None]})
    assert ENGINE.fingerprint(table).row_count == 2
    profile = profile_table(ENGINE, table)
    assert profile.column(name).nulls == 1
    assert SECRET not in str(profile.as_record())
    [outcome] = run_checks(
        ENGINE, table, [NotNullCheck(rule="not_null", columns=[name], severity="error")]
    )
    assert outcome.failing == 1


# Through a project: the plan refuses, naming the place, before anything runs -------------


def _project(root: Path, yaml: str, models: dict[str, str]) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "events.csv").write_text("id,amount\n1,5\n2,7\n")
    (root / "weir.yaml").write_text(
        "name: m\nsources:\n  events:\n    format: csv\n    path: data/events.csv\n"
        "    columns: {id: int64, amount: int64}\n" + yaml
    )
    (root / "sql").mkdir()
    for name, text in models.items():
        (root / "sql" / name).write_text(text)
    return root


def _plan_error(root: Path) -> str:
    from weir.app import build_plan
    from weir.core import ConfigError
    from weir.project import load_project

    with pytest.raises(ConfigError) as caught:
        build_plan(load_project(root))
    return str(caught.value)


def test_the_reported_escape_is_refused_by_the_plan_and_nothing_is_made(
    tmp_path: Path, files: dict[str, str]
) -> None:
    from weir.app import open_workspace, run_project
    from weir.core import ConfigError
    from weir.project import load_project

    view = (
        "-- weir:\n--   materialized: view\n"
        f"SELECT * FROM read_csv('{files['csv']}', sep='\\x01', header=true, "
        "all_varchar=true, quote='', escape='')\n"
    )
    leak = (
        "WITH unused AS (SELECT * FROM harmless_view)\n"
        "SELECT column_name AS line FROM duckdb_columns() WHERE table_name = 'harmless_view'\n"
    )
    root = _project(tmp_path / "p", "", {"harmless_view.sql": view, "leak.sql": leak})
    message = _plan_error(root)
    assert "sql/harmless_view.sql:3:15" in message and "read_csv()" in message
    assert "sources:" in message  # the fix
    ws = open_workspace(load_project(root))
    try:
        with pytest.raises(ConfigError):
            run_project(ws)
        assert ws.catalog.current_version("leak") is None
    finally:
        ws.close()


@pytest.mark.parametrize(
    ("model", "place", "named"),
    [
        ("SELECT * FROM events, duckdb_settings()", "sql/m.sql:1:23", "duckdb_settings()"),
        (
            "SELECT id,\n  current_setting('threads') AS t\nFROM events",
            "sql/m.sql:2:3",
            "current_setting()",
        ),
        (
            "SELECT * FROM events WHERE id IN (SELECT 1 FROM query('SELECT 1'))",
            "sql/m.sql",
            "query()",
        ),
        (
            "SELECT * FROM read_parquet('.weir/lake/events/x.parquet')",
            "sql/m.sql",
            "read_parquet()",
        ),
    ],
)
def test_a_model_is_refused_at_plan_time_with_its_place(
    tmp_path: Path, model: str, place: str, named: str
) -> None:
    message = _plan_error(_project(tmp_path, "", {"m.sql": model}))
    assert message.startswith(place) and named in message, message


@pytest.mark.parametrize(
    ("check", "named"),
    [
        (
            "{rule: expression, expression: \"current_setting('threads') IS NOT NULL\"}",
            "current_setting()",
        ),
        (
            "{rule: aggregate, expression: \"max(length(current_setting('threads')))\", max: 1}",
            "current_setting()",
        ),
        (
            '{rule: expression, expression: "id IN (SELECT 1 FROM duckdb_settings())"}',
            "not a query",
        ),
        ("{rule: aggregate, expression: \"max(getvariable('x'))\", max: 1}", "getvariable()"),
    ],
)
def test_a_check_expression_is_refused_at_plan_time_with_its_place(
    tmp_path: Path, check: str, named: str
) -> None:
    root = _project(tmp_path, f"checks:\n  events:\n    - {check}\n", {})
    message = _plan_error(root)
    assert message.startswith("weir.yaml checks.events[0]") and named in message, message


def test_a_relationships_check_cannot_point_at_a_view(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        "models:\n  v: {materialized: view}\n"
        "checks:\n  events:\n    - {rule: relationships, column: id, to: v, field: id}\n",
        {"v.sql": "SELECT id FROM events"},
    )
    assert "'v' is a view" in _plan_error(root)


def test_every_table_function_but_the_listed_ones_is_refused() -> None:
    """Exhaustive over DuckDB's own list, so a table function a new DuckDB adds is refused
    until someone decides it is safe."""
    from weir.engines.sandbox import TABLE_FUNCTIONS, parser, refusals

    with parser() as connection:
        names = {
            r[0]
            for r in connection.execute(
                "SELECT DISTINCT function_name FROM duckdb_functions() "
                "WHERE function_type IN ('table', 'table_macro')"
            ).fetchall()
        }
        assert len(names) > 50
        allowed = sorted(n for n in names if not refusals(f'SELECT * FROM "{n}"()', [], connection))
    assert set(allowed) <= TABLE_FUNCTIONS, allowed


def test_every_function_that_reads_state_is_refused() -> None:
    """Exhaustive: a function DuckDB does not mark CONSISTENT is allowed only if it reads
    nothing but the clock or a random source."""
    from weir.engines.sandbox import CLOCK_AND_CHANCE, parser, refusals

    with parser() as connection:
        names = {
            r[0]
            for r in connection.execute(
                "SELECT DISTINCT function_name FROM duckdb_functions() "
                "WHERE function_type IN ('scalar', 'aggregate', 'window') "
                "AND stability <> 'CONSISTENT'"
            ).fetchall()
        }
        assert {"current_setting", "getvariable", "current_query"} <= names
        allowed = sorted(n for n in names if not refusals(f'SELECT "{n}"()', [], connection))
    assert set(allowed) <= CLOCK_AND_CHANCE, allowed
