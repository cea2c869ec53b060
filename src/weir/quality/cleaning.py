"""Cleaning rules compiled to a chain of SQL stages, each counted.

Each rule reads the stage before it and becomes one CTE. Statistics a rule needs (a median
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

from weir.core.errors import ConfigError, StepError
from weir.core.suggest import suggestion_text
from weir.engines.base import Engine, Readable
from weir.engines.split import RESERVED_PREFIX
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
from weir.quality.rules import ident, literal
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
    sql: str
    report: StageReport
    changed: str | None  # per-row count of changed values, over the previous stage
    removes_rows: bool


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

    def sql(self, final: str) -> str:
        if not self.stages:
            return final
        ctes = ", ".join(f"{s.name} AS ({s.sql})" for s in self.stages)
        return f"WITH {ctes} {final}"

    def rows(self, select: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.table(select).to_pylist()
        return result

    def table(self, select: str) -> pa.Table:
        with self.engine.query(self.sql(select), self.inputs(), self.params) as reader:
            return reader.read_all()

    def columns(self) -> dict[str, str]:
        """Column name -> DuckDB type of the current stage."""
        described = self.rows(f"SELECT * FROM (DESCRIBE SELECT * FROM {self.current})")
        return {r["column_name"]: r["column_type"] for r in described}

    def add(
        self,
        sql: str,
        report: StageReport,
        *,
        changed: str | None = None,
        removes_rows: bool = False,
    ) -> None:
        self.stages.append(
            _Stage(
                f"s{len(self.stages) + 1}",
                sql.replace("{prev}", self.current),
                report,
                changed,
                removes_rows,
            )
        )

    def final_sql(self) -> str:
        return self.sql(f"SELECT * FROM {self.current}")

    def count(self) -> list[StageReport]:
        """Fill in each stage's counts with one query over the whole chain."""
        if not self.stages:
            return []
        parts = []
        for index, stage in enumerate(self.stages):
            before = self.stages[index - 1].name if index else "t"
            if stage.removes_rows:
                parts.append(
                    f"(SELECT count(*) FROM {before}) - (SELECT count(*) FROM {stage.name})"
                )
            elif stage.changed is not None:
                parts.append(
                    f"(SELECT coalesce(sum(c), 0) FROM (SELECT {stage.changed} AS c FROM {before}))"
                )
            else:
                parts.append("0")
        [values] = self.rows("SELECT " + ", ".join(f"{p} AS c{i}" for i, p in enumerate(parts)))
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


def _replace(columns: Mapping[str, str], new: Mapping[str, str]) -> str:
    """SELECT list: every column, with `new` expressions for some, in the original order."""
    return ", ".join(f"{new[c]} AS {ident(c)}" if c in new else ident(c) for c in columns)


def _changed(new: Mapping[str, str]) -> str:
    return " + ".join(f"({ident(c)} IS DISTINCT FROM ({e}))::INT" for c, e in new.items()) or "0"


def _value_stage(
    chain: Chain,
    label: str,
    rule: str,
    new: Mapping[str, str],
    columns: Mapping[str, str],
    stats: dict[str, Any] | None = None,
) -> None:
    report = StageReport(rule, label, stats=stats or {})
    chain.add(f"SELECT {_replace(columns, new)} FROM {{prev}}", report, changed=_changed(new))


