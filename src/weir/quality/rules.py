"""Check rules: each a small pure function from its config to sqlglot trees over a table `t`.

A row rule compiles to a predicate that is TRUE for a failing row: the engine counts such
rows, and a producing step can divert them to quarantine with the same predicate. A table
rule compiles to a query returning one number, judged in Python. The trees are rendered in
the engine's dialect (`weir.engines.sql.render`) only when they run, so checks stay inside
the engine, whichever it is; a user's expression (DuckDB dialect) is parsed into the tree,
never spliced in as text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlglot.expressions as exp
from sqlglot.errors import ParseError

from weir.core.errors import ConfigError
from weir.core.plugins import Registry
from weir.engines.sql import (
    SOURCE_DIALECT,
    cast,
    column,
    join,
    parse_expression,
    render,
    template,
)
from weir.engines.sql import (
    literal as literal_node,
)
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

    predicate: row rules: a boolean tree, TRUE for a failing row of `t`
    query:     table rules: a query over `t` returning one value, judged by `judge`
    columns:   columns of `t` the check needs (checked before running, for a clear error)
    reads:     other tables the SQL names (relationships)
    volatile:  the result depends on the clock, so the check cannot be cached
    examples:  table rules: a query over `t` for a few values that make the check fail
               (row rules: the failing rows' values of `columns` serve)
    """

    label: str
    severity: str
    columns: tuple[str, ...] = ()
    predicate: exp.Expr | None = None
    query: exp.Select | None = None
    judge: Judge | None = None
    reads: tuple[str, ...] = ()
    volatile: bool = False
    examples: exp.Select | None = None

    @property
    def row_rule(self) -> bool:
        return self.predicate is not None

    def count_query(self) -> exp.Select:
        """The query whose one value the check judges: for a row rule, its failing rows."""
        if self.predicate is not None:
            counted: exp.Select = template(
                "SELECT count(*) FROM t WHERE :fails", fails=self.predicate
            )
            return counted
        assert self.query is not None
        return self.query.copy()

    def count_sql(self, dialect: str = SOURCE_DIALECT) -> str:
        return render(self.count_query(), dialect)


def ident(name: str) -> str:
    """A quoted identifier as DuckDB text (for SQL the app still writes as text)."""
    return exp.to_identifier(name, quoted=True).sql(SOURCE_DIALECT)


def literal(value: Any) -> str:
    """A literal as DuckDB text (for SQL the app still writes as text)."""
    return exp.convert(value).sql(SOURCE_DIALECT)


def user_expression(text: str, where: str, *, aggregate: bool) -> exp.Expr:
    """A user's SQL expression (DuckDB dialect) parsed into a tree (never spliced unparsed),
    refused when it is a query, or aggregates where a row is judged (or the reverse)."""
    try:
        parsed = parse_expression(text)
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
    return parsed


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
        CompiledCheck(
            f"not_null({c})", check.severity, (c,), predicate=template(":c IS NULL", c=column(c))
        )
        for c in check.columns
    ]


@RULES.register("unique")
def unique(check: UniqueCheck) -> list[CompiledCheck]:
    key = [column(c) for c in check.columns]
    # a key with a null is no known duplicate (as deduplicate keeps such rows; not_null
    # is the rule for nulls)
    known = join([template(":c IS NOT NULL", c=c) for c in key], exp.And, "true")

    def repeated(*items: exp.Expr) -> exp.Select:
        return (
            exp.select(*items)
            .from_(exp.to_table("t"))
            .where(known)
            .group_by(*key)
            .having(template("count(*) > 1"))
        )

    counts = repeated(template("count(*) AS n"))
    examples = repeated(*key).order_by(_ALL).limit(EXAMPLES)
    return [
        CompiledCheck(
            f"unique({', '.join(check.columns)})",
            check.severity,
            tuple(check.columns),
            query=template("SELECT coalesce(sum(n), 0) FROM :counts", counts=counts.subquery()),
            examples=examples,
        )
    ]


# ORDER BY ALL: every selected column, in order (examples come out the same each run)
_ALL = exp.Ordered(this=exp.var("ALL"), nulls_first=False)


@RULES.register("accepted_values")
def accepted_values(check: AcceptedValuesCheck) -> list[CompiledCheck]:
    named = column(check.column)
    # text is compared as text: the engine would read '01', ' 1' and '1.0' as the number 1
    texts = exp.In(
        this=cast(named, "VARCHAR"), expressions=[literal_node(_text_form(v)) for v in check.values]
    )
    values = exp.In(this=named.copy(), expressions=[literal_node(v) for v in check.values])
    fails = template(
        ":c IS NOT NULL AND CASE WHEN typeof(:c) = 'VARCHAR' THEN NOT :as_text ELSE NOT :as_value END",
        c=named,
        as_text=texts,
        as_value=values,
    )
    return [
        CompiledCheck(
            f"accepted_values({check.column})", check.severity, (check.column,), predicate=fails
        )
    ]


