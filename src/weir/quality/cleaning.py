"""Cleaning rules compiled to a chain of SQL stages, each counted.

Each rule reads the stage before it and becomes one CTE, a sqlglot tree (rendered in the
engine's dialect when the chain runs; a stage reads the one before it through the `:prev`
placeholder, which the chain fills). Statistics a rule needs (a median
to fill with, outlier fences) are computed from the stage it reads, become literals in its
SQL, and are reported, so the exact cleaning can be replayed and explained. Every rule
reports how many rows it removed or values it changed.

A statistic of a withheld column (a governed PII column: its mode is a person's e-mail, its
fences are near someone's salary) is used but never reported, and an error about such a
column counts its bad values instead of quoting them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import Any

import pyarrow as pa
import sqlglot.expressions as exp

from weir.core.errors import ConfigError, StepError
from weir.core.suggest import suggestion_text
from weir.engines.base import Engine, Readable
from weir.engines.split import RESERVED_PREFIX
from weir.engines.sql import (
    call,
    cast,
    column,
    join,
    literal,
    parse_expression,
    parse_query,
    render,
    template,
)
from weir.project.base import COLUMN_TYPES
from weir.project.cleaning import (
    Case,
    Cast,
    Deduplicate,
    DropMissing,
    FillMissing,
    ForwardFill,
    NormaliseWhitespace,
    Outliers,
    ParseDatetime,
    Trim,
)
from weir.quality.exact import FLOATS, INTEGERS, exact_cast
from weir.quality.times import read_times

NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)


@dataclass
class StageReport:
    """What one rule did: rows removed or values changed, and the statistics it used."""

    rule: str
    label: str
    removed_rows: int = 0
    changed_values: int = 0
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Stage:
    name: str
    query: exp.Select
    report: StageReport
    changed: exp.Expr | None  # per-row count of changed values, over the previous stage
    removes_rows: bool


Query = str | exp.Expr  # a tree, or DuckDB text (the governance stage's, parsed)


def _tree(query: Query, current: str) -> Any:
    """A stage's or a statistic's query as a tree reading `current` where it says `:prev`
    (text: `{prev}`, as the governance stage writes it)."""
    if isinstance(query, str):
        return parse_query(query.replace("{prev}", current))
    return exp.replace_placeholders(query.copy(), prev=exp.to_table(current))


class Chain:
    """A table flowing through stages; nothing runs until a query asks for it."""

    def __init__(
        self,
        engine: Engine,
        data: Readable,
        where: str,
        params: Mapping[str, Any] | None = None,
        withheld: Mapping[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.data = data
        self.where = where
        self.params = dict(params or {})
        self.withheld = dict(withheld or {})  # column -> class: values never reported
        self.stages: list[_Stage] = []
        self.lookups: dict[str, pa.Table] = {}  # tables a rule computed, read by its stage

    def inputs(self) -> dict[str, Readable]:
        """What the chain's SQL reads: the table `t` and the rules' lookup tables."""
        return {"t": self.data, **self.lookups}

    def shown(self, column: str, value: Any) -> Any:
        """`value`, a statistic of `column`, as it may be reported."""
        if column in self.withheld:
            return f"withheld ({self.withheld[column]})"
        return value if isinstance(value, int | float | str | bool) else str(value)

    @property
    def current(self) -> str:
        return self.stages[-1].name if self.stages else "t"

    def query(self, final: Query) -> exp.Select:
        """`final` (reading the current stage through `:prev`) after every stage as a CTE."""
        tree: exp.Select = _tree(final, self.current)
        for stage in self.stages:
            tree = tree.with_(stage.name, as_=stage.query.copy(), copy=False)
        return tree

    def sql(self, final: Query) -> str:
        return render(self.query(final), self.engine.dialect)

    def rows(self, select: Query) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.table(select).to_pylist()
        return result

    def table(self, select: Query) -> pa.Table:
        with self.engine.query(self.sql(select), self.inputs(), self.params) as reader:
            return reader.read_all()

    def columns(self) -> dict[str, str]:
        """Column name -> DuckDB type of the current stage (the rules are written against
        DuckDB's type names: a known gap for another engine)."""
        described = self.rows("SELECT * FROM (DESCRIBE SELECT * FROM {prev})")
        return {r["column_name"]: r["column_type"] for r in described}

    def add(
        self,
        query: Query,
        report: StageReport,
        *,
        changed: Query | None = None,
        removes_rows: bool = False,
    ) -> None:
        """A stage after the current one: `query` reads it as `:prev` (`{prev}` in text)."""
        per_row = None
        if isinstance(changed, str):
            per_row = parse_expression(changed)
        elif changed is not None:
            per_row = changed
        self.stages.append(
            _Stage(
                f"s{len(self.stages) + 1}",
                _tree(query, self.current),
                report,
                per_row,
                removes_rows,
            )
        )

    def final_sql(self) -> str:
        return self.sql("SELECT * FROM {prev}")

    def count(self) -> list[StageReport]:
        """Fill in each stage's counts with one query over the whole chain."""
        if not self.stages:
            return []
        parts: list[exp.Expr] = []
        for index, stage in enumerate(self.stages):
            before = exp.to_table(self.stages[index - 1].name if index else "t")
            if stage.removes_rows:
                parts.append(
                    template(
                        "(SELECT count(*) FROM :before) - (SELECT count(*) FROM :after)",
                        before=before,
                        after=exp.to_table(stage.name),
                    )
                )
            elif stage.changed is not None:
                per_row = exp.select(exp.alias_(stage.changed, "c")).from_(before)
                parts.append(
                    template("(SELECT coalesce(sum(c), 0) FROM :rows)", rows=per_row.subquery())
                )
            else:
                parts.append(literal(0))
        totals = exp.select(*(exp.alias_(p, f"c{i}") for i, p in enumerate(parts)))
        [values] = self.rows(totals)
        for stage, value in zip(self.stages, values.values(), strict=True):
            if stage.removes_rows:
                stage.report.removed_rows = int(value)
            else:
                stage.report.changed_values = int(value)
        return [s.report for s in self.stages]


def _need(columns: Mapping[str, str], names: list[str], where: str) -> None:
    for name in names:
        if name not in columns:
            raise ConfigError(
                f"{where}: no column '{name}' at this point", fix=suggestion_text(name, columns)
            )


PREV = exp.Placeholder(this="prev")  # the stage a stage reads; the chain fills it


def _replace(columns: Mapping[str, str], new: Mapping[str, exp.Expr]) -> exp.Select:
    """Every column, with `new` expressions for some, in the original order."""
    items = [
        exp.alias_(new[c].copy(), exp.to_identifier(c, quoted=True)) if c in new else column(c)
        for c in columns
    ]
    return exp.select(*items).from_(PREV.copy())


def _changed(new: Mapping[str, exp.Expr]) -> exp.Expr:
    return join(
        [
            template("(:c IS DISTINCT FROM :e)::INT", c=column(c), e=exp.Paren(this=e.copy()))
            for c, e in new.items()
        ],
        exp.Add,
        "0",
    )


def _value_stage(
    chain: Chain,
    label: str,
    rule: str,
    new: Mapping[str, exp.Expr],
    columns: Mapping[str, str],
    stats: dict[str, Any] | None = None,
) -> None:
    report = StageReport(rule, label, stats=stats or {})
    chain.add(_replace(columns, new), report, changed=_changed(new))


def _rows_of(current: str, where: exp.Expr) -> Any:
    """SELECT count(*) AS n FROM the current stage WHERE `where`."""
    return template("SELECT count(*) AS n FROM :prev WHERE :w", prev=exp.to_table(current), w=where)


def apply_rule(chain: Chain, rule: Any, index: int) -> None:
    """Add one cleaning rule to the chain (statistics are computed now, from the chain)."""
    where = f"{chain.where}.rules.{index} ({rule.rule})"
    columns = chain.columns()
    label = rule.description or rule.rule
    if isinstance(rule, DropMissing):
        _need(columns, rule.columns, where)
        condition = join(
            [template(":c IS NOT NULL", c=column(c)) for c in rule.columns], exp.And, "true"
        )
        chain.add(
            template("SELECT * FROM :prev WHERE :w", prev=PREV, w=condition),
            StageReport(rule.rule, label),
            removes_rows=True,
        )
    elif isinstance(rule, FillMissing):
        _fill_missing(chain, rule, columns, where, label)
    elif isinstance(rule, ForwardFill):
        _need(columns, [*rule.columns, *rule.by, rule.order_by], where)
        # rows at the same time are taken in an order their values decide, not the run's
        everything = call("hash", *(column(c) for c in columns))
        new = {}
        for c in rule.columns:
            # a row without a time has no row before it: it is left as it is
            filled = template(
                "CASE WHEN :o IS NOT NULL THEN coalesce(:c, last_value(:c IGNORE NULLS) OVER "
                "(ORDER BY :o, :h ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) ELSE :c END",
                o=column(rule.order_by),
                c=column(c),
                h=everything,
            )
            if rule.by:
                filled.find(exp.Window).set("partition_by", [column(b) for b in rule.by])
            new[c] = filled
        _value_stage(chain, label, rule.rule, new, columns)
    elif isinstance(rule, Deduplicate):
        if rule.key is None:
            chain.add(
                template("SELECT DISTINCT * FROM :prev", prev=PREV),
                StageReport(rule.rule, label),
                removes_rows=True,
            )
        else:
            assert rule.order_by is not None
            _need(columns, [*rule.key, rule.order_by], where)
            direction = "ASC" if rule.keep == "first" else "DESC"
            # a row whose key has a null is no known duplicate of another: it stays
            unknown = join([template(":k IS NULL", k=column(k)) for k in rule.key], exp.Or, "false")
            [row] = chain.rows(_rows_of(chain.current, unknown))
            kept = template(
                f"SELECT * FROM :prev QUALIFY :unknown OR row_number() OVER "
                f"(PARTITION BY :k ORDER BY :o {direction} NULLS LAST, :h) = 1",
                prev=PREV,
                unknown=unknown,
                k=column(rule.key[0]),
                o=column(rule.order_by),
                h=call("hash", *(column(c) for c in columns)),
            )
            kept.find(exp.Window).set("partition_by", [column(k) for k in rule.key])
            chain.add(
                kept,
                StageReport(
                    rule.rule,
                    label,
                    stats={
                        "key": rule.key,
                        "keep": rule.keep,
                        "order_by": rule.order_by,
                        "kept_with_null_key": row["n"],
                    },
                ),
                removes_rows=True,
            )
    elif isinstance(rule, Outliers):
        _outliers(chain, rule, columns, where, label)
    elif isinstance(rule, Cast):
        _need(columns, [rule.column], where)
        q, target = column(rule.column), COLUMN_TYPES[rule.to]
        converted = exact_cast(q, columns[rule.column], target)
        failing = template(":q IS NOT NULL AND :c IS NULL", q=q, c=exp.Paren(this=converted))
        _fail_if_any(chain, rule, failing, q, where)
        report = StageReport(rule.rule, label, stats={"to": rule.to})
        chain.add(
            _replace(columns, {rule.column: converted}),
            report,
            changed=template(":f::INT", f=failing),
        )
    elif isinstance(rule, Trim | Case | NormaliseWhitespace):
        _need(columns, rule.columns, where)
        for name in rule.columns:
            if not columns[name].startswith("VARCHAR"):
                raise ConfigError(
                    f"{where}: '{name}' is {columns[name]}, not text",
                    fix=f"{rule.rule} changes text; cast the column to string first",
                )
        new = {c: _text(rule, column(c)) for c in rule.columns}
        _value_stage(chain, label, rule.rule, new, columns)
    elif isinstance(rule, ParseDatetime):
        _parse_datetime(chain, rule, columns, where, label)
    else:  # pragma: no cover - the config model admits no other rule
        raise ConfigError(f"{where}: unknown cleaning rule")


# Unicode whitespace (RE2): ASCII blanks, vertical tab, next line, and every separator
# (no-break space, em space, ideographic space, line and paragraph separators)
SPACE = r"[\s\x{0B}\x{85}\p{Z}]"


def _text(rule: Trim | Case | NormaliseWhitespace, q: exp.Expr) -> exp.Expr:
    changed: exp.Expr
    if isinstance(rule, Trim):
        edges = literal(f"^{SPACE}+|{SPACE}+$")
        changed = template("regexp_replace(:q, :p, '', 'g')", q=q, p=edges)
    elif isinstance(rule, NormaliseWhitespace):
        runs = template("regexp_replace(:q, :p, ' ', 'g')", q=q, p=literal(f"{SPACE}+"))
        changed = template("regexp_replace(:runs, '^ | $', '', 'g')", runs=runs)
    elif rule.to == "title":
        changed = template(
            "array_to_string(list_transform(string_split(lower(:q), ' '), "
            "lambda w: upper(w[1]) || w[2:]), ' ')",
            q=q,
        )
    else:
        changed = call(rule.to, q)
    return changed


def _parse_datetime(
    chain: Chain, rule: ParseDatetime, columns: Mapping[str, str], where: str, label: str
) -> None:
    """Text to instants under the project's one time rule (`weir.project.times`, as ingest).

    Each distinct text is read by every format in the engine; the time rule is applied to
    the readings in Arrow, and the stage looks each text up in the result (a table the
    chain passes to the engine with `t`). A text that does not become an instant (no format
    reads it, two read it differently, the zone makes it ambiguous or skips it and the rule
    says quarantine, it falls outside years 1-9999) is what `on_error` says: the step fails
    naming it, or it becomes null, counted by reason; each repair the rule declares is
    counted."""
    _need(columns, [rule.column], where)
    if not columns[rule.column].startswith("VARCHAR"):
        raise ConfigError(
            f"{where}: '{rule.column}' is {columns[rule.column]}, not text",
            fix="parse_datetime reads text",
        )
    q = column(rule.column)
    numbered = template(
        "SELECT :q AS v, row_number() OVER () AS r FROM :prev",
        q=q,
        prev=exp.to_table(chain.current),
    )
    reads = [
        exp.alias_(template("try_strptime(v, :f)", f=literal(fmt)), f"f{i}")
        for i, fmt in enumerate(rule.formats)
    ]
    distinct = (
        exp.select(template("v"), template("count(*) AS n"), template("min(r) AS r"), *reads)
        .from_(numbered.subquery())
        .where(template("v IS NOT NULL"))
        .group_by(exp.column("v"))
        .order_by(exp.column("r"))
    )
    texts = chain.table(distinct)
    done = read_times(texts, rule)
    counts = texts.column("n").to_pylist()
    failed = done.failed
    if failed and rule.on_error == "fail":
        _refuse_times(chain, rule, texts, failed, counts, where)
    stats: dict[str, Any] = {
        "formats": rule.formats,
        "timezone": rule.timezone,
        "ambiguous_times": rule.ambiguous_times,
        "nonexistent_times": rule.nonexistent_times,
    }
    coerced: dict[str, int] = {}
    for index, what in done.repaired.items():
        coerced[what] = coerced.get(what, 0) + counts[index]
    if coerced:
        stats["coerced"] = coerced
    nulled: dict[str, int] = {}
    for index, (kind, _) in failed.items():
        nulled[kind] = nulled.get(kind, 0) + counts[index]
    if nulled:
        stats["nulled"] = nulled
    lookup = f"weir_times_{len(chain.stages) + 1}"
    text, instant, row = (f"{RESERVED_PREFIX}_{n}" for n in ("text", "instant", "row"))
    chain.lookups[lookup] = pa.table({text: texts.column("v"), instant: done.values})
    items = [
        exp.alias_(exp.column(instant, table="l"), exp.to_identifier(c, quoted=True))
        if c == rule.column
        else column(c, table="p")
        for c in columns
    ]
    numbered_rows = template(
        "SELECT *, row_number() OVER () AS :row FROM :prev", row=exp.column(row), prev=PREV
    )
    joined = (
        exp.select(*items)
        .from_(exp.alias_(numbered_rows.subquery(), "p"))
        .join(
            exp.alias_(exp.to_table(lookup), "l"),
            on=template(":a = :b", a=column(rule.column, table="p"), b=exp.column(text, table="l")),
            join_type="LEFT",
        )
        .order_by(exp.column(row, table="p"))
    )
    chain.add(
        joined,
        StageReport(rule.rule, label, stats=stats),
        changed=template("(:q IS NOT NULL)::INT", q=q),
    )


def _refuse_times(
    chain: Chain,
    rule: ParseDatetime,
    texts: pa.Table,
    failed: Mapping[int, tuple[str, str]],
    counts: list[int],
    where: str,
) -> None:
    kinds = {kind for kind, _ in failed.values()}
    fixes = ["fix the data"]
    if any("ambiguous" in k for k in kinds):
        fixes.append("declare ambiguous_times: earliest or latest (counted)")
    if any("does not exist" in k for k in kinds):
        fixes.append("declare nonexistent_times: shift_forward (counted)")
    if "no format reads it" in kinds:
        fixes.append("add formats")
    if "two formats read it differently" in kinds:
        fixes.append("keep one of the formats that disagree")
    fix = ", ".join(fixes) + ", or set on_error: null to null them (they are counted)"
    if rule.column in chain.withheld:
        by_kind: dict[str, int] = {}
        for index, (kind, _) in failed.items():
            by_kind[kind] = by_kind.get(kind, 0) + counts[index]
        listed = "; ".join(f"{k}: {n}" for k, n in sorted(by_kind.items()))
        raise StepError(
            chain.where,
            f"{where}: {sum(by_kind.values())} values of '{rule.column}' do not convert "
            f"(not shown: the column is {chain.withheld[rule.column]}): {listed}",
            fix=fix,
        )
    values = texts.column("v")
    examples = "; ".join(
        f"{values[i].as_py()!r} {detail}" for i, (_, detail) in list(failed.items())[:5]
    )
    raise StepError(
        chain.where,
        f"{where}: values of '{rule.column}' that do not convert, e.g. {examples}",
        fix=fix,
    )


def _fail_if_any(chain: Chain, rule: Cast, failing: exp.Expr, q: exp.Expr, where: str) -> None:
    if rule.on_error != "fail":
        return
    fix = (
        "fix the data, or set on_error: null to null them (they are counted); a cast keeps "
        "values exact: no rounding, no NaN or Infinity, no year outside 1-9999, no time of "
        "day dropped to make a date, no time without an offset (read those with parse_datetime and a timezone)"
    )
    if rule.column in chain.withheld:
        [row] = chain.rows(_rows_of(chain.current, failing))
        if row["n"]:
            raise StepError(
                chain.where,
                f"{where}: {row['n']} values of '{rule.column}' do not convert "
                f"(not shown: the column is {chain.withheld[rule.column]})",
                fix=fix,
            )
        return
    bad = chain.rows(
        template(
            "SELECT :q::VARCHAR AS v FROM :prev WHERE :w LIMIT 5",
            q=q,
            prev=exp.to_table(chain.current),
            w=failing,
        )
    )
    if bad:
        examples = ", ".join(repr(r["v"]) for r in bad)
        raise StepError(
            chain.where,
            f"{where}: values of '{rule.column}' that do not convert, e.g. {examples}",
            fix=fix,
        )


def _fill_missing(
    chain: Chain, rule: FillMissing, columns: Mapping[str, str], where: str, label: str
) -> None:
    """Nulls filled with a constant or a statistic. A float column's statistic is taken
    over its finite values (NaN and Infinity are no evidence of a typical value); an integer
    or decimal column's mean and median are exact (a float's would round 2^60 + 1 and a
    decimal's median is no number of its scale); the value filled is the statistic cast to
    the column's type (a mean of integers rounds), recorded as `filled_with` when it
    differs. A constant must fit the column exactly: it casts back unchanged (1.239 into
    DECIMAL(10,2) is refused, not rounded), and only a boolean fills a boolean column (true
    is not filled as 1)."""
    _need(columns, rule.columns, where)
    new: dict[str, exp.Expr] = {}
    stats: dict[str, Any] = {}
    filled: dict[str, Any] = {}
    for name in rule.columns:
        q, kind = column(name), columns[name]
        if rule.strategy == "constant":
            fill = _constant(chain, rule.value, name, kind, where)
            new[name] = template("coalesce(:q, :v)", q=q, v=fill)
            stats[name] = chain.shown(name, rule.value)
            continue
        if rule.strategy in ("mean", "median") and not kind.startswith(NUMERIC):
            raise ConfigError(
                f"{where}: '{name}' is {kind}; {rule.strategy} needs numbers",
                fix="use mode or constant",
            )
        finite = kind.startswith(FLOATS)
        values = _values_of(chain.current, q, finite)
        statistic: exp.Expr
        if rule.strategy == "mode":  # the most frequent; of those, the least: the same each run
            statistic = template(
                "SELECT :q FROM :present GROUP BY :q ORDER BY count(*) DESC, :q LIMIT 1",
                q=q,
                present=values,
            ).subquery()
        elif finite:
            function = {"mean": "avg", "median": "median"}[rule.strategy]
            statistic = exp.select(call(function, q)).from_(values).subquery()
        else:
            exact = _exact_statistic(chain, q, rule.strategy, values)
            statistic = exp.null() if exact is None else literal(format(exact, "f"))
        gaps = template(
            "(SELECT count(*) FROM :prev WHERE :q IS NULL)", prev=exp.to_table(chain.current), q=q
        )
        [row] = chain.rows(
            exp.select(
                exp.alias_(statistic, "v"),
                exp.alias_(cast(statistic, kind, safe=True), "f"),
                exp.alias_(gaps, "gaps"),
            )
        )
        exact_kind = rule.strategy != "mode" and not kind.startswith(FLOATS)
        if exact_kind:
            row["v"] = exact
        if row["v"] is None and not row["gaps"]:  # nothing to fill (no rows): no statistic
            stats[name] = None
            continue
        if row["v"] is None:
            raise StepError(
                chain.where,
                f"{where}: column '{name}' has no values to take a {rule.strategy} of"
                + (" (NaN and Infinity are not counted)" if finite else ""),
                fix="fill with a constant instead",
            )
        if row["f"] is None:
            raise StepError(
                chain.where,
                f"{where}: the {rule.strategy} of column '{name}' "
                f"({chain.shown(name, row['v'])}) does not fit its type {kind}",
                fix="fill with a constant instead",
            )
        stats[name] = chain.shown(name, _number(row["v"]) if exact_kind else row["v"])
        if row["f"] != row["v"]:
            filled[name] = chain.shown(name, row["f"])
        new[name] = template("coalesce(:q, :v)", q=q, v=cast(literal(row["f"]), kind))
    report = {rule.strategy: stats} | ({"filled_with": filled} if filled else {})
    _value_stage(chain, label, rule.rule, new, columns, report)


def _values_of(current: str, q: exp.Expr, finite: bool) -> exp.Expr:
    """The non-null (and, `finite`, finite) values of `q` in the current stage: a
    subquery of the rows that have one."""
    present = template(":q IS NOT NULL", q=q)
    if finite:
        present = template(":p AND isfinite(:q)", p=present, q=q)
    rows: exp.Expr = template(
        "SELECT * FROM :prev WHERE :w", prev=exp.to_table(current), w=present
    ).subquery()
    return rows


def _exact_statistic(chain: Chain, q: exp.Expr, strategy: str, values: exp.Expr) -> Decimal | None:
    """The mean or median of an integer or decimal column, exactly (None without values)."""
    [row] = chain.rows(template("SELECT sum(:q) AS s, count(:q) AS n FROM :v", q=q, v=values))
    count = int(row["n"])
    if not count:
        return None
    if strategy == "mean":
        middle = [row["s"]]
    else:
        rows = chain.rows(
            template("SELECT :q AS x FROM :v ORDER BY :q", q=q, v=values)
            .limit(2 - count % 2)
            .offset((count - 1) // 2)
        )
        middle, count = [r["x"] for r in rows], 2 - count % 2
    with localcontext() as context:
        context.prec = 80
        return sum((Decimal(m) for m in middle), Decimal(0)) / count


def _number(value: Decimal) -> float | str:
    """A statistic as it is recorded: a float when one holds it exactly, else its digits."""
    return float(value) if Decimal(float(value)) == value else format(value, "f")


def _constant(chain: Chain, value: Any, name: str, kind: str, where: str) -> exp.Expr:
    """SQL for a fill value of column type `kind`, refused unless it fits exactly."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: value {value} is not a number", fix="give a finite number")
    if isinstance(value, bool) != kind.startswith("BOOLEAN"):  # true is no 1, nor 1 true
        raise ConfigError(
            f"{where}: value {value!r} does not fit column '{name}' ({kind}): "
            + ("a boolean is no number or text" if isinstance(value, bool) else "it is no boolean"),
            fix=f"give a value of the column's type, or cast '{name}' first",
        )
    source = (
        "BOOLEAN"
        if isinstance(value, bool)
        else "HUGEINT"
        if isinstance(value, int)
        else "DOUBLE"
        if isinstance(value, float)
        else "VARCHAR"
    )
    expression = exact_cast(cast(literal(value), source), source, kind)
    [row] = chain.rows(template("SELECT :e IS NULL AS refused", e=exp.Paren(this=expression)))
    if row["refused"]:
        fix = f"give a value of the column's type, or cast '{name}' first"
        if kind.startswith("DECIMAL"):  # a cast makes no decimal: the value is what to fix
            fix = f"give a number {kind} holds as it is (no more decimals than its scale)"
        raise ConfigError(
            f"{where}: value {value!r} does not fit column '{name}' ({kind}) exactly", fix=fix
        )
    return exp.Paren(this=expression)


def _outliers(
    chain: Chain, rule: Outliers, columns: Mapping[str, str], where: str, label: str
) -> None:
    """Fences from the column's finite values; a value beyond them (Infinity included) is
    clipped or flagged; NaN, beyond no fence, is left as it is and counted (`not_numbers`)."""
    _need(columns, [rule.column], where)
    kind = columns[rule.column]
    if not kind.startswith(NUMERIC):
        raise ConfigError(
            f"{where}: '{rule.column}' is {kind}, not a number",
            fix="outliers apply to numbers",
        )
    flag = f"{rule.column}_outlier"
    if rule.action == "flag" and flag in columns:
        raise ConfigError(
            f"{where}: the flag column '{flag}' exists already",
            fix=f"rename or drop '{flag}' before this rule, or clip instead",
        )
    q = column(rule.column)
    floats = kind.startswith(FLOATS)
    values: exp.Expr = exp.to_table(chain.current)
    if floats:
        values = template("SELECT * FROM :prev WHERE isfinite(:q)", prev=values, q=q).subquery()

    def quantiles(*at: float) -> Any:
        points = exp.Array(expressions=[literal(p) for p in at])
        return template("SELECT quantile_cont(:q, :p) AS b FROM :v", q=q, p=points, v=values)

    if rule.method == "percentile":
        [row] = chain.rows(quantiles(rule.lower, rule.upper))
        low, high = row["b"] or (None, None)
    elif rule.method == "iqr":
        [row] = chain.rows(quantiles(0.25, 0.75))
        q1, q3 = row["b"] or (None, None)
        k = Decimal(str(rule.k)) if isinstance(q1, Decimal) else rule.k  # a decimal's, exact
        low, high = (None, None) if q1 is None else (q1 - k * (q3 - q1), q3 + k * (q3 - q1))
    else:
        [row] = chain.rows(
            template("SELECT avg(:q) AS m, stddev_pop(:q) AS s FROM :v", q=q, v=values)
        )
        mean, std = row["m"], row["s"]
        low, high = (
            (None, None)
            if mean is None
            else (mean - rule.threshold * std, mean + rule.threshold * std)
        )
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        low = high = None  # finite values too large for their spread to be a number
    stats: dict[str, Any] = {
        "method": rule.method,
        "lower_fence": low if low is None else chain.shown(rule.column, low),
        "upper_fence": high if high is None else chain.shown(rule.column, high),
    }
    if floats:
        [row] = chain.rows(_rows_of(chain.current, template("isnan(:q)", q=q)))
        if row["n"]:
            stats["not_numbers"] = row["n"]
    report = StageReport(rule.rule, label, stats=stats)
    if low is None or high is None:
        if rule.action == "flag":  # the column is there whatever the data
            chain.add(_with_flag(template("false"), flag), report, changed=literal(0))
        else:
            chain.add(template("SELECT * FROM :prev", prev=PREV), report)
        return
    lower, upper = _fences_in(kind, low, high)
    below = template(":q < :f", q=q, f=lower)
    above = template(":q > :f", q=q, f=upper)
    if floats:  # NaN is beyond no fence
        below, above = (template("NOT isnan(:q) AND :c", q=q, c=c) for c in (below, above))
    if rule.action == "clip":
        clipped = cast(
            template(
                "CASE WHEN :below THEN :lower WHEN :above THEN :upper ELSE :q END",
                below=below,
                lower=lower,
                above=above,
                upper=upper,
                q=q,
            ),
            kind,
        )
        _value_stage(chain, label, rule.rule, {rule.column: clipped}, columns, stats)
    else:
        outside = template("coalesce(:b OR :a, false)", b=below, a=above)
        chain.add(_with_flag(outside, flag), report, changed=template(":o::INT", o=outside))


def _with_flag(value: exp.Expr, flag: str) -> exp.Select:
    """Every column of the stage before, then `flag`."""
    return exp.select(exp.Star(), exp.alias_(value, exp.to_identifier(flag, quoted=True))).from_(
        PREV.copy()
    )


def _fences_in(kind: str, low: Any, high: Any) -> tuple[exp.Expr, exp.Expr]:
    """SQL for the fences as values of the column's type, moved inward onto the values it
    holds (an integer's, a decimal's last digit): a value clipped stays within them, and a
    value within them is compared and kept exactly (a float fence would make a BIGINT or
    DECIMAL column a DOUBLE, rounding the values it keeps)."""
    if kind.startswith(INTEGERS) and math.ceil(low) <= math.floor(high):
        return literal(math.ceil(low)), literal(math.floor(high))
    if kind.startswith("DECIMAL"):
        precision, _, scale = kind.partition("(")[2].rstrip(") ").partition(",")
        with localcontext() as context:
            context.prec = 100
            step = Decimal(1).scaleb(-int(scale or 0))
            limit = Decimal(10) ** (int(precision) - int(scale or 0)) - step
            lower = max(Decimal(str(low)).quantize(step, ROUND_CEILING), -limit)
            upper = min(Decimal(str(high)).quantize(step, ROUND_FLOOR), limit)
        if lower <= upper:
            return cast(literal(str(lower)), kind), cast(literal(str(upper)), kind)
    return literal(float(low)), literal(float(high))
