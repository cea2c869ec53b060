"""Check rules: each a small pure function from its config to SQL over a table named `t`.

A row rule compiles to a predicate that is TRUE for a failing row: the engine counts such
rows, and a producing step can divert them to quarantine with the same predicate. A table
rule compiles to a query returning one number, judged in Python. Compiling to SQL keeps
checks inside the engine, and lets sqlglot carry them to Spark later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlglot
import sqlglot.expressions as exp
from sqlglot.errors import ParseError

from weir.core.errors import ConfigError
from weir.core.plugins import Registry
from weir.project.model import (
    AcceptedValuesCheck,
    AggregateCheck,
    ExpressionCheck,
    FreshnessCheck,
    NotNullCheck,
    RangeCheck,
    RegexCheck,
    RelationshipsCheck,
    RowCountCheck,
    UniqueCheck,
    duration_seconds,
)

Judge = Callable[[Any], tuple[bool, int, str]]


@dataclass(frozen=True)
class CompiledCheck:
    """One executable check.

    fails:     row rules: SQL boolean, TRUE for a failing row of `t`
    sql:       table rules: a query over `t` returning one value, judged by `judge`
    columns:   columns of `t` the check needs (checked before running, for a clear error)
    reads:     other tables the SQL names (relationships)
    volatile:  the result depends on the clock, so the check cannot be cached
    examples:  table rules: a query over `t` for a few values that make the check fail
               (row rules: the failing rows' values of `columns` serve)
    """

    label: str
    severity: str
    columns: tuple[str, ...] = ()
    fails: str | None = None
    sql: str | None = None
    judge: Judge | None = None
    reads: tuple[str, ...] = ()
    volatile: bool = False
    examples: str | None = None  # table rules: a query for a few failing values, if any

    @property
    def row_rule(self) -> bool:
        return self.fails is not None

    def count_sql(self) -> str:
        if self.fails is not None:
            return f"SELECT count(*) FROM t WHERE {self.fails}"
        assert self.sql is not None
        return self.sql


def ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def literal(value: Any) -> str:
    return exp.convert(value).sql("duckdb")


def sql_expression(text: str, where: str, *, aggregate: bool) -> str:
    """Parse a user's SQL expression (never splice it unparsed) and return it normalised."""
    try:
        parsed = sqlglot.parse_one(text, read="duckdb")
    except ParseError as exc:
        raise ConfigError(
            f"{where}: cannot parse {text!r}: {exc.errors[0]['description'] if exc.errors else exc}",
            fix="write one SQL expression",
        ) from None
    if isinstance(parsed, exp.Query | exp.Command) or parsed.find(exp.Select):
        raise ConfigError(
            f"{where}: {text!r} must be an expression, not a query", fix="e.g. amount >= 0"
        )
    has_aggregate = parsed.find(exp.AggFunc) is not None
    if aggregate and not has_aggregate:
        raise ConfigError(
            f"{where}: {text!r} has no aggregate", fix="e.g. avg(amount) or count(DISTINCT id)"
        )
    if not aggregate and has_aggregate:
        raise ConfigError(
            f"{where}: {text!r} aggregates; a row expression judges one row",
            fix="use rule: aggregate",
        )
    return parsed.sql("duckdb")


def _bounds_judge(low: float | None, high: float | None) -> Judge:
    def judge(value: Any) -> tuple[bool, int, str]:
        if value is None:
            return False, 1, "no value (empty table or all null)"
        number = float(value)
        ok = (low is None or number >= low) and (high is None or number <= high)
        return (
            ok,
            0 if ok else 1,
            f"value {number:g}, expected {'' if low is None else low}..{'' if high is None else high}",
        )

    return judge


EXAMPLES = 3  # values a failing check shows


RULES: Registry[Callable[[Any], list[CompiledCheck]]] = Registry("check rule")


@RULES.register("not_null")
def not_null(check: NotNullCheck) -> list[CompiledCheck]:
    return [
        CompiledCheck(f"not_null({c})", check.severity, (c,), fails=f"{ident(c)} IS NULL")
        for c in check.columns
    ]


@RULES.register("unique")
def unique(check: UniqueCheck) -> list[CompiledCheck]:
    key = ", ".join(ident(c) for c in check.columns)
    # a key with a null is no known duplicate (as deduplicate keeps such rows; not_null
    # is the rule for nulls)
    known = " AND ".join(f"{ident(c)} IS NOT NULL" for c in check.columns)
    repeated = f"FROM t WHERE {known} GROUP BY {key} HAVING count(*) > 1"
    sql = f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n {repeated})"
    return [
        CompiledCheck(
            f"unique({', '.join(check.columns)})",
            check.severity,
            tuple(check.columns),
            sql=sql,
            examples=f"SELECT {key} {repeated} ORDER BY ALL LIMIT {EXAMPLES}",
        )
    ]