def _text_form(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@RULES.register("range")
def value_range(check: RangeCheck) -> list[CompiledCheck]:
    named = column(check.column)
    below, above = (":c < :v", ":c > :v") if check.inclusive else (":c <= :v", ":c >= :v")
    outside = []
    if check.min is not None:
        outside.append(template(below, c=named, v=literal_node(check.min)))
    if check.max is not None:
        outside.append(template(above, c=named, v=literal_node(check.max)))
    # NaN is within no range (DuckDB orders it above every number: a min alone passed it)
    outside.append(template("coalesce(isnan(try_cast(:c AS DOUBLE)), false)", c=named))
    low = "" if check.min is None else check.min
    high = "" if check.max is None else check.max
    bounds = f"[{low}, {high}]" if check.inclusive else f"({low}, {high})"
    return [
        CompiledCheck(
            f"range({check.column} in {bounds})",
            check.severity,
            (check.column,),
            predicate=join(outside, exp.Or, "false"),
        )
    ]


@RULES.register("regex")
def regex(check: RegexCheck) -> list[CompiledCheck]:
    fails = template(
        ":c IS NOT NULL AND NOT regexp_full_match(:c::VARCHAR, :pattern)",
        c=column(check.column),
        pattern=literal_node(check.pattern),
    )
    return [
        CompiledCheck(
            f"regex({check.column} ~ {check.pattern})",
            check.severity,
            (check.column,),
            predicate=fails,
        )
    ]


@RULES.register("expression")
def expression(check: ExpressionCheck) -> list[CompiledCheck]:
    judged = user_expression(check.expression, "rule expression", aggregate=False)
    return [
        CompiledCheck(
            f"expression({check.expression})",
            check.severity,
            predicate=template("NOT coalesce(:e, false)", e=exp.Paren(this=judged)),
        )
    ]


@RULES.register("relationships")
def relationships(check: RelationshipsCheck) -> list[CompiledCheck]:
    field = column(check.field)
    keys = (
        exp.select(field)
        .from_(exp.Table(this=exp.to_identifier(check.to, quoted=True)))
        .where(template(":f IS NOT NULL", f=field))
    )
    fails = template(
        ":c IS NOT NULL AND NOT :c IN :known", c=column(check.column), known=keys.subquery()
    )
    label = f"relationships({check.column} -> {check.to}.{check.field})"
    return [
        CompiledCheck(label, check.severity, (check.column,), predicate=fails, reads=(check.to,))
    ]


@RULES.register("row_count")
def row_count(check: RowCountCheck) -> list[CompiledCheck]:
    def judge(count: Any) -> tuple[bool, int, str]:
        rows = int(count or 0)
        too_few = check.min is not None and rows < check.min
        too_many = check.max is not None and rows > check.max
        if too_few or too_many:
            return False, rows, f"{rows} rows, expected {check.min or 0}..{check.max or 'any'}"
        return True, 0, f"{rows} rows"

    return [
        CompiledCheck(
            "row_count", check.severity, query=template("SELECT count(*) FROM t"), judge=judge
        )
    ]


@RULES.register("aggregate")
def aggregate(check: AggregateCheck) -> list[CompiledCheck]:
    value = user_expression(check.expression, "rule aggregate", aggregate=True)
    return [
        CompiledCheck(
            f"aggregate({check.expression})",
            check.severity,
            query=exp.select(exp.Paren(this=value)).from_(exp.to_table("t")),
            judge=_bounds_judge(check.min, check.max),
        )
    ]


@RULES.register("freshness")
def freshness(check: FreshnessCheck) -> list[CompiledCheck]:
    limit = duration_seconds(check.max_age)
    # a value in the future (a 9999-12-31 sentinel, a clock ahead) would make any table look
    # fresh: the newest value up to now counts
    age: exp.Select = template(
        "SELECT epoch(now()) - epoch(max(:instant) FILTER (WHERE :instant <= now())) FROM t",
        instant=cast(column(check.column), "TIMESTAMPTZ"),
    )

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
            query=age,
            judge=judge,
            volatile=True,
        )
    ]


def compile_check(check: Any) -> list[CompiledCheck]:
    return RULES.get(check.rule)(check)
