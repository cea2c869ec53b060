"""Cleaning and governance in weir.yaml: rules applied in order, then column policies.

    clean:
      transactions:                 # the raw table to clean
        into: clean_transactions    # the table it makes (default: clean_<table>)
        rules: [...]                # applied in order; every change is counted
    governance:
      key: ${WEIR_PSEUDONYM_KEY}    # HMAC key for pseudonymisation
      columns:
        customers.email: {class: pii.email, action: pseudonymise}

Governance of a table's columns is applied by that table's clean step, after its rules.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from weir.project.base import (
    COLUMN_TYPES,
    ZONE_NAME_FORMAT,
    Documented,
    Strict,
    TimeKeys,
    has_directive,
)


class _Rule(Strict):
    description: str | None = None


class DropMissing(_Rule):
    rule: Literal["drop_missing"]
    columns: list[str] = Field(min_length=1, description="a row is dropped if any of these is null")


class FillMissing(_Rule):
    rule: Literal["fill_missing"]
    columns: list[str] = Field(min_length=1)
    strategy: Literal["constant", "mean", "median", "mode"]
    value: str | int | float | bool | None = None

    @model_validator(mode="after")
    def _value(self) -> FillMissing:
        if (self.strategy == "constant") != (self.value is not None):
            raise ValueError("strategy 'constant' needs 'value', and only it takes one")
        return self


class ForwardFill(_Rule):
    rule: Literal["forward_fill"]
    columns: list[str] = Field(min_length=1)
    by: list[str] = Field(default_factory=list, description="fill within each key")
    order_by: str = Field(description="the time (or sequence) column")


class Deduplicate(_Rule):
    rule: Literal["deduplicate"]
    key: list[str] | None = Field(
        default=None, description="default: whole rows (exact duplicates)"
    )
    keep: Literal["first", "last"] = "first"
    order_by: str | None = Field(default=None, description="what first and last mean")

    @model_validator(mode="after")
    def _order(self) -> Deduplicate:
        if self.key and self.order_by is None:
            raise ValueError("with a key, say which row to keep with order_by (e.g. a timestamp)")
        return self


class Outliers(_Rule):
    rule: Literal["outliers"]
    column: str
    method: Literal["percentile", "iqr", "zscore"]
    action: Literal["clip", "flag"] = Field(
        description="flag adds a boolean column <column>_outlier"
    )
    lower: float = Field(default=0.01, ge=0, le=1, description="percentile method: lower quantile")
    upper: float = Field(default=0.99, ge=0, le=1, description="percentile method: upper quantile")
    k: float = Field(
        default=1.5, gt=0, description="iqr method: fences at q1 - k*iqr and q3 + k*iqr"
    )
    threshold: float = Field(default=3.0, gt=0, description="zscore method: |z| above this")

    @model_validator(mode="after")
    def _quantiles(self) -> Outliers:
        if self.lower >= self.upper:
            raise ValueError("lower must be below upper")
        return self


class Cast(_Rule):
    rule: Literal["cast"]
    column: str
    to: str
    on_error: Literal["null", "fail"] = "fail"

    @field_validator("to")
    @classmethod
    def _type(cls, value: str) -> str:
        if value not in COLUMN_TYPES:
            from weir.core.suggest import suggestion_text

            raise ValueError(f"unknown type '{value}'; {suggestion_text(value, COLUMN_TYPES)}")
        return value


class Trim(_Rule):
    rule: Literal["trim"]
    columns: list[str] = Field(min_length=1)


class Case(_Rule):
    rule: Literal["case"]
    columns: list[str] = Field(min_length=1)
    to: Literal["upper", "lower", "title"]


class NormaliseWhitespace(_Rule):
    rule: Literal["normalise_whitespace"]
    columns: list[str] = Field(
        min_length=1, description="runs of whitespace become one space; ends trimmed"
    )


class ParseDatetime(_Rule, TimeKeys):
    rule: Literal["parse_datetime"]
    column: str
    formats: list[str] = Field(
        min_length=1,
        description="strptime formats; a text two of them read differently is not converted",
    )
    on_error: Literal["null", "fail"] = "fail"

    @model_validator(mode="after")
    def _needs_zone(self) -> ParseDatetime:
        named = [f for f in self.formats if has_directive(f, "Z")]
        if named:
            raise ValueError(f"format '{named[0]}' {ZONE_NAME_FORMAT}")
        naive = [f for f in self.formats if not has_directive(f, "z")]
        if naive and self.timezone is None:
            raise ValueError(
                f"format '{naive[0]}' reads times without an offset; say which zone they are "
                "in with timezone (e.g. Europe/Paris or UTC)"
            )
        return self


CleaningRule = Annotated[
    DropMissing
    | FillMissing
    | ForwardFill
    | Deduplicate
    | Outliers
    | Cast
    | Trim
    | Case
    | NormaliseWhitespace
    | ParseDatetime,
    Field(discriminator="rule"),
]


class CleanConfig(Documented):
    into: str | None = Field(default=None, description="the table made; default clean_<table>")
    rules: list[CleaningRule] = Field(default_factory=list)


PII_CLASS = re.compile(r"^[a-z]+(\.[a-z_]+)*$")


class ColumnPolicy(Strict):
    class_: str = Field(alias="class", description="e.g. pii, pii.email, sensitive")
    action: Literal["pseudonymise", "mask", "truncate", "drop", "keep"]
    keep_last: int = Field(default=0, ge=0, description="mask: characters left visible at the end")
    to: Literal["year", "month", "day"] | None = Field(default=None, description="truncate: dates")
    length: int | None = Field(
        default=None, ge=1, description="truncate: text to this many characters"
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("class_")
    @classmethod
    def _class(cls, value: str) -> str:
        if not PII_CLASS.match(value):
            raise ValueError(
                f"'{value}' is not a class name; use lower-case words joined by dots, e.g. pii.email"
            )
        return value

    @model_validator(mode="after")
    def _truncate(self) -> ColumnPolicy:
        if self.action == "truncate" and (self.to is None) == (self.length is None):
            raise ValueError(
                "truncate takes either 'to' (year, month, day) for dates or 'length' for text"
            )
        return self

    @property
    def is_pii(self) -> bool:
        return self.class_ == "pii" or self.class_.startswith("pii.")


class GovernanceConfig(Strict):
    key: str | None = Field(
        default=None, description="HMAC key for pseudonymise; from the environment"
    )
    columns: dict[str, ColumnPolicy] = Field(
        default_factory=dict, description="'table.column' -> policy"
    )

    @field_validator("columns")
    @classmethod
    def _qualified(cls, value: dict[str, ColumnPolicy]) -> dict[str, ColumnPolicy]:
        for name in value:
            if name.count(".") != 1 or not all(name.split(".")):
                raise ValueError(f"'{name}': name columns as table.column")
        return value

    @model_validator(mode="after")
    def _key(self) -> GovernanceConfig:
        if any(p.action == "pseudonymise" for p in self.columns.values()) and not self.key:
            raise ValueError(
                "pseudonymise needs governance.key; set it from the environment: key: ${WEIR_PSEUDONYM_KEY}"
            )
        if self.key is not None and len(self.key) < 16:
            raise ValueError("governance.key must be at least 16 characters")
        return self

    def for_table(self, table: str) -> dict[str, ColumnPolicy]:
        return {
            name.split(".", 1)[1]: policy
            for name, policy in self.columns.items()
            if name.split(".", 1)[0] == table
        }