def apply_rule(chain: Chain, rule: Any, index: int) -> None:
    """Add one cleaning rule to the chain (statistics are computed now, from the chain)."""
    where = f"{chain.where}.rules.{index} ({rule.rule})"
    columns = chain.columns()
    label = rule.description or rule.rule
    if isinstance(rule, DropMissing):
        _need(columns, rule.columns, where)
        condition = " AND ".join(f"{ident(c)} IS NOT NULL" for c in rule.columns)
        chain.add(
            f"SELECT * FROM {{prev}} WHERE {condition}",
            StageReport(rule.rule, label),
            removes_rows=True,
        )
    elif isinstance(rule, FillMissing):
        _fill_missing(chain, rule, columns, where, label)
    elif isinstance(rule, ForwardFill):
        _need(columns, [*rule.columns, *rule.by, rule.order_by], where)
        partition = f"PARTITION BY {', '.join(ident(b) for b in rule.by)} " if rule.by else ""
        # rows at the same time are taken in an order their values decide, not the run's
        everything = ", ".join(ident(c) for c in columns)
        order = f"{ident(rule.order_by)}, hash({everything})"
        frame = f"({partition}ORDER BY {order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        # a row without a time has no row before it: it is left as it is
        timed = f"{ident(rule.order_by)} IS NOT NULL"
        new = {
            c: f"CASE WHEN {timed} THEN coalesce({ident(c)}, last_value({ident(c)} IGNORE NULLS) "
            f"OVER {frame}) ELSE {ident(c)} END"
            for c in rule.columns
        }
        _value_stage(chain, label, rule.rule, new, columns)
    elif isinstance(rule, Deduplicate):
        if rule.key is None:
            chain.add(
                "SELECT DISTINCT * FROM {prev}", StageReport(rule.rule, label), removes_rows=True
            )
        else:
            assert rule.order_by is not None
            _need(columns, [*rule.key, rule.order_by], where)
            direction = "ASC" if rule.keep == "first" else "DESC"
            everything = ", ".join(ident(c) for c in columns)
            order = f"{ident(rule.order_by)} {direction} NULLS LAST, hash({everything})"
            key = ", ".join(ident(k) for k in rule.key)
            # a row whose key has a null is no known duplicate of another: it stays
            unknown = " OR ".join(f"{ident(k)} IS NULL" for k in rule.key)
            [row] = chain.rows(f"SELECT count(*) AS n FROM {chain.current} WHERE {unknown}")
            chain.add(
                f"SELECT * FROM {{prev}} QUALIFY ({unknown}) OR row_number() OVER "
                f"(PARTITION BY {key} ORDER BY {order}) = 1",
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
        q, target = ident(rule.column), COLUMN_TYPES[rule.to]
        converted = exact_cast(q, columns[rule.column], target)
        failing = f"{q} IS NOT NULL AND ({converted}) IS NULL"
        _fail_if_any(chain, rule, failing, q, where)
        report = StageReport(rule.rule, label, stats={"to": rule.to})
        chain.add(
            f"SELECT {_replace(columns, {rule.column: converted})} FROM {{prev}}",
            report,
            changed=f"({failing})::INT",
        )
    elif isinstance(rule, Trim | Case | NormaliseWhitespace):
        _need(columns, rule.columns, where)
        for name in rule.columns:
            if not columns[name].startswith("VARCHAR"):
                raise ConfigError(
                    f"{where}: '{name}' is {columns[name]}, not text",
                    fix=f"{rule.rule} changes text; cast the column to string first",
                )
        new = {c: _text(rule, f"{ident(c)}") for c in rule.columns}
        _value_stage(chain, label, rule.rule, new, columns)
    elif isinstance(rule, ParseDatetime):
        _parse_datetime(chain, rule, columns, where, label)
    else:  # pragma: no cover - the config model admits no other rule
        raise ConfigError(f"{where}: unknown cleaning rule")


# Unicode whitespace (RE2): ASCII blanks, vertical tab, next line, and every separator
# (no-break space, em space, ideographic space, line and paragraph separators)
SPACE = r"[\s\x{0B}\x{85}\p{Z}]"


def _text(rule: Trim | Case | NormaliseWhitespace, q: str) -> str:
    if isinstance(rule, Trim):
        return f"regexp_replace({q}, '^{SPACE}+|{SPACE}+$', '', 'g')"
    if isinstance(rule, NormaliseWhitespace):
        runs = f"regexp_replace({q}, '{SPACE}+', ' ', 'g')"
        return f"regexp_replace({runs}, '^ | $', '', 'g')"
    if rule.to == "title":
        return f"array_to_string(list_transform(string_split(lower({q}), ' '), lambda w: upper(w[1]) || w[2:]), ' ')"
    return f"{rule.to}({q})"


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
    q = ident(rule.column)
    reads = ", ".join(
        f"try_strptime(v, {literal(fmt)}) AS f{i}" for i, fmt in enumerate(rule.formats)
    )
    texts = chain.table(
        f"SELECT v, count(*) AS n, min(r) AS r, {reads} FROM (SELECT {q} AS v, "
        f"row_number() OVER () AS r FROM {chain.current}) WHERE v IS NOT NULL "
        "GROUP BY v ORDER BY r"
    )
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
    items = ", ".join(
        f"l.{instant} AS {q}" if c == rule.column else f"p.{ident(c)}" for c in columns
    )
    chain.add(
        f"SELECT {items} FROM (SELECT *, row_number() OVER () AS {row} FROM {{prev}}) AS p "
        f"LEFT JOIN {lookup} AS l ON p.{q} = l.{text} ORDER BY p.{row}",
        StageReport(rule.rule, label, stats=stats),
        changed=f"({q} IS NOT NULL)::INT",
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


def _fail_if_any(chain: Chain, rule: Cast, failing: str, q: str, where: str) -> None:
    if rule.on_error != "fail":
        return
    fix = (
        "fix the data, or set on_error: null to null them (they are counted); a cast keeps "
        "values exact: no rounding, no NaN or Infinity, no year outside 1-9999, no time of "
        "day dropped to make a date, no time without an offset (read those with parse_datetime and a timezone)"
    )
    if rule.column in chain.withheld:
        [row] = chain.rows(f"SELECT count(*) AS n FROM {chain.current} WHERE {failing}")
        if row["n"]:
            raise StepError(
                chain.where,
                f"{where}: {row['n']} values of '{rule.column}' do not convert "
                f"(not shown: the column is {chain.withheld[rule.column]})",
                fix=fix,
            )
        return
    bad = chain.rows(f"SELECT {q}::VARCHAR AS v FROM {chain.current} WHERE {failing} LIMIT 5")
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
    new: dict[str, str] = {}
    stats: dict[str, Any] = {}
    filled: dict[str, Any] = {}
    for name in rule.columns:
        q, kind = ident(name), columns[name]
        if rule.strategy == "constant":
            new[name] = f"coalesce({q}, {_constant(chain, rule.value, name, kind, where)})"
            stats[name] = chain.shown(name, rule.value)
            continue
        if rule.strategy in ("mean", "median") and not kind.startswith(NUMERIC):
            raise ConfigError(
                f"{where}: '{name}' is {kind}; {rule.strategy} needs numbers",
                fix="use mode or constant",
            )
        finite = f" AND isfinite({q})" if kind.startswith(FLOATS) else ""
        values = f"FROM {chain.current} WHERE {q} IS NOT NULL{finite}"
        if rule.strategy == "mode":  # the most frequent; of those, the least: the same each run
            statistic = f"(SELECT {q} {values} GROUP BY {q} ORDER BY count(*) DESC, {q} LIMIT 1)"
        elif kind.startswith(FLOATS):
            function = {"mean": "avg", "median": "median"}[rule.strategy]
            statistic = f"(SELECT {function}({q}) {values})"
        else:
            exact = _exact_statistic(chain, q, rule.strategy, values)
            statistic = "NULL" if exact is None else literal(format(exact, "f"))
        gaps = f"(SELECT count(*) FROM {chain.current} WHERE {q} IS NULL)"
        [row] = chain.rows(
            f"SELECT {statistic} AS v, try_cast({statistic} AS {kind}) AS f, {gaps} AS gaps"
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
        new[name] = f"coalesce({q}, CAST({literal(row['f'])} AS {kind}))"
    report = {rule.strategy: stats} | ({"filled_with": filled} if filled else {})
    _value_stage(chain, label, rule.rule, new, columns, report)


def _exact_statistic(chain: Chain, q: str, strategy: str, values: str) -> Decimal | None:
    """The mean or median of an integer or decimal column, exactly (None without values)."""
    [row] = chain.rows(f"SELECT sum({q}) AS s, count({q}) AS n {values}")
    count = int(row["n"])
    if not count:
        return None
    if strategy == "mean":
        middle = [row["s"]]
    else:
        rows = chain.rows(
            f"SELECT {q} AS x {values} ORDER BY {q} LIMIT {2 - count % 2} OFFSET {(count - 1) // 2}"
        )
        middle, count = [r["x"] for r in rows], 2 - count % 2
    with localcontext() as context:
        context.prec = 80
        return sum((Decimal(m) for m in middle), Decimal(0)) / count


def _number(value: Decimal) -> float | str:
    """A statistic as it is recorded: a float when one holds it exactly, else its digits."""
    return float(value) if Decimal(float(value)) == value else format(value, "f")


def _constant(chain: Chain, value: Any, name: str, kind: str, where: str) -> str:
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
    expression = exact_cast(f"CAST({literal(value)} AS {source})", source, kind)
    [row] = chain.rows(f"SELECT ({expression}) IS NULL AS refused")
    if row["refused"]:
        fix = f"give a value of the column's type, or cast '{name}' first"
        if kind.startswith("DECIMAL"):  # a cast makes no decimal: the value is what to fix
            fix = f"give a number {kind} holds as it is (no more decimals than its scale)"
        raise ConfigError(
            f"{where}: value {value!r} does not fit column '{name}' ({kind}) exactly", fix=fix
        )
    return f"({expression})"


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
    q = ident(rule.column)
    floats = kind.startswith(FLOATS)
    values = f"FROM {chain.current} WHERE isfinite({q})" if floats else f"FROM {chain.current}"
    if rule.method == "percentile":
        [row] = chain.rows(f"SELECT quantile_cont({q}, [{rule.lower}, {rule.upper}]) AS b {values}")
        low, high = row["b"] or (None, None)
    elif rule.method == "iqr":
        [row] = chain.rows(f"SELECT quantile_cont({q}, [0.25, 0.75]) AS b {values}")
        q1, q3 = row["b"] or (None, None)
        k = Decimal(str(rule.k)) if isinstance(q1, Decimal) else rule.k  # a decimal's, exact
        low, high = (None, None) if q1 is None else (q1 - k * (q3 - q1), q3 + k * (q3 - q1))
    else:
        [row] = chain.rows(f"SELECT avg({q}) AS m, stddev_pop({q}) AS s {values}")
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
        [row] = chain.rows(f"SELECT count(*) AS n FROM {chain.current} WHERE isnan({q})")
        if row["n"]:
            stats["not_numbers"] = row["n"]
    report = StageReport(rule.rule, label, stats=stats)
    if low is None or high is None:
        if rule.action == "flag":  # the column is there whatever the data
            chain.add(f"SELECT *, false AS {ident(flag)} FROM {{prev}}", report, changed="0")
        else:
            chain.add("SELECT * FROM {prev}", report)
        return
    lower, upper = _fences_in(kind, low, high)
    number = f"NOT isnan({q}) AND " if floats else ""
    below, above = f"{q} < {lower}", f"{q} > {upper}"
    outside = f"({number}({below} OR {above}))"
    if rule.action == "clip":
        clipped = (
            f"CAST(CASE WHEN {number}{below} THEN {lower} "
            f"WHEN {number}{above} THEN {upper} ELSE {q} END AS {kind})"
        )
        _value_stage(chain, label, rule.rule, {rule.column: clipped}, columns, stats)
    else:
        chain.add(
            f"SELECT *, coalesce({outside}, false) AS {ident(flag)} FROM {{prev}}",
            report,
            changed=f"coalesce({outside}, false)::INT",
        )


def _fences_in(kind: str, low: Any, high: Any) -> tuple[str, str]:
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
            return (
                f"CAST({literal(str(lower))} AS {kind})",
                f"CAST({literal(str(upper))} AS {kind})",
            )
    return literal(float(low)), literal(float(high))
