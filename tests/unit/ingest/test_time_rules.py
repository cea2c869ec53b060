"""The one time rule: a wall-clock time read in a zone becomes exactly the instant zoneinfo
says, or is repaired by the declared rule and counted, or is quarantined; the same for every
source kind (CSV declared and inferred, JSON, NDJSON, Parquet, SQLite here; PostgreSQL,
MariaDB and HTTP in tests/integration/test_sql_types.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
import zoneinfo
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from weir.core import SourceRefusedError
from weir.engines import DuckDBEngine
from weir.ingest import read_files
from weir.ingest.sql import read_sql
from weir.project.base import TimeRule
from weir.project.sources import FileSource, SqlSource
from weir.project.times import local_to_utc

UTC = dt.UTC
ENGINE = DuckDBEngine(threads=2)
MICRO = dt.timedelta(microseconds=1)
# zones with unusual transitions: 30-minute DST, negative DST, 2-hour DST, a skipped day
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Europe/Dublin",
    "Antarctica/Troll",
    "Pacific/Apia",
    "America/Sao_Paulo",
    "Africa/Casablanca",
    "Asia/Kolkata",
    "America/St_Johns",
    "UTC",
]


# what zoneinfo says -----------------------------------------------------------------------


def oracle(local: dt.datetime, zone: str) -> tuple[str, list[dt.datetime]]:
    """('exact', [instant]), ('ambiguous', [earliest, latest]), ('nonexistent', []) or
    ('outside', []) when the instant leaves years 1-9999."""
    tz = zoneinfo.ZoneInfo(zone)
    found: list[dt.datetime] = []
    try:
        for fold in (0, 1):
            instant = local.replace(tzinfo=tz, fold=fold).astimezone(UTC)
            if instant.astimezone(tz).replace(tzinfo=None) == local and instant not in found:
                found.append(instant)
    except OverflowError:
        return "outside", []
    if not found:
        return "nonexistent", []
    return ("exact" if len(found) == 1 else "ambiguous"), sorted(found)


def transitions(zone: str, year: int) -> list[dt.datetime]:
    """The instants in `year` where the zone's offset changes, to the second."""
    tz = zoneinfo.ZoneInfo(zone)
    start = dt.datetime(year, 1, 1, tzinfo=UTC)
    found = []
    days = [start + dt.timedelta(days=d) for d in range(0, 372, 7)]
    for a, b in itertools.pairwise(days):
        if a.astimezone(tz).utcoffset() == b.astimezone(tz).utcoffset():
            continue
        low, high = a, b
        while high - low > dt.timedelta(seconds=1):
            middle = low + (high - low) / 2
            if middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
                low = middle
            else:
                high = middle
        found.append(high)
    return found


@st.composite
def wall_times(draw: st.DrawFn) -> tuple[str, dt.datetime]:
    """A zone and a wall-clock time: near one of the zone's transitions most of the time,
    anywhere in years 1-9999 otherwise."""
    zone = draw(st.sampled_from(ZONES) | st.sampled_from(sorted(zoneinfo.available_timezones())))
    if draw(st.integers(0, 3)) == 0:
        return zone, draw(st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59)))
    year = draw(st.integers(1900, 2040))
    near = transitions(zone, year)
    if not near:
        return zone, draw(st.datetimes(dt.datetime(year, 1, 1), dt.datetime(year, 12, 31)))
    moment = draw(st.sampled_from(near))
    wall = moment.astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)
    minutes = draw(st.integers(-180, 180))
    return zone, (wall + dt.timedelta(minutes=minutes)).replace(second=draw(st.integers(0, 59)))


def resolve(local: dt.datetime, rule: TimeRule) -> tuple[dt.datetime | None, bool, int]:
    """(instant, quarantined, coerced count) of one wall-clock time under `rule`."""
    done = local_to_utc(pa.array([local], pa.timestamp("us")), "t", rule)
    return done.values[0].as_py(), bool(done.problems), sum(done.coerced.values())