@RULES.register("accepted_values")
def accepted_values(check: AcceptedValuesCheck) -> list[CompiledCheck]:
    values = ", ".join(literal(v) for v in check.values)
    column = ident(check.column)
    # text is compared as text: the engine would read '01', ' 1' and '1.0' as the number 1
    texts = ", ".join(literal(_text_form(v)) for v in check.values)
    fails = (
        f"{column} IS NOT NULL AND CASE WHEN typeof({column}) = 'VARCHAR' "
        f"THEN {column}::VARCHAR NOT IN ({texts}) ELSE {column} NOT IN ({values}) END"
    )
    return [
        CompiledCheck(
            f"accepted_values({check.column})", check.severity, (check.column,), fails=fails
        )
    ]


def _text_form(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@RULES.register("range")
def value_range(check: RangeCheck) -> list[CompiledCheck]:
    column = ident(check.column)
    below, above = ("<", ">") if check.inclusive else ("<=", ">=")
    outside = []
    if check.min is not None:
        outside.append(f"{column} {below} {literal(check.min)}")
    if check.max is not None:
        outside.append(f"{column} {above} {literal(check.max)}")
    # NaN is within no range (DuckDB orders it above every number: a min alone passed it)
    outside.append(f"coalesce(isnan(try_cast({column} AS DOUBLE)), false)")
    low = "" if check.min is None else check.min
    high = "" if check.max is None else check.max
    bounds = f"[{low}, {high}]" if check.inclusive else f"({low}, {high})"
    return [
        CompiledCheck(
            f"range({check.column} in {bounds})",
            check.severity,
            (check.column,),
            fails=" OR ".join(outside),
        )
    ]


@RULES.register("regex")
def regex(check: RegexCheck) -> list[CompiledCheck]:
    column = ident(check.column)
    fails = f"{column} IS NOT NULL AND NOT regexp_full_match({column}::VARCHAR, {literal(check.pattern)})"
    return [
        CompiledCheck(
            f"regex({check.column} ~ {check.pattern})", check.severity, (check.column,), fails=fails
        )
    ]


@RULES.register("expression")
def expression(check: ExpressionCheck) -> list[CompiledCheck]:
    text = sql_expression(check.expression, "rule expression", aggregate=False)
    return [
        CompiledCheck(
            f"expression({check.expression})",
            check.severity,
            fails=f"NOT coalesce(({text}), false)",
        )
    ]


@RULES.register("relationships")
def relationships(check: RelationshipsCheck) -> list[CompiledCheck]:
    column = ident(check.column)
    fails = f"{column} IS NOT NULL AND {column} NOT IN (SELECT {ident(check.field)} FROM {ident(check.to)} WHERE {ident(check.field)} IS NOT NULL)"
    label = f"relationships({check.column} -> {check.to}.{check.field})"
    return [CompiledCheck(label, check.severity, (check.column,), fails=fails, reads=(check.to,))]


@RULES.register("row_count")
def row_count(check: RowCountCheck) -> list[CompiledCheck]:
    def judge(count: Any) -> tuple[bool, int, str]:
        rows = int(count or 0)
        too_few = check.min is not None and rows < check.min
        too_many = check.max is not None and rows > check.max
        if too_few or too_many:
            return False, rows, f"{rows} rows, expected {check.min or 0}..{check.max or 'any'}"
        return True, 0, f"{rows} rows"

    return [CompiledCheck("row_count", check.severity, sql="SELECT count(*) FROM t", judge=judge)]


@RULES.register("aggregate")
def aggregate(check: AggregateCheck) -> list[CompiledCheck]:
    text = sql_expression(check.expression, "rule aggregate", aggregate=True)
    return [
        CompiledCheck(
            f"aggregate({check.expression})",
            check.severity,
            sql=f"SELECT ({text}) FROM t",
            judge=_bounds_judge(check.min, check.max),
        )
    ]


@RULES.register("freshness")
def freshness(check: FreshnessCheck) -> list[CompiledCheck]:
    limit = duration_seconds(check.max_age)
    column = ident(check.column)
    # a value in the future (a 9999-12-31 sentinel, a clock ahead) would make any table look
    # fresh: the newest value up to now counts
    at = f"{column}::TIMESTAMPTZ"
    sql = f"SELECT epoch(now()) - epoch(max({at}) FILTER (WHERE {at} <= now())) FROM t"

    def judge(age: Any) -> tuple[bool, int, str]:
        if age is None:
            return False, 1, "no values up to now to judge freshness by"
        seconds = float(age)
        ok = seconds <= limit
        return (
            ok,
            0 if ok else 1,
            f"newest value is {seconds / 3600:.1f}h old, limit {check.max_age}",
        )

    return [
        CompiledCheck(
            f"freshness({check.column} within {check.max_age})",
            check.severity,
            (check.column,),
            sql=sql,
            judge=judge,
            volatile=True,
        )
    ]


def compile_check(check: Any) -> list[CompiledCheck]:
    return RULES.get(check.rule)(check)
