"""Run a table's checks in the engine and judge them."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot.expressions as exp

from weir.core.suggest import suggestion_text
from weir.engines.base import Engine, Readable, SqlError
from weir.engines.sandbox import columns_named
from weir.engines.sql import SOURCE_DIALECT, column, render, template
from weir.quality.rules import EXAMPLES, CompiledCheck, compile_check


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    severity: str
    passed: bool
    failing: int
    detail: str


def compiled_checks(checks: Sequence[Any], severities: Sequence[str]) -> list[CompiledCheck]:
    return [c for check in checks if check.severity in severities for c in compile_check(check)]


def run_checks(
    engine: Engine,
    data: Readable,
    checks: Sequence[Any],
    others: Mapping[str, Readable] | None = None,
    severities: Sequence[str] = ("error", "warn"),
    withheld: Collection[str] = (),
) -> list[CheckOutcome]:
    """Judge every declared check of the given severities on one table version.

    A check naming a missing column, or whose SQL the engine refuses (a bad regex, an
    expression over an unknown column), fails with the reason instead of stopping the rest.
    When a row_count rule is declared and the table is empty, row rules fail rather than
    pass for want of rows.

    `withheld`: columns whose values must not be reported (governed PII of a raw table).
    On such a table, an engine's message is reduced to its kind (it may quote a value, in
    any quoting or none), and a table rule that may read such a column (by name, through
    `COLUMNS(...)`, `*` or the row itself) reports pass or fail, not its value.
    """
    columns = set(data.schema.names)
    compiled = compiled_checks(checks, severities)
    outcomes: list[CheckOutcome] = []
    empty: bool | None = None
    guarded = any(c.label == "row_count" for c in compiled)
    for check in compiled:
        missing = [c for c in check.columns if c not in columns]
        if missing:
            hint = suggestion_text(missing[0], columns)
            outcomes.append(
                CheckOutcome(
                    check.label,
                    check.severity,
                    False,
                    0,
                    f"no column '{missing[0]}' in the table; {hint}",
                )
            )
            continue
        if check.row_rule and guarded:
            if empty is None:
                empty = _scalar(engine, template("SELECT count(*) = 0 FROM t"), data, {}) is True
            if empty:
                outcomes.append(
                    CheckOutcome(
                        check.label,
                        check.severity,
                        False,
                        0,
                        "no rows to check (row_count is declared)",
                    )
                )
                continue
        try:
            value = _scalar(
                engine, check.count_query(), data, {t: (others or {})[t] for t in check.reads}
            )
        except SqlError as exc:
            message = exc.without_values() if withheld else exc.message
            outcomes.append(
                CheckOutcome(
                    check.label, check.severity, False, 0, f"the check's SQL failed: {message}"
                )
            )
            continue
        except KeyError as exc:
            outcomes.append(
                CheckOutcome(
                    check.label,
                    check.severity,
                    False,
                    0,
                    f"table {exc} is not available to the check",
                )
            )
            continue
        if check.judge is not None:
            passed, failing, detail = check.judge(value)
            if withheld and _may_read(check, columns, withheld):
                detail = f"{'within' if passed else 'outside'} bounds (value withheld: PII)"
        else:
            failing = int(value or 0)
            passed, detail = failing == 0, "" if failing == 0 else f"{failing} failing rows"
            if failing:
                tables = {"t": data, **{t: (others or {})[t] for t in check.reads}}
                detail += _examples(engine, check, tables, columns, withheld)
        outcomes.append(CheckOutcome(check.label, check.severity, passed, failing, detail))
    return outcomes


def _examples(
    engine: Engine,
    check: CompiledCheck,
    tables: Mapping[str, Readable],
    columns: Collection[str],
    withheld: Collection[str],
) -> str:
    """', e.g. 'D\u0395', 'de'': a few failing values of the columns the check judges (a
    row expression: the columns it names), or why none are shown."""
    if check.examples is not None:
        query, shown = check.examples, list(check.columns)
    else:
        shown = list(check.columns)
        if not shown and check.predicate is not None:
            read = exp.select(check.predicate.copy()).from_(exp.to_table("t"))
            named = columns_named(render(read, SOURCE_DIALECT))
            if named is None:
                return " (examples not shown: the check reads the whole row)"
            shown = [c for c in columns if c.lower() in named]
        if not shown or check.label.startswith("not_null(") or check.predicate is None:
            return ""
        query = (
            exp.select(*(column(c) for c in shown))
            .distinct()
            .from_(exp.to_table("t"))
            .where(check.predicate.copy())
            .order_by(exp.Ordered(this=exp.var("ALL"), nulls_first=False))
            .limit(EXAMPLES)
        )
    hidden = {c.lower() for c in withheld}
    if any(c.lower() in hidden for c in shown):
        return " (examples withheld: PII)"
    try:
        with engine.query(render(query, engine.dialect), tables) as reader:
            rows = reader.read_all().to_pylist()
    except SqlError:
        return ""
    if not rows:
        return ""
    return ", e.g. " + ", ".join(_example(list(r.values())) for r in rows)


def _example(values: list[Any]) -> str:
    parts = [_short(v) for v in values]
    return parts[0] if len(parts) == 1 else f"({', '.join(parts)})"


def _short(value: Any) -> str:
    """A value as a check detail shows it: quoted, control characters escaped, at most 40
    characters; text with other than ASCII letters also escaped, so that a look-alike
    (D and a Greek capital epsilon) shows how it differs."""
    if not isinstance(value, str):
        return (
            repr(value)
            if value is None or isinstance(value, bool | int | float)
            else repr(str(value))
        )
    text = value if len(value) <= 40 else value[:40] + "…"
    return repr(text) if text.isascii() else f"{text!r} ({text!a})"


def _may_read(check: CompiledCheck, columns: Collection[str], withheld: Collection[str]) -> bool:
    """Whether a table rule's value may be computed from a withheld column: it names one,
    or something that is not a column of the table's others (the row `t`, a lambda's
    parameter), or reads columns it does not name (`*`, `COLUMNS(...)`)."""
    if check.query is None:
        return False
    named = columns_named(render(check.query, SOURCE_DIALECT))
    hidden = {c.lower() for c in withheld}
    shown = {c.lower() for c in columns} - hidden
    return named is None or not named <= shown


def _scalar(engine: Engine, query: exp.Expr, data: Readable, others: Mapping[str, Readable]) -> Any:
    with engine.query(render(query, engine.dialect), {"t": data, **others}) as reader:
        return reader.read_all().column(0)[0].as_py()