# the rule against zoneinfo ----------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    wall_times(),
    st.sampled_from(["earliest", "latest", "quarantine"]),
    st.sampled_from(["shift_forward", "quarantine"]),
)
def test_each_wall_time_is_exact_repaired_and_counted_or_quarantined(
    case: tuple[str, dt.datetime], ambiguous: Any, nonexistent: Any
) -> None:
    zone, local = case
    kind, instants = oracle(local, zone)
    value, quarantined, coerced = resolve(local, TimeRule(zone, ambiguous, nonexistent))
    if value is not None and not dt.datetime(1, 1, 1, tzinfo=UTC) <= value:
        pytest.fail(f"{value} left the calendar without being quarantined")
    if kind == "outside":
        assert quarantined and value is None
    elif kind == "exact":
        assert (value, quarantined, coerced) == (instants[0], False, 0)
    elif kind == "ambiguous" and ambiguous == "quarantine":
        assert quarantined and value is None and coerced == 0
    elif kind == "ambiguous":
        expected = instants[0] if ambiguous == "earliest" else instants[-1]
        assert (value, quarantined, coerced) == (expected, False, 1)
    elif nonexistent == "quarantine":
        assert quarantined and value is None and coerced == 0
    else:  # shifted forward: the first instant after the gap
        assert value is not None and not quarantined and coerced == 1
        tz = zoneinfo.ZoneInfo(zone)
        assert value.astimezone(tz).replace(tzinfo=None) > local
        assert (value - MICRO).astimezone(tz).replace(tzinfo=None) < local


def test_the_issue_examples() -> None:
    berlin = TimeRule("Europe/Berlin")
    fall_back, spring_forward = dt.datetime(2025, 10, 26, 2, 30), dt.datetime(2025, 3, 30, 2, 30)
    assert resolve(fall_back, berlin) == (None, True, 0)
    assert resolve(spring_forward, berlin) == (None, True, 0)
    assert resolve(fall_back, TimeRule("Europe/Berlin", ambiguous="earliest"))[0] == dt.datetime(
        2025, 10, 26, 0, 30, tzinfo=UTC
    )
    assert resolve(fall_back, TimeRule("Europe/Berlin", ambiguous="latest"))[0] == dt.datetime(
        2025, 10, 26, 1, 30, tzinfo=UTC
    )
    shifted = resolve(spring_forward, TimeRule("Europe/Berlin", nonexistent="shift_forward"))
    assert shifted == (dt.datetime(2025, 3, 30, 1, 0, tzinfo=UTC), False, 1)  # 03:00 local
    assert resolve(dt.datetime(9999, 12, 31, 23, 59, 59), TimeRule("America/New_York")) == (
        None,
        True,
        0,
    )


# the same for every source kind -----------------------------------------------------------


def loads(root: Path, times: list[dt.datetime], **rule: Any) -> dict[str, tuple[Any, ...]]:
    """The same wall-clock times through every file format and SQLite: kind -> (instants
    stored by id, ids quarantined, repairs counted)."""
    texts = [t.isoformat(sep=" ") for t in times]
    ids = list(range(1, len(times) + 1))
    (root / "t.csv").write_text(
        "id,at\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, texts, strict=True))
    )
    (root / "t.ndjson").write_text(
        "".join(json.dumps({"id": i, "at": t}) + "\n" for i, t in zip(ids, texts, strict=True))
    )
    (root / "t.json").write_text(
        json.dumps([{"id": i, "at": t} for i, t in zip(ids, texts, strict=True)])
    )
    pq.write_table(
        pa.table({"id": ids, "at": pa.array(times, pa.timestamp("us"))}), root / "t.parquet"
    )
    database = root / "t.db"
    database.unlink(missing_ok=True)
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (id INTEGER, at DATETIME)")
        connection.executemany("INSERT INTO t VALUES (?, ?)", zip(ids, texts, strict=True))
    columns = {"id": "int64", "at": "timestamp"}
    sources: dict[str, FileSource | SqlSource] = {
        "csv declared": FileSource(format="csv", path="t.csv", columns=columns, **rule),
        "csv inferred": FileSource(format="csv", path="t.csv", **rule),
        "ndjson": FileSource(format="ndjson", path="t.ndjson", **rule),
        "json declared": FileSource(format="json", path="t.json", columns=columns, **rule),
        "parquet": FileSource(format="parquet", path="t.parquet", **rule),
        "sqlite": SqlSource(kind="sql", url=f"sqlite:///{database}", table="t", **rule),
    }
    return {kind: load(root, source) for kind, source in sources.items()}


