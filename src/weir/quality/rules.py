"""Check rules: each a small pure function from its config to SQL over a table named `t`.

A rule's SQL returns one row with one number: how many rows fail (for row_count, the row
count itself, judged in Python). Compiling to SQL keeps checks inside the engine and lets
sqlglot carry them to Spark later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlglot.expressions as exp

from weir.core.plugins import Registry
from weir.project.model import (
    AcceptedValuesCheck,
    NotNullCheck,
    RangeCheck,
    RowCountCheck,
    UniqueCheck,
)


@dataclass(frozen=True)
class CompiledCheck:
    """One executable check: a label for people, SQL for the engine, how to judge the number."""

    label: str
    severity: str
    sql: str
    columns: tuple[str, ...]
    judge: Callable[[int], tuple[bool, int, str]]


def ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def literal(value: Any) -> str:
    return exp.convert(value).sql("duckdb")


def _zero_failing(count: int) -> tuple[bool, int, str]:
    return count == 0, count, "" if count == 0 else f"{count} failing rows"


RULES: Registry[Callable[[Any], list[CompiledCheck]]] = Registry("check rule")


@RULES.register("not_null")
def not_null(check: NotNullCheck) -> list[CompiledCheck]:
    return [
        CompiledCheck(
            f"not_null({column})",
            check.severity,
            f"SELECT count(*) FROM t WHERE {ident(column)} IS NULL",
            (column,),
            _zero_failing,
        )
        for column in check.columns
    ]


@RULES.register("unique")
def unique(check: UniqueCheck) -> list[CompiledCheck]:
    key = ", ".join(ident(c) for c in check.columns)
    sql = f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM t GROUP BY {key} HAVING count(*) > 1)"
    return [
        CompiledCheck(
            f"unique({', '.join(check.columns)})",
            check.severity,
            sql,
            tuple(check.columns),
            _zero_failing,
        )
    ]


@RULES.register("accepted_values")
def accepted_values(check: AcceptedValuesCheck) -> list[CompiledCheck]:
    values = ", ".join(literal(v) for v in check.values)
    column = ident(check.column)
    sql = f"SELECT count(*) FROM t WHERE {column} IS NOT NULL AND {column} NOT IN ({values})"
    return [
        CompiledCheck(
            f"accepted_values({check.column})", check.severity, sql, (check.column,), _zero_failing
        )
    ]


@RULES.register("range")
def value_range(check: RangeCheck) -> list[CompiledCheck]:
    column = ident(check.column)
    outside = []
    if check.min is not None:
        outside.append(f"{column} < {literal(check.min)}")
    if check.max is not None:
        outside.append(f"{column} > {literal(check.max)}")
    sql = f"SELECT count(*) FROM t WHERE {' OR '.join(outside)}"
    bounds = f"[{'' if check.min is None else check.min}, {'' if check.max is None else check.max}]"
    return [
        CompiledCheck(
            f"range({check.column} in {bounds})",
            check.severity,
            sql,
            (check.column,),
            _zero_failing,
        )
    ]


@RULES.register("row_count")
def row_count(check: RowCountCheck) -> list[CompiledCheck]:
    def judge(count: int) -> tuple[bool, int, str]:
        too_few = check.min is not None and count < check.min
        too_many = check.max is not None and count > check.max
        if too_few or too_many:
            return False, count, f"{count} rows, expected {check.min or 0}..{check.max or 'any'}"
        return True, 0, f"{count} rows"

    return [CompiledCheck("row_count", check.severity, "SELECT count(*) FROM t", (), judge)]


def compile_check(check: Any) -> list[CompiledCheck]:
    return RULES.get(check.rule)(check)
