"""The quarantine select: a table's rows with, for a row failing a quarantine-severity row
rule, the names of the rules it failed and the row itself as JSON.

A producing step (a SQL model, a Python step) streams its result through this select, and
`weir.engines.split` sends the rows with a reason aside. Built as a sqlglot tree from the
rules' predicates and rendered in the engine's dialect.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlglot.expressions as exp

from weir.engines.split import RAW_COLUMN, REJECT_COLUMN
from weir.engines.sql import join, literal, render, template
from weir.quality.rules import CompiledCheck


def quarantine_select(rules: Sequence[CompiledCheck]) -> exp.Select:
    """SELECT every column of `t`, then `__weir_reject` (the failed rules' labels, '; '
    between them; NULL for a good row) and `__weir_raw` (the row as JSON text, for a failing
    row only). A rule whose predicate is NULL for a row (a NULL value) does not fail it."""
    if not rules or any(r.predicate is None for r in rules):
        raise ValueError("the quarantine select takes row rules, at least one")
    failing = [template("coalesce(:p, false)", p=r.predicate) for r in rules]
    any_bad = join(failing, exp.Or, "false")
    reasons = [
        template("CASE WHEN :bad THEN :label END", bad=bad, label=literal(r.label))
        for r, bad in zip(rules, failing, strict=True)
    ]
    reject = template(
        "CASE WHEN :bad THEN concat_ws('; ', :first) END",
        bad=any_bad,
        first=reasons[0],
    )
    reject.find(exp.ConcatWs).set("expressions", [literal("; "), *reasons])
    raw = template("CASE WHEN :bad THEN to_json(t)::VARCHAR END", bad=any_bad)
    select: exp.Select = exp.select(
        exp.Star(),
        exp.alias_(reject, exp.to_identifier(REJECT_COLUMN, quoted=True)),
        exp.alias_(raw, exp.to_identifier(RAW_COLUMN, quoted=True)),
    ).from_(exp.to_table("t"))
    return select


def quarantine_sql(rules: Sequence[CompiledCheck], dialect: str) -> str:
    """`quarantine_select(rules)` as SQL text of `dialect` (the engine's)."""
    return render(quarantine_select(rules), dialect)
