"""Step summaries: each kind's type reads back what it stored, reads the JSON older Weirs
stored (the keys never changed), and says the same line the run printed before."""

from __future__ import annotations

from typing import Any

import pytest

from weir.app.kinds import KINDS, stored_summary
from weir.app.kinds.summaries import (
    CheckSummary,
    Incremental,
    Quarantined,
    SourceSummary,
    TableSummary,
    TrainSummary,
    Tuning,
)
from weir.ingest import LineCounts
from weir.quality.cleaning import StageReport

EVERY_PART = [
    SourceSummary(
        table="orders",
        version=2,
        rows=1500,
        new_rows=500,
        quarantine=Quarantined(rows=3, table="orders__quarantine@1"),
        incremental="1 new file(s)",
        schema="v2: added column note",
        lines=LineCounts(read=505, header=1, blank=1, continued=0),
        coerced="coerced at: ambiguous local time read as earliest (1)",
        pages=2,
        requests=3,
        reread="a quote swallowed lines",
        recovered=("adopted orders@1",),
    ),
    SourceSummary(table="orders", version=2, rows=1500, new_rows=0, unchanged="unchanged: ..."),
    TableSummary(
        table="users",
        version=1,
        rows=3,
        incremental=Incremental(how="merged", merge={"num_target_rows_inserted": 1}),
        quarantine=Quarantined(rows=1, table="users__quarantine@1"),
    ),
    TableSummary(
        table="log", version=1, rows=3, incremental=Incremental(how="appended", added_rows=1)
    ),
    TableSummary(
        table="clean_t",
        version=0,
        rows_in=5,
        rows=4,
        rules=(StageReport("governance", "governance", 0, 6, {"email": "pii.email: drop"}),),
    ),
    TableSummary(table="clean_t", version=0, rows_in=5, rows=5, rules=()),
    CheckSummary(table="t", version=0, passed=4, warned=1),
    TrainSummary(
        model="fraud",
        version=2,
        metrics={"roc_auc": 0.9},
        rows={"train": 80, "test": 20},
        report="r.html",
        tuning=Tuning(trials=10, new=5, best=0.9),
        warnings=("lineage of x is unknown",),
    ),
]


@pytest.mark.parametrize("summary", EVERY_PART, ids=lambda s: type(s).__name__)
def test_a_summary_reads_back_what_it_stored(summary: Any) -> None:
    assert type(summary).from_record(summary.as_record()) == summary


# records as Weir wrote them before summaries were typed, and the line `weir run` printed
STORED = [
    (
        "source",
        {
            "table": "orders",
            "version": 2,
            "rows": 1500,
            "new_rows": 500,
            "quarantined_rows": 3,
            "quarantine_table": "orders__quarantine@1",
            "incremental": "1 new file(s)",
            "schema": "v2: added column note",
            "lines": {"read": 505, "header": 1, "blank": 1, "continued": 0},
            "recovered": ["adopted orders@1: a run that was stopped committed it"],
            "coerced": "coerced at: ambiguous local time read as earliest (1)",
            "reread": "a quote swallowed lines",
        },
        "500 rows in, 3 quarantined -> orders@2 (1,500 rows); 1 new file(s); v2: added column "
        "note; coerced at: ambiguous local time read as earliest (1); lines: 505 read = 1 header "
        "+ 500 rows in + 3 quarantined + 1 empty; read again line by line (a quote swallowed lines)",
    ),
    (
        "source",
        {
            "table": "api",
            "version": 0,
            "rows": 10,
            "new_rows": 10,
            "quarantined_rows": 0,
            "quarantine_table": "api__quarantine@0",
            "pages": 2,
            "requests": 3,
        },
        "10 rows in -> api@0 (10 rows)",
    ),
    (
        "source",
        {
            "table": "orders",
            "version": 2,
            "rows": 1500,
            "new_rows": 0,
            "quarantined_rows": 0,
            "incremental": "nothing new",
        },
        "0 rows in -> orders@2 (1,500 rows); nothing new",
    ),
    (
        "sql",
        {
            "table": "users",
            "version": 1,
            "rows": 3,
            "incremental": "merged",
            "merge": {"num_target_rows_inserted": 1, "num_target_rows_updated": 2},
            "quarantined_rows": 1234,
            "quarantine_table": "users__quarantine@1",
        },
        "3 rows -> users@1; merged: 1 inserted, 2 updated, 1234 quarantined",
    ),
    (
        "sql",
        {"table": "log", "version": 1, "rows": 3, "incremental": "appended", "added_rows": 1},
        "3 rows -> log@1; appended 1 rows",
    ),
    ("python", {"table": "feat", "version": 0, "rows": 7}, "7 rows -> feat@0"),
    (
        "clean",
        {
            "table": "clean_t",
            "version": 0,
            "rows_in": 5,
            "rows": 4,
            "rules": [
                {
                    "rule": "drop_missing",
                    "label": "drop_missing",
                    "removed_rows": 1,
                    "changed_values": 0,
                    "stats": {},
                },
                {
                    "rule": "governance",
                    "label": "governance",
                    "removed_rows": 0,
                    "changed_values": 6,
                    "stats": {"email": "pii.email: drop"},
                },
            ],
        },
        "5 rows in, 4 rows -> clean_t@0; drop_missing: -1 rows; governance: 6 values",
    ),
    (
        "check",
        {"table": "t", "version": 0, "passed": 4, "warned": 1, "failed": 0},
        "4 passed, 1 warned",
    ),
    (
        "train",
        {
            "model": "fraud",
            "version": 2,
            "metrics": {"roc_auc": 0.91234, "pr_auc": 0.5, "accuracy": 0.9, "recall": 0.7},
            "rows": {"train": 80, "test": 20},
            "report": ".weir/artifacts/reports/fraud/x.html",
            "warnings": ["lineage of x is unknown"],
            "tuning": {"trials": 10, "new": 5, "best": 0.9},
        },
        "fraud v2: roc_auc 0.912, pr_auc 0.500, recall 0.700",
    ),
]


@pytest.mark.parametrize(("kind", "record", "line"), STORED, ids=[s[0] for s in STORED])
def test_a_stored_record_reads_back_by_kind_says_its_line_and_stores_the_same_keys(
    kind: str, record: dict[str, Any], line: str
) -> None:
    summary = stored_summary(kind, record)
    assert summary.outcome() == line
    assert summary.as_record() == record


def test_every_kind_reads_its_summaries_back() -> None:
    assert KINDS.names() == ["check", "clean", "python", "source", "sql", "train"]
    assert all(KINDS.get(name).name == name for name in KINDS)


def test_redacting_hides_secrets_in_warnings_only() -> None:
    summary = TrainSummary(model="m", version=1, warnings=("token s3cret leaked",))
    hidden = summary.redacted(lambda text: text.replace("s3cret", "***"))
    assert hidden.warnings == ("token *** leaked",) and hidden.model == "m"
    assert isinstance(hidden, TrainSummary)


def test_a_line_account_that_does_not_add_up_says_so() -> None:
    summary = SourceSummary(
        table="t", version=0, rows=2, new_rows=2, lines=LineCounts(read=5, header=1)
    )
    assert (
        summary.line_account() == "1 header + 2 rows in + 0 quarantined do not add up to the 5 read"
    )
