"""One rule for times, used by every source kind (CSV, JSON, Parquet, SQL and HTTP alike)
and by the cleaning rule parse_datetime.

A stored time is an instant: `timestamp[us, UTC]`. A value written with an offset is
already one. A value written without one (a wall-clock time) is read in the source's
declared `timezone`; without a zone nothing is committed. A zone makes some wall-clock
times ambiguous (the hour that happens twice when clocks go back) and others non-existent
(the hour skipped when they go forward): the source declares what such a value becomes
(`ambiguous_times`, `nonexistent_times`), every repair is counted, and by default the row
goes to quarantine. An instant outside years 1-9999 in UTC (a naive 9999-12-31 23:59:59
read in New York, a PostgreSQL `infinity`, a BC date) cannot be shown or read back by most
tools, so its row goes to quarantine too. Dates follow the same range.

The work is done with Arrow's time zone kernels (the system's tz database, the one Python's
`zoneinfo` reads), on whole columns: a clean column costs two vectorised conversions.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.project.base import TimeRule

UTC = pa.timestamp("us", tz="UTC")

# first and last microsecond of years 1-9999, and the days of the same range
_FIRST_US = -62_135_596_800_000_000
_LAST_US = 253_402_300_799_999_999
_FIRST_DAY = -719_162
_LAST_DAY = 2_932_896
_MICRO = dt.timedelta(microseconds=1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# years -9999 to 99999: what Arrow writes as a date; beyond, the raw count is shown
_SHOWN_US = (-377_705_116_800_000_000, 3_093_527_980_800_000_000)
_SHOWN_DAYS = (-4_371_587, 35_804_721)


class NoZone(Exception):  # noqa: N818 - a condition, turned into a StepError by the caller
    """Times without a zone were found and the source declares none; `row` is the first
    (its index in the column: a message names the place, never the value)."""

    def __init__(self, row: int) -> None:
        super().__init__(row)
        self.row = row


@dataclass
class Resolved:
    """A column of instants, the rows that could not become one (index -> reason), and the
    repairs made under the declared rule (what -> how many; and index -> what)."""

    values: pa.Array
    problems: dict[int, str] = field(default_factory=dict)
    coerced: Counter[str] = field(default_factory=Counter)
    repaired: dict[int, str] = field(default_factory=dict)


def to_utc(column: pa.Array, name: str, rule: TimeRule) -> Resolved:
    """`column` (any Arrow timestamp) as microseconds in UTC under `rule`.

    Nanoseconds that microseconds would drop are refused by the caller (`lossy_nanos`)
    before this is called; here they are known to be whole microseconds."""
    kind = column.type
    assert isinstance(kind, pa.TimestampType)
    if kind.unit != "us":
        column = pc.cast(column, pa.timestamp("us", tz=kind.tz), safe=False)
    if kind.tz is not None:
        values = column.cast(UTC)
        outside = _out_of_range(values, name, "in UTC")
        return Resolved(_blank(values, outside), outside)
    return local_to_utc(column, name, rule)


def local_to_utc(local: pa.Array, name: str, rule: TimeRule) -> Resolved:
    """Wall-clock times (naive `timestamp[us]`) read in the rule's zone."""
    if local.null_count == len(local):
        return Resolved(pa.nulls(len(local), UTC))
    if rule.zone is None:
        raise NoZone(int(pc.index(pc.is_valid(local), True).as_py()))
    problems = _out_of_range(local, name, "")
    inside = _blank(local, problems)
    found = _candidates(inside, rule.zone)
    resolved = Resolved(found.early.cast(UTC), problems)
    if pc.any(pc.or_(found.ambiguous, found.skipped)).as_py():
        resolved.values = _apply_rule(inside, found, name, rule, resolved)
    resolved.problems.update(_out_of_range(resolved.values, name, f"once read in {rule.zone}"))
    resolved.values = _blank(resolved.values, resolved.problems)
    return resolved


@dataclass
class _Candidates:
    """For each wall-clock time: its earliest and latest instant (equal when it exists once;
    for a skipped one, the last instant before the gap and the first after it), and whether
    it happens twice or never."""

    early: pa.Array
    late: pa.Array
    ambiguous: pa.Array
    skipped: pa.Array


