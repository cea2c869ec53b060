"""What each step kind says it did: one frozen dataclass per kind.

A summary renders its own one-line outcome (the CLI prints it as it is, after escaping),
and `as_record()` gives the JSON the catalog stores with the step run. The stored keys are
the ones Weir has always written, so catalogs made before these types existed read back
with `from_record` (and `weir runs`, `weir demo` read new ones as they read old ones).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from weir.ingest import LineCounts
from weir.quality.cleaning import StageReport

HEADLINE_METRICS = ("roc_auc", "pr_auc", "precision", "recall", "accuracy", "rmse", "mae", "r2")


def metric_text(metrics: Mapping[str, Any], limit: int = 4) -> str:
    """The headline metrics a model has, in a fixed order: 'roc_auc 0.912, pr_auc 0.501'."""
    shown = [m for m in HEADLINE_METRICS if m in metrics][:limit]
    return ", ".join(f"{m} {metrics[m]:.3f}" for m in shown)


@dataclass(frozen=True, kw_only=True)
class _Said:
    """What every summary may carry besides its counts: warnings to show, and what a step
    repaired that a killed run had left behind."""

    warnings: tuple[str, ...] = ()
    recovered: tuple[str, ...] = ()

    def redacted(self, redact: Callable[[str], str]) -> Self:
        return dataclasses.replace(self, warnings=tuple(redact(w) for w in self.warnings))


@dataclass(frozen=True, kw_only=True)
class Quarantined:
    """Rows a step's quarantine rules set aside, and the version of the table holding them."""

    rows: int
    table: str | None = None  # 'NAME__quarantine@V'


@dataclass(frozen=True, kw_only=True)
class SourceSummary(_Said):
    """A source load: rows in, rows set aside, the table it left, and how it read."""

    table: str
    version: int
    rows: int  # rows the table holds now
    new_rows: int
    quarantine: Quarantined = Quarantined(rows=0)
    incremental: str | None = None  # 'nothing new', '2 new file(s)', 'full', ...
    unchanged: str | None = None  # a load equal to the current version, not committed
    schema: str | None = None  # how the schema changed ('v2: ...')
    lines: LineCounts | None = None  # a CSV's physical lines, accounted for
    coerced: str | None = None
    pages: int | None = None
    requests: int | None = None
    reread: str | None = None  # why the load was read again, line by line

    def outcome(self) -> str:
        if self.unchanged:
            return f"{self.unchanged} ({self.rows:,} rows)"
        text = f"{self.new_rows:,} rows in"
        if self.quarantine.rows:
            text += f", {self.quarantine.rows:,} quarantined"
        text += f" -> {self.table}@{self.version} ({self.rows:,} rows)"
        for said in (self.incremental, self.schema, self.coerced):
            if said:
                text += f"; {said}"
        if self.lines is not None:
            text += f"; lines: {self.line_account()}"
        if self.reread:
            text += f"; read again line by line ({self.reread})"
        return text

    def line_account(self) -> str:
        """'100,001 read = 1 header + 99,999 rows in + 1 quarantined': every physical line of
        a CSV load, accounted for (quarantined rows include those set aside by checks)."""
        lines = self.lines or LineCounts()
        parts = [
            (lines.header, "header"),
            (self.new_rows, "rows in"),
            (self.quarantine.rows, "quarantined"),
            (lines.blank, "empty"),
            (lines.continued, "inside quoted fields"),
        ]
        shown = [f"{n:,} {label}" for n, label in parts if n or label in ("rows in", "quarantined")]
        if sum(n for n, _ in parts) == lines.read:
            return f"{lines.read:,} read = " + " + ".join(shown)
        return " + ".join(shown) + f" do not add up to the {lines.read:,} read"

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "table": self.table,
            "version": self.version,
            "rows": self.rows,
            "new_rows": self.new_rows,
            "quarantined_rows": self.quarantine.rows,
        }
        optional: dict[str, Any] = {
            "quarantine_table": self.quarantine.table,
            "incremental": self.incremental,
            "unchanged": self.unchanged,
            "schema": self.schema,
            "lines": dataclasses.asdict(self.lines) if self.lines is not None else None,
            "recovered": list(self.recovered),
            "coerced": self.coerced,
            "pages": self.pages,
            "requests": self.requests,
            "reread": self.reread,
            "warnings": list(self.warnings),
        }
        return record | {k: v for k, v in optional.items() if v is not None and v != []}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SourceSummary:
        lines = record.get("lines")
        return cls(
            table=str(record.get("table", "")),
            version=int(record.get("version", 0)),
            rows=int(record.get("rows", 0)),
            new_rows=int(record.get("new_rows", 0)),
            quarantine=Quarantined(
                rows=int(record.get("quarantined_rows") or 0),
                table=record.get("quarantine_table"),
            ),
            incremental=record.get("incremental"),
            unchanged=record.get("unchanged"),
            schema=record.get("schema"),
            lines=LineCounts(**lines) if lines else None,
            coerced=record.get("coerced"),
            pages=record.get("pages"),
            requests=record.get("requests"),
            reread=record.get("reread"),
            recovered=tuple(record.get("recovered") or ()),
            warnings=tuple(record.get("warnings") or ()),
        )