def load(root: Path, source: FileSource | SqlSource) -> tuple[Any, ...]:
    reader = (
        read_files(ENGINE, root, "s", source)
        if isinstance(source, FileSource)
        else read_sql(root, "s", source)
    )
    try:
        with reader as read:
            data = read.batches.read_all()
            rejects = read.rejects()
            coerced = sum(read.coerced.values())
    except SourceRefusedError as exc:
        return ("refused", "has no time zone" in str(exc))
    stored = dict(zip(data.column("id").to_pylist(), data.column("at").to_pylist(), strict=True))
    bad = sorted(
        json.loads(r)["id"] if r.startswith("{") else int(r.split(",")[0])
        for r in rejects.column("raw").to_pylist()
    )
    return stored, bad, coerced


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(wall_times(), min_size=1, max_size=4),
    st.sampled_from(["earliest", "latest", "quarantine"]),
    st.sampled_from(["shift_forward", "quarantine"]),
)
def test_every_source_kind_gives_the_same_answer(
    tmp_path_factory: pytest.TempPathFactory,
    cases: list[tuple[str, dt.datetime]],
    ambiguous: str,
    nonexistent: str,
) -> None:
    zone = cases[0][0]
    times = [t.replace(microsecond=0) for _, t in cases] + [dt.datetime(2020, 6, 1, 12)]
    root = tmp_path_factory.mktemp("kinds")
    rule = {"timezone": zone, "ambiguous_times": ambiguous, "nonexistent_times": nonexistent}
    answers = loads(root, times, **rule)
    expected = {}
    bad = []
    coerced = 0
    for index, local in enumerate(times, start=1):
        value, quarantined, count = resolve(local, TimeRule(zone, ambiguous, nonexistent))  # type: ignore[arg-type]
        coerced += count
        if quarantined:
            bad.append(index)
        else:
            expected[index] = value
    for kind, answer in answers.items():
        assert answer == (expected, bad, coerced), kind


def test_berlin_examples_are_alike_across_kinds(tmp_path: Path) -> None:
    times = [
        dt.datetime(2025, 10, 26, 2, 30),
        dt.datetime(2025, 3, 30, 2, 30),
        dt.datetime(2025, 6, 1, 12),
    ]
    by_default = loads(tmp_path, times, timezone="Europe/Berlin")
    noon = dt.datetime(2025, 6, 1, 10, tzinfo=UTC)
    assert all(a == ({3: noon}, [1, 2], 0) for a in by_default.values()), by_default
    repaired = loads(
        tmp_path,
        times,
        timezone="Europe/Berlin",
        ambiguous_times="latest",
        nonexistent_times="shift_forward",
    )
    stored = {
        1: dt.datetime(2025, 10, 26, 1, 30, tzinfo=UTC),
        2: dt.datetime(2025, 3, 30, 1, 0, tzinfo=UTC),
        3: noon,
    }
    assert all(a == (stored, [], 2) for a in repaired.values()), repaired


def test_naive_times_without_a_zone_are_refused_by_every_kind(tmp_path: Path) -> None:
    answers = loads(tmp_path, [dt.datetime(2025, 1, 1, 10)])
    assert all(a == ("refused", True) for a in answers.values()), answers


def test_out_of_range_instants_are_quarantined_by_every_kind(tmp_path: Path) -> None:
    times = [dt.datetime(9999, 12, 31, 23, 59, 59), dt.datetime(2025, 1, 1)]
    answers = loads(tmp_path, times, timezone="America/New_York")
    expected = ({2: dt.datetime(2025, 1, 1, 5, tzinfo=UTC)}, [1], 0)
    assert all(a == expected for a in answers.values()), answers


# where the rule is declared -----------------------------------------------------------------


def test_the_rule_is_declared_per_source_and_defaults_to_quarantine() -> None:
    source = FileSource(format="parquet", path="x.parquet", timezone="Europe/Berlin")
    assert source.time_rule == TimeRule("Europe/Berlin", "quarantine", "quarantine")
    with pytest.raises(ValidationError, match="ambiguous_times"):
        FileSource(format="csv", path="x.csv", ambiguous_times="guess")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="nonexistent_times"):
        SqlSource(kind="sql", url="sqlite:///x.db", table="t", nonexistent_times="earliest")  # type: ignore[arg-type]


def test_the_older_csv_timezone_key_still_means_the_zone() -> None:
    source = FileSource(format="csv", path="x.csv", csv={"timezone": "Europe/Paris"})  # type: ignore[arg-type]
    assert source.timezone == "Europe/Paris"
    with pytest.raises(ValidationError, match="keep only timezone"):
        FileSource(format="csv", path="x.csv", timezone="UTC", csv={"timezone": "Europe/Paris"})  # type: ignore[arg-type]


def test_repairs_are_counted_in_the_run_summary(tmp_path: Path) -> None:
    from tests.integration.sources import run, table, write_project

    root = tmp_path / "p"
    write_project(
        root,
        {
            "events": {
                "format": "csv",
                "path": "e.csv",
                "timezone": "Europe/Berlin",
                "ambiguous_times": "earliest",
                "columns": {"id": "int64", "at": "timestamp"},
            }
        },
    )
    (root / "e.csv").write_text(
        "id,at\n1,2025-10-26 02:30:00\n2,2025-03-30 02:30:00\n3,2025-06-01 12:00:00\n"
    )
    summary = run(root)["source:events"]["summary"]
    assert summary["new_rows"] == 2 and summary["quarantined_rows"] == 1
    assert summary["coerced"] == "coerced at: ambiguous local time read as earliest (1)"
    bad = table(root, "events__quarantine").to_pylist()
    assert (
        bad[0]["error"]
        == "column at: '2025-03-30 02:30:00' does not exist in Europe/Berlin (clocks go forward)"
    )
    assert bad[0]["column_name"] == "at" and bad[0]["raw"] == "2,2025-03-30 02:30:00"