def _candidates(local: pa.Array, zone: str) -> _Candidates:
    """Arrow's kernels where its tz database agrees with zoneinfo's; zoneinfo beyond (Arrow
    ignores the rule a tz file states for the years after its last listed transition, so
    2038 summer time in Berlin would come out an hour off)."""
    trusted = _arrow_trusted_until(zone)
    if trusted == 1:
        nothing = pa.array(np.zeros(len(local), dtype=bool))
        kind = pa.timestamp("us", tz="UTC")
        unknown = _Candidates(
            pa.nulls(len(local), kind), pa.nulls(len(local), kind), nothing, nothing
        )
        return _by_zoneinfo(local, zone, unknown, pc.indices_nonzero(local.is_valid()).to_pylist())
    early = pc.assume_timezone(local, zone, ambiguous="earliest", nonexistent="earliest")
    late = pc.assume_timezone(local, zone, ambiguous="latest", nonexistent="latest")
    differ = pc.fill_null(pc.not_equal(early, late), False)
    exists = pc.fill_null(pc.equal(pc.local_timestamp(early), local), True)
    found = _Candidates(early, late, pc.and_(differ, exists), pc.and_(differ, pc.invert(exists)))
    beyond = pc.fill_null(pc.greater_equal(pc.year(local), trusted), False)
    if not pc.any(beyond).as_py():
        return found
    return _by_zoneinfo(local, zone, found, pc.indices_nonzero(beyond).to_pylist())


def _by_zoneinfo(local: pa.Array, zone: str, found: _Candidates, rows: list[int]) -> _Candidates:
    tz = zoneinfo.ZoneInfo(zone)
    early = found.early.cast(pa.int64()).to_numpy(zero_copy_only=False).copy()
    late = found.late.cast(pa.int64()).to_numpy(zero_copy_only=False).copy()
    ambiguous = found.ambiguous.to_numpy(zero_copy_only=False).copy()
    skipped = found.skipped.to_numpy(zero_copy_only=False).copy()
    for row in rows:
        wall = local[row].as_py()
        skipped[row] = False
        try:
            instants = _instants(wall, tz)
            if not instants:
                after = _first_after_gap(wall, tz)
                instants = [after - _MICRO, after]
                skipped[row] = True
        except OverflowError:  # leaves years 1-9999: the range check sets the row aside
            early[row] = late[row] = _LAST_US + 1 if wall.year > 1 else _FIRST_US - 1
            continue
        ambiguous[row] = len(instants) == 2 and not skipped[row]
        early[row], late[row] = (_micros(instants[0]), _micros(instants[-1]))
    kind = pa.timestamp("us", tz="UTC")
    mask = local.is_null()
    return _Candidates(
        pa.array(early, pa.int64(), mask=mask.to_numpy(zero_copy_only=False)).cast(kind),
        pa.array(late, pa.int64(), mask=mask.to_numpy(zero_copy_only=False)).cast(kind),
        pa.array(ambiguous),
        pa.array(skipped),
    )