@dataclass(frozen=True, kw_only=True)
class Incremental:
    """How an incremental SQL model was built this run."""

    how: str  # 'rebuilt', 'appended' or 'merged'
    added_rows: int | None = None  # appended
    merge: Mapping[str, int] | None = None  # merged: the lake's num_target_rows_* counts

    def text(self) -> str:
        if self.how == "appended":
            return f"; appended {self.added_rows or 0:,} rows"
        if self.how == "merged":
            merge = self.merge or {}
            inserted = merge.get("num_target_rows_inserted", 0)
            updated = merge.get("num_target_rows_updated", 0)
            return f"; merged: {inserted:,} inserted, {updated:,} updated"
        return "; rebuilt whole" if self.how == "rebuilt" else ""


@dataclass(frozen=True, kw_only=True)
class TableSummary(_Said):
    """A table a SQL model, a Python step or a clean step made.

    rows_in and rules: a clean step's rows read and what each of its rules did;
    incremental: an incremental SQL model; quarantine: a table with quarantine rules."""

    table: str
    version: int
    rows: int
    rows_in: int | None = None
    rules: tuple[StageReport, ...] | None = None
    incremental: Incremental | None = None
    quarantine: Quarantined | None = None

    def outcome(self) -> str:
        text = f"{self.rows:,} rows -> {self.table}@{self.version}"
        if self.incremental is not None:
            text += self.incremental.text()
        if self.rows_in is not None:
            text = f"{self.rows_in:,} rows in, " + text
        for rule in self.rules or ():
            text += _rule_text(rule)
        if self.quarantine is not None and self.quarantine.rows:
            text += f", {self.quarantine.rows} quarantined"
        return text

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"table": self.table, "version": self.version}
        if self.rows_in is not None:
            record["rows_in"] = self.rows_in
        record["rows"] = self.rows
        if self.rules is not None:
            record["rules"] = [dataclasses.asdict(r) for r in self.rules]
        if self.incremental is not None:
            record["incremental"] = self.incremental.how
            if self.incremental.added_rows is not None:
                record["added_rows"] = self.incremental.added_rows
            if self.incremental.merge is not None:
                record["merge"] = dict(self.incremental.merge)
        if self.quarantine is not None:
            record["quarantined_rows"] = self.quarantine.rows
            record["quarantine_table"] = self.quarantine.table
        if self.warnings:
            record["warnings"] = list(self.warnings)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TableSummary:
        how = record.get("incremental")
        quarantined = record.get("quarantined_rows")
        rules = record.get("rules")
        return cls(
            table=str(record.get("table", "")),
            version=int(record.get("version", 0)),
            rows=int(record.get("rows", 0)),
            rows_in=record.get("rows_in"),
            rules=None if rules is None else tuple(_stage_report(r) for r in rules),
            incremental=None
            if how is None
            else Incremental(
                how=how, added_rows=record.get("added_rows"), merge=record.get("merge")
            ),
            quarantine=None
            if quarantined is None
            else Quarantined(rows=int(quarantined), table=record.get("quarantine_table")),
            warnings=tuple(record.get("warnings") or ()),
        )


