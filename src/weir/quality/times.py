"""Texts read by a parse_datetime rule's formats, made instants by the project's one time
rule (`weir.project.times`, the rule ingest follows).

The engine reads each distinct text with every format (`try_strptime`); here the first
format that reads a text gives its reading, unless another format reads it differently
('01/02/2025' by `%d/%m/%Y` and `%m/%d/%Y`; '01/02/25' by `%d/%m/%Y` and `%d/%m/%y`): no
format is picked silently, so such a text does not convert. A reading with an offset is an
instant; one without is a wall-clock time read in the rule's zone, ambiguous and skipped
times going as `ambiguous_times` and `nonexistent_times` say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from weir.core.errors import ConfigError
from weir.project.cleaning import ParseDatetime
from weir.project.times import UTC, NoZone, to_utc

NO_FORMAT = "no format reads it"
FORMATS_DISAGREE = "two formats read it differently"
NANOSECONDS = "has nanoseconds a microsecond timestamp would drop"
OUTSIDE = "is outside years 1-9999"


@dataclass
class Read:
    """The instant of each text (null where it does not convert), why a text does not
    (index -> (kind, what to say after the text)), and the repairs made (index -> what)."""

    values: pa.Array
    failed: dict[int, tuple[str, str]] = field(default_factory=dict)
    repaired: dict[int, str] = field(default_factory=dict)


def read_times(texts: pa.Table, rule: ParseDatetime) -> Read:
    """`texts`: a column `v` and, for each of the rule's formats in order, `f0`, `f1`, ...:
    its reading of `v` (null where it does not read it)."""
    size = texts.num_rows
    readings = [texts.column(f"f{i}").combine_chunks() for i in range(len(rule.formats))]
    # each reading as microseconds: of the instant with an offset, of the wall clock without
    micros = [_micros(r) for r in readings]
    offset = [r.type.tz is not None for r in readings]
    chosen = pa.nulls(size, pa.int32())
    first, first_offset = pa.nulls(size, pa.int64()), pa.nulls(size, pa.bool_())
    for index, value in enumerate(micros):
        take = pc.and_(pc.is_null(chosen), value.is_valid())
        chosen = pc.if_else(take, pa.scalar(index, pa.int32()), chosen)
        first = pc.if_else(take, value, first)
        first_offset = pc.if_else(take, pa.scalar(offset[index]), first_offset)
    failed: dict[int, tuple[str, str]] = {}
    for row in pc.indices_nonzero(pc.is_null(chosen)).to_pylist():
        failed[row] = (NO_FORMAT, "is read by no format")
    differs = pa.array([False] * size, pa.bool_())
    for index, value in enumerate(micros):
        other = pc.or_(pc.not_equal(value, first), pc.not_equal(first_offset, offset[index]))
        differs = pc.or_(differs, pc.fill_null(other, False))
    for row in pc.indices_nonzero(differs).to_pylist():
        failed[row] = (FORMATS_DISAGREE, _disagreement(readings, rule.formats, row))
    values = pa.nulls(size, UTC)
    repaired: dict[int, str] = {}
    prefix = f"column {rule.column}: '"
    for index, reading in enumerate(readings):
        mine = pc.and_(pc.fill_null(pc.equal(chosen, index), False), pc.invert(differs))
        if not pc.any(mine).as_py():
            continue
        whole = _whole_micros(pc.if_else(mine, reading, pa.nulls(size, reading.type)), failed)
        try:
            done = to_utc(whole, rule.column, rule.time_rule)
        except NoZone:  # the project model refuses such a rule; kept for a rule built in code
            raise ConfigError(
                f"parse_datetime: format '{rule.formats[index]}' reads times without an "
                "offset and the rule names no timezone",
                fix="add timezone (e.g. Europe/Paris or UTC)",
            ) from None
        values = pc.coalesce(values, done.values)
        for row, problem in done.problems.items():
            # "column C: 'T' WHY": T, a time as Arrow writes it, holds no quote
            why = problem.removeprefix(prefix).split("' ", 1)[1]
            failed[row] = (OUTSIDE if why.startswith(OUTSIDE) else why, why)
        repaired.update({r: w for r, w in done.repaired.items() if r not in done.problems})
    return Read(values, dict(sorted(failed.items())), repaired)


def _micros(reading: pa.Array) -> pa.Array:
    kind = reading.type
    assert isinstance(kind, pa.TimestampType)
    return pc.cast(reading, pa.timestamp("us", tz=kind.tz), safe=False).cast(pa.int64())


def _whole_micros(reading: pa.Array, failed: dict[int, tuple[str, str]]) -> pa.Array:
    """`reading` in microseconds; a value with nanoseconds that would be dropped fails."""
    kind = reading.type
    assert isinstance(kind, pa.TimestampType)
    if kind.unit == "us":
        return reading
    micros = pc.cast(reading, pa.timestamp("us", tz=kind.tz), safe=False)
    lossy = pc.fill_null(pc.not_equal(pc.cast(micros, kind), reading), False)
    rows = pc.indices_nonzero(lossy).to_pylist()
    for row in rows:
        failed[row] = (NANOSECONDS, NANOSECONDS)
    if rows:
        micros = pc.if_else(lossy, pa.nulls(len(micros), micros.type), micros)
    return micros


def _disagreement(readings: list[pa.Array], formats: list[str], row: int) -> str:
    """'is read as 2025-02-01 00:00:00 by '%d/%m/%Y' and as 2025-01-02 00:00:00 by ...'"""
    parts = []
    for reading, fmt in zip(readings, formats, strict=True):
        value = reading[row]
        if value.is_valid:
            parts.append(f"as {pc.cast(pa.array([value]), pa.string())[0].as_py()} by '{fmt}'")
    return "is read " + " and ".join(parts)
