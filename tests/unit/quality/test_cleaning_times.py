"""parse_datetime follows the one time rule that ingest follows (`weir.project.times`): a
wall-clock time the zone makes ambiguous or skips becomes what the rule's declared
`ambiguous_times` / `nonexistent_times` say (counted), and by default it is a value the rule
cannot convert (the step fails naming it, or with `on_error: null` it is nulled, counted);
an instant outside years 1-9999 and a text two formats read differently are the same."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from weir.core import StepError
from weir.engines import DuckDBEngine
from weir.project.base import TimeRule
from weir.project.cleaning import CleaningRule
from weir.project.times import local_to_utc
from weir.quality.cleaning import Chain, StageReport, apply_rule

ENGINE = DuckDBEngine(threads=1)
RULE: TypeAdapter[Any] = TypeAdapter(CleaningRule)
UTC = dt.UTC
# the examples of ingest's tests (tests/unit/ingest/test_time_rules.py)
FALL_BACK = "2025-10-26 02:30:00"  # happens twice in Berlin: 00:30Z and 01:30Z
SPRING_FORWARD = "2025-03-30 02:30:00"  # never happens in Berlin
PLAIN = "2025-06-01 12:00:00"
FORMAT = "%Y-%m-%d %H:%M:%S"


def clean(
    table: pa.Table, rule: dict[str, Any], withheld: dict[str, str] | None = None
) -> tuple[pa.Table, StageReport]:
    chain = Chain(ENGINE, table, "clean.t", withheld=withheld)
    apply_rule(chain, RULE.validate_python(rule), 0)
    [report] = chain.count()
    with ENGINE.query(chain.final_sql(), chain.inputs()) as reader:
        return reader.read_all(), report


def parse(zone: str = "Europe/Berlin", **keys: Any) -> dict[str, Any]:
    return {"rule": "parse_datetime", "column": "at", "formats": [FORMAT], "timezone": zone} | keys


def at(*values: str | None) -> pa.Table:
    return pa.table({"id": list(range(len(values))), "at": pa.array(values, pa.string())})


def instant(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def test_by_default_an_ambiguous_or_skipped_time_is_not_converted_and_named() -> None:
    for value, why in [
        (FALL_BACK, "is ambiguous in Europe/Berlin (clocks go back)"),
        (SPRING_FORWARD, "does not exist in Europe/Berlin (clocks go forward)"),
    ]:
        with pytest.raises(StepError) as caught:
            clean(at(PLAIN, value), parse())
        assert f"'{value}' {why}" in str(caught.value)
        assert "ambiguous_times" in str(caught.value.fix) or "nonexistent_times" in str(
            caught.value.fix
        )


def test_with_on_error_null_they_become_null_and_are_counted_by_reason() -> None:
    out, report = clean(
        at(FALL_BACK, SPRING_FORWARD, PLAIN, FALL_BACK, None), parse(on_error="null")
    )
    assert out.column("at").to_pylist() == [None, None, instant(2025, 6, 1, 10), None, None]
    assert out.column("id").to_pylist() == [0, 1, 2, 3, 4]  # every row, in order
    assert report.stats["nulled"] == {
        "is ambiguous in Europe/Berlin (clocks go back)": 2,
        "does not exist in Europe/Berlin (clocks go forward)": 1,
    }
    assert report.changed_values == 4 and report.removed_rows == 0


@pytest.mark.parametrize(
    ("keys", "fall_back", "spring_forward", "coerced"),
    [
        (
            {"ambiguous_times": "earliest", "nonexistent_times": "shift_forward"},
            instant(2025, 10, 26, 0, 30),
            instant(2025, 3, 30, 1, 0),  # 03:00 local, the first instant after the gap
            {
                "at: ambiguous local time read as earliest": 2,
                "at: non-existent local time shifted forward": 1,
            },
        ),
        (
            {"ambiguous_times": "latest", "nonexistent_times": "shift_forward"},
            instant(2025, 10, 26, 1, 30),
            instant(2025, 3, 30, 1, 0),
            {
                "at: ambiguous local time read as latest": 2,
                "at: non-existent local time shifted forward": 1,
            },
        ),
    ],
)
def test_a_declared_repair_is_the_one_ingest_makes_and_is_counted(
    keys: dict[str, Any], fall_back: dt.datetime, spring_forward: dt.datetime, coerced: Any
) -> None:
    out, report = clean(at(FALL_BACK, SPRING_FORWARD, FALL_BACK), parse(**keys))
    assert out.column("at").to_pylist() == [fall_back, spring_forward, fall_back]
    assert report.stats["coerced"] == coerced and "nulled" not in report.stats
    rule = TimeRule("Europe/Berlin", keys["ambiguous_times"], keys["nonexistent_times"])
    local = pa.array([dt.datetime.fromisoformat(v) for v in (FALL_BACK, SPRING_FORWARD)])
    assert local_to_utc(local, "at", rule).values.to_pylist() == [fall_back, spring_forward]


def test_the_keys_and_defaults_are_the_sources() -> None:
    rule = RULE.validate_python(parse())
    assert (rule.ambiguous_times, rule.nonexistent_times) == ("quarantine", "quarantine")
    with pytest.raises(ValidationError, match="ambiguous_times"):
        RULE.validate_python(parse(ambiguous_times="first"))
    # a zone is needed only by a format without an offset
    RULE.validate_python(parse(zone=None) | {"formats": ["%Y-%m-%dT%H:%M:%S%z"]})
    with pytest.raises(ValidationError, match="timezone"):
        RULE.validate_python({"rule": "parse_datetime", "column": "at", "formats": [FORMAT]})


def test_a_zone_name_the_engine_would_resolve_by_itself_is_refused() -> None:
    # DuckDB reads '2025-10-26 02:30:00 Europe/Berlin' as 01:30Z and the skipped
    # '2025-03-30 02:30:00 Europe/Berlin' as 01:30Z, silently, outside the declared rule
    with pytest.raises(ValidationError, match=r"zone name \(%Z\)"):
        RULE.validate_python(parse(formats=[FORMAT + " %Z"]))
    RULE.validate_python(parse(formats=[FORMAT + " %%Z"]))  # a percent sign, then Z


@pytest.mark.parametrize(
    ("value", "fmt", "zone", "why"),
    [
        # read in New York, 9999-12-31 23:59:59 is in year 10000 in UTC
        ("9999-12-31 23:59:59", FORMAT, "America/New_York", "is outside years 1-9999"),
        ("9999-12-31T23:00:00-0500", "%Y-%m-%dT%H:%M:%S%z", "UTC", "is outside years 1-9999"),
        ("0001-01-01 00:00:00", FORMAT, "Europe/Berlin", "is outside years 1-9999"),
        ("0000-06-01 00:00:00", FORMAT, "UTC", "is outside years 1-9999"),
    ],
)
def test_an_instant_outside_years_1_to_9999_is_not_converted(
    value: str, fmt: str, zone: str, why: str
) -> None:
    rule = parse(zone, formats=[fmt])
    with pytest.raises(StepError, match=why) as caught:
        clean(at(value), rule)
    assert repr(value) in str(caught.value)
    out, report = clean(at(value, None), rule | {"on_error": "null"})
    assert out.column("at").to_pylist()[0] is None and sum(report.stats["nulled"].values()) == 1


def test_day_and_month_are_never_picked_silently() -> None:
    rule = parse("UTC", formats=["%d/%m/%Y", "%m/%d/%Y"])
    # 13/02 and 02/13 can be read one way only; 05/05 reads the same either way
    out, _ = clean(at("13/02/2025", "02/13/2025", "05/05/2025"), rule)
    assert out.column("at").to_pylist() == [instant(2025, 2, 13)] * 2 + [instant(2025, 5, 5)]
    with pytest.raises(StepError) as caught:
        clean(at("13/02/2025", "01/02/2025"), rule)
    message = str(caught.value)
    assert "'01/02/2025'" in message and "'%d/%m/%Y'" in message and "'%m/%d/%Y'" in message
    out, report = clean(at("01/02/2025", "13/02/2025"), rule | {"on_error": "null"})
    assert out.column("at").to_pylist() == [None, instant(2025, 2, 13)]
    assert report.stats["nulled"] == {"two formats read it differently": 1}


def test_a_two_digit_year_is_not_read_as_year_25() -> None:
    rule = parse("UTC", formats=["%d/%m/%Y", "%d/%m/%y"])
    with pytest.raises(StepError, match="'01/02/25'"):
        clean(at("01/02/25"), rule)


def test_a_withheld_column_is_counted_not_quoted() -> None:
    secret = "1996-10-27 02:30:00"  # a birth time, ambiguous in Berlin
    with pytest.raises(StepError) as caught:
        clean(at(secret, "unparseable 1996"), parse(), withheld={"at": "pii.birthdate"})
    assert "1996" not in str(caught.value)
    assert "2 values of 'at'" in str(caught.value)
    _, report = clean(at(secret, PLAIN), parse(on_error="null"), withheld={"at": "pii.birthdate"})
    assert "1996" not in json.dumps(report.stats, default=str)


def test_nothing_to_parse_changes_nothing() -> None:
    for table in (at(), at(None, None)):
        out, report = clean(table, parse())
        assert out.num_rows == table.num_rows and report.changed_values == 0
        assert out.schema.field("at").type == pa.timestamp("us", tz="UTC")


def test_a_lookup_column_name_cannot_collide_with_the_tables() -> None:
    table = pa.table({"v": ["x"], "at": [PLAIN], "n": [1]})
    out, _ = clean(table, parse())
    assert out.to_pylist() == [{"v": "x", "at": instant(2025, 6, 1, 10), "n": 1}]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.datetimes(dt.datetime(2025, 3, 30, 0), dt.datetime(2025, 3, 30, 4))
        | st.datetimes(dt.datetime(2025, 10, 26, 1), dt.datetime(2025, 10, 26, 4)),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["earliest", "latest"]),
)
def test_cleaning_and_ingest_agree_near_transitions(
    times: list[dt.datetime], ambiguous: Any
) -> None:
    times = [t.replace(microsecond=0) for t in times]
    keys = {"ambiguous_times": ambiguous, "nonexistent_times": "shift_forward"}
    out, report = clean(at(*(t.isoformat(sep=" ") for t in times)), parse(**keys))
    ingest = local_to_utc(
        pa.array(times, pa.timestamp("us")),
        "at",
        TimeRule("Europe/Berlin", ambiguous, "shift_forward"),
    )
    assert out.column("at").to_pylist() == ingest.values.to_pylist()
    assert report.stats.get("coerced", {}) == dict(ingest.coerced)


def test_a_clean_step_reads_the_lookup_and_reports_the_counts(tmp_path: Path) -> None:
    from weir.app import open_workspace, run_project
    from weir.app.kinds import TableSummary
    from weir.project import load_project

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.csv").write_text(
        f"id,at\n1,{FALL_BACK}\n2,{SPRING_FORWARD}\n3,{PLAIN}\n4,\n"
    )
    (tmp_path / "weir.yaml").write_text(
        "name: p\nsources:\n  t: {format: csv, path: data/t.csv, columns: {id: int64, at: string}}\n"
        "clean:\n  t:\n    rules:\n"
        "      - {rule: parse_datetime, column: at, formats: ['%Y-%m-%d %H:%M:%S'], "
        "timezone: Europe/Berlin, ambiguous_times: latest, on_error: 'null'}\n"
    )
    ws = open_workspace(load_project(tmp_path))
    try:
        result = run_project(ws)
        assert all(r.status == "succeeded" for r in result.reports), result.reports
        version = ws.catalog.current_version("clean_t")
        assert version is not None
        rows = ws.lake.read("clean_t", version.version).to_pylist()
        [summary] = [r.summary for r in result.reports if r.step.name == "clean:t"]
    finally:
        ws.close()
    assert sorted((r["id"], r["at"]) for r in rows) == [
        (1, instant(2025, 10, 26, 1, 30)),
        (2, None),
        (3, instant(2025, 6, 1, 10)),
        (4, None),
    ]
    assert isinstance(summary, TableSummary) and summary.rules is not None
    assert (summary.rows_in, summary.rows) == (4, 4)  # nothing removed: all rows out
    [stats] = [r.stats for r in summary.rules]
    assert stats["coerced"] == {"at: ambiguous local time read as latest": 1}
    assert stats["nulled"] == {"does not exist in Europe/Berlin (clocks go forward)": 1}


def test_the_run_line_states_rows_in_and_out_and_what_was_nulled_or_repaired() -> None:
    from weir.app.kinds import TableSummary

    stats = {"nulled": {"no format reads it": 1}, "coerced": {"at: read as earliest": 2}}
    line = TableSummary(
        table="clean_t",
        version=0,
        rows_in=5,
        rows=4,
        rules=(
            StageReport("drop_missing", "drop_missing", removed_rows=1),
            StageReport("parse_datetime", "parse_datetime", changed_values=3, stats=stats),
        ),
    ).outcome()
    assert line == (
        "5 rows in, 4 rows -> clean_t@0; drop_missing: -1 rows; "
        "parse_datetime: 3 values (1 nulled, 2 repaired)"
    )


def test_nanoseconds_are_not_dropped() -> None:
    rule = parse("UTC", formats=["%Y-%m-%d %H:%M:%S.%n"], on_error="null")
    out, report = clean(at("2025-06-01 10:00:00.123456789", "2025-06-01 10:00:00.123456000"), rule)
    assert out.column("at").to_pylist() == [
        None,
        dt.datetime(2025, 6, 1, 10, 0, 0, 123456, tzinfo=UTC),
    ]
    assert report.stats["nulled"] == {"has nanoseconds a microsecond timestamp would drop": 1}
