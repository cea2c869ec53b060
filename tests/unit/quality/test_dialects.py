"""The engine seam: the SQL Weir generates (checks, cleaning, profiles, the quarantine
select, fingerprints) is a sqlglot tree, rendered in the engine's dialect. Here every tree
a real DuckDB run renders is also rendered for Spark and must parse back as Spark SQL.

Parsing back proves no DuckDB-only *syntax* leaks (`::`, `[..]` lists, `USING SAMPLE`,
QUALIFY, FILTER...). Functions are another matter: sqlglot maps the ones it knows to
Spark's names (epoch -> UNIX_TIMESTAMP, quantile_cont -> PERCENTILE_CONT), and a DuckDB
function it does not know stays as it is, which Spark would refuse at run time. Those are
the engine's declared gaps (KNOWN_GAPS, each with its reason): a new one fails this test
until it is declared or mapped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
import sqlglot.expressions as exp
from pydantic import TypeAdapter

from weir.engines import DuckDBEngine
from weir.engines import duckdb as duckdb_module
from weir.engines.sql import render
from weir.project.cleaning import CleaningRule
from weir.project.model import CheckConfig
from weir.quality import cleaning, profile, quarantine, runner
from weir.quality.cleaning import Chain, apply_rule
from weir.quality.profile import profile_table
from weir.quality.quarantine import quarantine_select
from weir.quality.rules import compile_check
from weir.quality.runner import run_checks

ENGINE = DuckDBEngine(threads=1)
SECOND = "spark"

# DuckDB functions left as they are in the Spark rendering, and why (a Spark engine must map
# each, or run that step elsewhere, before it can run Weir's own SQL)
KNOWN_GAPS = {
    "APPROX_QUANTILE": "profiles: Spark's percentile_approx (sqlglot maps the sampled exact one)",
    "ARRAY_TO_STRING": "title case (clean): Spark's array_join",
    "BIT_XOR": "fingerprints: DuckDB's row hash and xor; Spark has its own digest",
    "EQUI_WIDTH_BINS": "profile histograms: binning is DuckDB's; Spark would bin with width_bucket",
    "HASH": "fingerprints and a stable tie-break in forward_fill/deduplicate: DuckDB's hash",
    "HISTOGRAM": "profile histograms: a DuckDB aggregate",
    "ISFINITE": "NaN/Infinity handling: Spark has isnan and comparisons instead",
    "REGEXP_FULL_MATCH": "regex checks and exact casts: Spark's rlike with anchors",
    "TRY_STRPTIME": "parse_datetime: Spark's to_timestamp with Java patterns, not strptime",
    "TYPEOF": "accepted_values on text: Spark's typeof names types differently",
}
# Not functions, but DuckDB meaning under syntax Spark parses (declared here too)
KNOWN_SEMANTIC_GAPS = {
    "DESCRIBE": "cleaning reads its stage's column types with DESCRIBE and DuckDB type names",
    "TO_JSON(t)": "quarantine: the row as JSON is DuckDB's struct of a table alias",
}


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[exp.Expr]]:
    """Every tree the quality modules and the DuckDB engine render while the test runs."""
    trees: list[exp.Expr] = []

    def spy(tree: exp.Expr, dialect: str) -> str:
        trees.append(tree.copy())
        return render(tree, dialect)

    for module in (runner, cleaning, profile, quarantine, duckdb_module):
        monkeypatch.setattr(module, "render", spy)
    yield trees


# Spark functions sqlglot's Spark parser does not model (so they parse as anonymous calls)
SPARK_HAS = {"NOW"}


def _unknown_functions(sql: str) -> set[str]:
    """Functions the Spark parser does not know, in Spark SQL text (parsing it must work)."""
    tree = sqlglot.parse_one(sql, read=SECOND)
    return {f.name.upper() for f in tree.find_all(exp.Anonymous)} - SPARK_HAS


def _second_dialect(trees: list[exp.Expr]) -> set[str]:
    assert trees, "nothing was rendered"
    unknown: set[str] = set()
    for tree in trees:
        unknown |= _unknown_functions(render(tree, SECOND))
    return unknown


CHECKS: list[dict[str, Any]] = [
    {"rule": "not_null", "columns": ["id", "name"]},
    {"rule": "unique", "columns": ["id"]},
    {"rule": "accepted_values", "column": "name", "values": ["a", "b"]},
    {"rule": "range", "column": "amount", "min": 0, "max": 10},
    {"rule": "regex", "column": "name", "pattern": "^[a-z]+$"},
    {"rule": "expression", "expression": "amount >= 0 OR name = 'z'"},
    {"rule": "relationships", "column": "id", "to": "other", "field": "id"},
    {"rule": "row_count", "min": 10},
    {"rule": "aggregate", "expression": "avg(amount)", "max": 1},
    {"rule": "freshness", "column": "at", "max_age": "1d"},
]
TABLE = pa.table(
    {
        "id": [1, 1, 2, None],
        "name": ["a", "Q", None, "b"],
        "amount": [1.5, -2.0, float("nan"), 30.0],
        "at": [dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * 4,
    }
)


def test_checks_render_for_a_second_dialect(rendered: list[exp.Expr]) -> None:
    checks = [TypeAdapter(CheckConfig).validate_python(c) for c in CHECKS]
    outcomes = run_checks(ENGINE, TABLE, checks, {"other": pa.table({"id": [1]})})
    assert len(outcomes) == 11 and not all(o.passed for o in outcomes)  # they ran, and judged
    # the examples of failing rows were queried too (and rendered)
    assert any("e.g." in o.detail for o in outcomes)
    assert _second_dialect(rendered) <= set(KNOWN_GAPS)


def test_the_quarantine_select_renders_for_a_second_dialect() -> None:
    row_rules = [CHECKS[i] for i in (0, 2, 3, 4, 5)]
    checks = [
        TypeAdapter(CheckConfig).validate_python({**c, "severity": "quarantine"}) for c in row_rules
    ]
    rules = [r for c in checks for r in compile_check(c) if r.row_rule]
    tree = quarantine_select(rules)
    assert _unknown_functions(render(tree, SECOND)) <= set(KNOWN_GAPS)
    assert "TO_JSON(t)" in render(tree, SECOND)  # KNOWN_SEMANTIC_GAPS
    with ENGINE.query(render(tree, ENGINE.dialect), {"t": TABLE}) as reader:
        reasons = reader.read_all().column("__weir_reject").to_pylist()
    assert reasons[0] is None and "accepted_values(name)" in reasons[1]


CLEANING: list[dict[str, Any]] = [
    {"rule": "drop_missing", "columns": ["id"]},
    {"rule": "fill_missing", "columns": ["name"], "strategy": "mode"},
    {"rule": "fill_missing", "columns": ["amount"], "strategy": "median"},
    {"rule": "forward_fill", "columns": ["name"], "order_by": "at", "by": ["id"]},
    {"rule": "deduplicate", "key": ["id"], "order_by": "at", "keep": "last"},
    {"rule": "outliers", "column": "amount", "method": "iqr", "action": "clip"},
    {"rule": "outliers", "column": "amount", "method": "zscore", "action": "flag"},
    {"rule": "cast", "column": "id", "to": "string"},
    {"rule": "trim", "columns": ["name"]},
    {"rule": "normalise_whitespace", "columns": ["name"]},
    {"rule": "case", "columns": ["name"], "to": "title"},
    {"rule": "parse_datetime", "column": "text_at", "formats": ["%Y-%m-%d"], "timezone": "UTC"},
    {"rule": "deduplicate"},
]


def test_cleaning_renders_for_a_second_dialect(rendered: list[exp.Expr]) -> None:
    table = TABLE.append_column("text_at", pa.array(["2024-01-02", None, "2024-01-03", "x"]))
    chain = Chain(ENGINE, table, "clean.t")
    adapter: TypeAdapter[Any] = TypeAdapter(CleaningRule)
    for index, rule in enumerate(CLEANING):
        apply_rule(
            chain,
            adapter.validate_python(
                {**rule, "on_error": "null"} if rule["rule"] in ("cast", "parse_datetime") else rule
            ),
            index,
        )
    reports = chain.count()
    assert len(reports) == len(CLEANING) and reports[0].removed_rows == 1
    final = chain.query("SELECT * FROM {prev}")
    rendered.append(final)
    assert _second_dialect(rendered) <= set(KNOWN_GAPS)
    assert any(t.find(exp.Describe) for t in rendered)  # KNOWN_SEMANTIC_GAPS


def test_profiles_and_fingerprints_render_for_a_second_dialect(rendered: list[exp.Expr]) -> None:
    rows = 20_000
    big = pa.table({"x": [float(i) for i in range(rows)], "s": [str(i % 7) for i in range(rows)]})
    profiled = profile_table(ENGINE, big, sample_above=100, sample_rows=15_000)  # sampled
    assert profiled.sample_rows and profiled.column("s").top_values
    assert profiled.column("x").histogram
    ENGINE.fingerprint(big)
    assert _second_dialect(rendered) <= set(KNOWN_GAPS)