def _rule_text(rule: StageReport) -> str:
    """'; parse_datetime: 3 values (1 nulled, 2 repaired)': what one cleaning rule did."""
    if rule.removed_rows:
        text = f"; {rule.label}: -{rule.removed_rows:,} rows"
    elif rule.changed_values:
        text = f"; {rule.label}: {rule.changed_values:,} values"
    else:
        text = ""
    counted = [
        f"{sum(rule.stats[key].values()):,} {what}"
        for key, what in (("nulled", "nulled"), ("coerced", "repaired"))
        if isinstance(rule.stats.get(key), dict) and sum(rule.stats[key].values())
    ]
    if counted:
        text += f" ({', '.join(counted)})"
    return text


def _stage_report(record: Mapping[str, Any]) -> StageReport:
    return StageReport(
        rule=str(record.get("rule", "")),
        label=str(record.get("label", "")),
        removed_rows=int(record.get("removed_rows", 0)),
        changed_values=int(record.get("changed_values", 0)),
        stats=dict(record.get("stats") or {}),
    )


@dataclass(frozen=True, kw_only=True)
class CheckSummary(_Said):
    """A check step that passed (one that failed raises, and has no summary)."""

    table: str
    version: int
    passed: int
    warned: int
    failed: int = 0

    def outcome(self) -> str:
        return f"{self.passed} passed, {self.warned} warned"

    def as_record(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "version": self.version,
            "passed": self.passed,
            "warned": self.warned,
            "failed": self.failed,
        } | ({"warnings": list(self.warnings)} if self.warnings else {})

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CheckSummary:
        return cls(
            table=str(record.get("table", "")),
            version=int(record.get("version", 0)),
            passed=int(record.get("passed", 0)),
            warned=int(record.get("warned", 0)),
            failed=int(record.get("failed", 0)),
            warnings=tuple(record.get("warnings") or ()),
        )


@dataclass(frozen=True, kw_only=True)
class Tuning:
    trials: int
    new: int
    best: float | None


@dataclass(frozen=True, kw_only=True)
class TrainSummary(_Said):
    """A model version a train step registered, with its held-out metrics."""

    model: str
    version: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    rows: Mapping[str, int] = field(default_factory=dict)  # train / test rows
    report: str | None = None  # where its HTML report is, as the user names the path
    tuning: Tuning | None = None

    def outcome(self) -> str:
        return f"{self.model} v{self.version}: " + metric_text(self.metrics, 3)

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "model": self.model,
            "version": self.version,
            "metrics": dict(self.metrics),
            "rows": dict(self.rows),
            "report": self.report,
            "warnings": list(self.warnings),
        }
        if self.tuning is not None:
            record["tuning"] = dataclasses.asdict(self.tuning)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TrainSummary:
        """Also how the train step reads what `train_model` returns (the same keys)."""
        tuning = record.get("tuning")
        return cls(
            model=str(record.get("model", "")),
            version=int(record.get("version", 0)),
            metrics=dict(record.get("metrics") or {}),
            rows=dict(record.get("rows") or {}),
            report=record.get("report"),
            tuning=None
            if not tuning
            else Tuning(trials=tuning["trials"], new=tuning["new"], best=tuning.get("best")),
            warnings=tuple(record.get("warnings") or ()),
        )