# times written with a zone's name ----------------------------------------------------------


def text_loads(root: Path, texts: list[str], **rule: Any) -> dict[str, tuple[Any, ...]]:
    """Timestamps written as text through every kind that reads text: kind -> (instants
    stored by id, ids quarantined, repairs counted)."""
    ids = list(range(1, len(texts) + 1))
    rows = list(zip(ids, texts, strict=True))
    (root / "t.csv").write_text("id,at\n" + "".join(f"{i},{t}\n" for i, t in rows))
    (root / "t.ndjson").write_text("".join(json.dumps({"id": i, "at": t}) + "\n" for i, t in rows))
    (root / "t.json").write_text(json.dumps([{"id": i, "at": t} for i, t in rows]))
    pq.write_table(pa.table({"id": ids, "at": texts}), root / "t.parquet")
    database = root / "t.db"
    database.unlink(missing_ok=True)
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (id INTEGER, at DATETIME)")
        connection.executemany("INSERT INTO t VALUES (?, ?)", rows)
    columns = {"id": "int64", "at": "timestamp"}
    sources: dict[str, FileSource | SqlSource] = {
        "csv declared": FileSource(format="csv", path="t.csv", columns=columns, **rule),
        "ndjson declared": FileSource(format="ndjson", path="t.ndjson", columns=columns, **rule),
        "json declared": FileSource(format="json", path="t.json", columns=columns, **rule),
        "parquet text declared": FileSource(
            format="parquet", path="t.parquet", columns=columns, **rule
        ),
        "sqlite": SqlSource(kind="sql", url=f"sqlite:///{database}", table="t", **rule),
    }
    return {kind: load(root, source) for kind, source in sources.items()}


def test_a_zone_name_is_no_offset_its_local_times_follow_no_silent_rule(tmp_path: Path) -> None:
    """'2025-10-26 02:30 Europe/Berlin' happens twice and '2025-03-30 02:30 Europe/Berlin'
    never: DuckDB's own zone lookup resolved both silently (to 01:30Z, the latter against
    shift_forward's 01:00Z). Only UTC's own names read as an offset; a value naming any other
    zone is set aside, alike in every kind, whatever the declared rule says of wall-clock
    times (it is not one)."""
    texts = [
        "2025-06-01 10:00:00+02:00",
        "2025-06-01 10:00:00Z",
        "2025-06-01 10:00:00 UTC",
        "2025-10-26 02:30:00 Europe/Berlin",
        "2025-03-30 02:30:00 Europe/Berlin",
        "2025-06-01 10:00:00 America/New_York",
        "2025-06-01 10:00:00 CEST",
    ]
    utc = dt.UTC
    stored = {
        1: dt.datetime(2025, 6, 1, 8, tzinfo=utc),
        2: dt.datetime(2025, 6, 1, 10, tzinfo=utc),
        3: dt.datetime(2025, 6, 1, 10, tzinfo=utc),
    }
    rule = {
        "timezone": "Europe/Berlin",
        "ambiguous_times": "earliest",
        "nonexistent_times": "shift_forward",
    }
    answers = text_loads(tmp_path, texts, **rule)
    for kind, answer in answers.items():
        assert answer == (stored, [4, 5, 6, 7], 0), kind


def test_a_value_naming_its_zone_says_why_it_was_set_aside(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "id,at\n1,2025-10-26 02:30:00 Europe/Berlin\n2,2025-10-26 02:30:00+01:00\n"
    )
    source = FileSource(
        format="csv",
        path="t.csv",
        columns={"id": "int64", "at": "timestamp"},
        timezone="Europe/Berlin",
    )
    with read_files(ENGINE, tmp_path, "s", source) as read:
        read.batches.read_all()
        [error] = read.rejects().column("error").to_pylist()
    assert "ends in 'Europe/Berlin', not an offset" in error
    assert "offset" in error


def test_a_timestamp_format_reading_zone_names_is_refused() -> None:
    with pytest.raises(ValidationError, match="zone name"):
        FileSource(
            format="csv",
            path="t.csv",
            columns={"at": "timestamp"},
            csv={"timestamp_format": "%Y-%m-%d %H:%M:%S %Z"},
        )
    FileSource(format="csv", path="t.csv", csv={"timestamp_format": "%Y-%m-%d %H:%M:%S %%Z"})