def _instants(wall: dt.datetime, tz: zoneinfo.ZoneInfo) -> list[dt.datetime]:
    """The instants whose wall-clock time in `tz` is `wall`: one, two, or none."""
    found: list[dt.datetime] = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=tz, fold=fold).astimezone(dt.UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == wall and instant not in found:
            found.append(instant)
    return sorted(found)


def _first_after_gap(wall: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The first instant after the gap that skips `wall`, to the microsecond."""
    low = wall.replace(tzinfo=tz, fold=1).astimezone(dt.UTC)  # before the switch
    high = wall.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)  # after it
    low, high = min(low, high), max(low, high)
    while high - low > _MICRO:
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=middle.microsecond)
        if middle.astimezone(tz).replace(tzinfo=None) > wall:
            high = middle
        else:
            low = middle
    return high


def _micros(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // _MICRO


@functools.cache
def _arrow_trusted_until(zone: str) -> int:
    """The first year in which Arrow's reading of `zone` differs from zoneinfo's (checked in
    January and July of 1900-2100), or 10000 when it never does."""
    tz = zoneinfo.ZoneInfo(zone)
    probes = [dt.datetime(year, month, 15, 12) for year in range(1900, 2101) for month in (1, 7)]
    try:
        arrow = pc.assume_timezone(
            pa.array(probes, pa.timestamp("us")), zone, ambiguous="earliest", nonexistent="earliest"
        ).cast(pa.int64())
    except pa.ArrowInvalid:  # a zone Arrow's database lacks ('Factory'): zoneinfo for all
        return 1
    for probe, ours in zip(probes, arrow.to_pylist(), strict=True):
        if _micros(probe.replace(tzinfo=tz).astimezone(dt.UTC)) != ours:
            return probe.year
    return 10000


def _apply_rule(
    local: pa.Array, found: _Candidates, name: str, rule: TimeRule, resolved: Resolved
) -> pa.Array:
    """Rows whose wall-clock time a zone makes ambiguous or skips, under the declared rule."""
    take_late = pa.array(np.zeros(len(local), dtype=bool))
    zone = rule.zone
    if pc.any(found.ambiguous).as_py():
        if rule.ambiguous == "quarantine":
            _mark(
                resolved, found.ambiguous, local, name, f"is ambiguous in {zone} (clocks go back)"
            )
        else:
            _count(
                resolved, found.ambiguous, f"{name}: ambiguous local time read as {rule.ambiguous}"
            )
            if rule.ambiguous == "latest":
                take_late = pc.or_(take_late, found.ambiguous)
    if pc.any(found.skipped).as_py():
        if rule.nonexistent == "quarantine":
            _mark(
                resolved,
                found.skipped,
                local,
                name,
                f"does not exist in {zone} (clocks go forward)",
            )
        else:
            _count(resolved, found.skipped, f"{name}: non-existent local time shifted forward")
            take_late = pc.or_(take_late, found.skipped)
    chosen = pc.if_else(take_late, found.late, found.early).cast(UTC)
    return _blank(chosen, resolved.problems)


def _count(resolved: Resolved, mask: pa.Array, what: str) -> None:
    rows = pc.indices_nonzero(mask).to_pylist()
    resolved.coerced[what] += len(rows)
    resolved.repaired.update(dict.fromkeys(rows, what))


def _mark(resolved: Resolved, mask: pa.Array, local: pa.Array, name: str, why: str) -> None:
    for index in pc.indices_nonzero(mask).to_pylist():
        resolved.problems.setdefault(index, f"column {name}: '{_text(local[index])}' {why}")


def _out_of_range(values: pa.Array, name: str, how: str) -> dict[int, str]:
    """Rows of a timestamp or date column outside years 1-9999 (`how` says in which frame)."""
    if pa.types.is_timestamp(values.type):
        raw, first, last = values.cast(pa.int64()), _FIRST_US, _LAST_US
    else:
        raw, first, last = values.cast(pa.int32()), _FIRST_DAY, _LAST_DAY
    outside = pc.or_(pc.less(raw, first), pc.greater(raw, last))
    if not pc.any(outside).as_py():
        return {}
    where = f" {how}" if how else ""
    return {
        int(i): f"column {name}: '{_text(values[i])}' is outside years 1-9999{where}"
        for i in pc.indices_nonzero(pc.fill_null(outside, False)).to_pylist()
    }


def dates_in_range(column: pa.Array, name: str) -> dict[int, str]:
    """Dates outside years 1-9999 (a BC date, PostgreSQL's `infinity`): most tools cannot
    read them back, so their rows go to quarantine; 0001-01-01 and 9999-12-31 stay."""
    if pa.types.is_date64(column.type):
        column = column.cast(pa.date32())
    return _out_of_range(column, name, "")


def _blank(values: pa.Array, rows: dict[int, str]) -> pa.Array:
    """`values` with the given rows set to null, so kernels never see them."""
    if not rows:
        return values
    mask = np.zeros(len(values), dtype=bool)
    mask[list(rows)] = True
    return pc.if_else(pa.array(mask), pa.nulls(len(values), values.type), values)


def _text(value: pa.Scalar) -> str:
    """A timestamp or date as text, even one Python's datetime cannot hold; one no calendar
    can show (PostgreSQL's infinity, say) as its raw count."""
    timestamp = pa.types.is_timestamp(value.type)
    raw = value.cast(pa.int64() if timestamp else pa.int32()).as_py()
    low, high = _SHOWN_US if timestamp else _SHOWN_DAYS
    if raw is not None and not low <= raw <= high:
        unit = "µs" if timestamp else "days"
        return f"{raw} {unit} from 1970 (no calendar year)"
    text = pc.cast(pa.array([value]), pa.string())[0].as_py()
    return re.sub(r"\.000000(?![0-9])", "", str(text))


def lossy_nanos(column: pa.Array) -> int | None:
    """The first row of a nanosecond column that microseconds would truncate, or None."""
    kind = column.type
    if not isinstance(kind, pa.TimestampType) or kind.unit != "ns":
        return None
    micro = pc.cast(column, pa.timestamp("us", tz=kind.tz), safe=False)
    lossy = pc.fill_null(pc.not_equal(pc.cast(micro, kind), column), False)
    if not pc.any(lossy).as_py():
        return None
    return int(pc.index(lossy, True).as_py())
