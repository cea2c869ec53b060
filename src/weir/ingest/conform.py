"""Arrow batches made into what a table holds, the same way for every source kind.

Every connector ends here: the SQL and HTTP connectors with their Arrow batches, the file
connector with DuckDB's. Three things happen, column by column:

- a declared type is a promise about every row, not a hint: a value that does not fit sets
  its row aside with the reason, the rest of the batch goes on;
- times become instants in UTC under the source's one time rule (`weir.project.times`);
- a type a Delta table cannot hold, or holds only with loss, is mapped to one that holds it
  exactly (unsigned integers, times of day, wide decimals), or its rows are set aside, or
  the load is refused naming the column and the fix. Nothing is bent silently.

Rows are never dropped here: a bad row keeps its place (its values null) and is listed in
`Conformed.problems`, so the caller can set it aside with its file, line or key.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from weir.core.errors import SourceRefusedError
from weir.engines.split import (
    INVALID_PREFIX,
    LOCAL_PREFIX,
    is_helper,
)
from weir.project.base import _DECIMAL, TimeRule
from weir.project.times import NoZone, Resolved, dates_in_range, lossy_nanos, to_utc

UTC = pa.timestamp("us", tz="UTC")

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "date": pa.date32(),
    "timestamp": UTC,
}

# a text value that carries its own offset or zone after a time of day
OFFSET_PATTERN = (
    r"[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*"
    r"([A-Za-z][A-Za-z_/+-]*|[+-][0-9]{2}(:?[0-9]{2}){0,2})\s*$"
)

# a zone given by name after the time of day (the group `zone`, group 1). Only UTC's own names are an offset:
# any other zone makes some local times ambiguous or skipped, and a reader that looked the
# name up would resolve those by its own rule (DuckDB's did, silently), not the declared one
ZONE_NAME_PATTERN = (
    r"[0-9]:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?\s*(?P<zone>[A-Za-z][A-Za-z_/+-]*)\s*$"
)
UTC_NAMES = ("UTC", "UCT", "GMT", "UT", "Z", "ZULU", "ETC/UTC", "ETC/UCT", "ETC/GMT", "ETC/ZULU")
ZONE_NAMED = (
    "ends in '{zone}', not an offset: write the time with an offset (+02:00), or without a "
    "zone and declare timezone (a zone's name leaves its ambiguous and skipped times undecided)"
)

_INT64_MAX = 2**63 - 1


def arrow_type(type_name: str) -> pa.DataType:
    match = _DECIMAL.match(type_name)
    if match:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    return ARROW_TYPES[type_name]


@dataclass(frozen=True)
class Typing:
    """How one source's values become its table's.

    `columns` are the user's declared types (each must be in the data); `implied` are types
    the connector chose for columns it had to read as text (a PostgreSQL numeric, say)."""

    source: str
    columns: Mapping[str, str] = field(default_factory=dict)
    implied: Mapping[str, str] = field(default_factory=dict)
    rule: TimeRule = field(default_factory=TimeRule)
    notes: Mapping[str, str] = field(default_factory=dict)  # said after a misfit's reason

    def declared(self, name: str) -> str | None:
        return self.columns.get(name) or self.implied.get(name)


@dataclass
class Conformed:
    """A typed batch (same rows, same helper columns), the rows that do not fit (row ->
    reasons) and the repairs made by declared rules (what -> how many)."""

    batch: pa.RecordBatch
    problems: dict[int, list[str]] = field(default_factory=dict)
    coerced: Counter[str] = field(default_factory=Counter)


def conform(
    batch: pa.RecordBatch, typing: Typing, where: str, *, first: int = 0, noun: str = "row"
) -> Conformed:
    """`batch` with declared types, UTC instants and storable types; see the module doc.
    `where` names the batch in messages, `first` and `noun` a row of it ('row 7', counting
    `first` rows before the batch)."""
    names = batch.schema.names
    if typing.columns:
        missing = [c for c in typing.columns if c not in names]
        if missing:
            raise SourceRefusedError(
                typing.source,
                f"{where}: declared column(s) {', '.join(missing)} are not in the data "
                f"(it has {', '.join(n for n in names if not is_helper(n)) or 'no columns'})",
                fix=f"fix sources.{typing.source}.columns, or the query or file that feeds it",
            )
    result = Conformed(batch)
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for name, column in zip(names, batch.columns, strict=True):
        if name.startswith((LOCAL_PREFIX, INVALID_PREFIX)):
            continue  # consumed by its column
        if not is_helper(name):
            col = _Column(name, typing, where, result, first, noun)
            if INVALID_PREFIX + name in names:
                col.mark(_invalid(batch.column(INVALID_PREFIX + name)))
            local = LOCAL_PREFIX + name
            column = _conform_column(col, column, batch.column(local) if local in names else None)
        arrays.append(column)
        fields.append(pa.field(name, column.type))
    result.batch = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
    return result


def _invalid(reasons: pa.Array) -> dict[int, str]:
    """The reasons a reader gave for values it could not read (their values are null)."""
    rows = pc.indices_nonzero(pc.is_valid(reasons)).to_pylist()
    return {int(i): str(reasons[i].as_py()) for i in rows}


def renamed(batch: pa.RecordBatch, stored: list[str]) -> pa.RecordBatch:
    """`batch` under the stored column names; a helper column that belongs to a column
    (its wall-clock part, its invalid values) follows it."""
    names = [n for n in batch.schema.names if not is_helper(n)]
    if names == stored:
        return batch
    new = dict(zip(names, stored, strict=True))
    out = []
    for name in batch.schema.names:
        prefix = next((p for p in (LOCAL_PREFIX, INVALID_PREFIX) if name.startswith(p)), "")
        if prefix:
            out.append(prefix + new[name.removeprefix(prefix)])
        else:
            out.append(new.get(name, name))
    return batch.rename_columns(out)


@dataclass
class _Column:
    """One column being conformed, and where its findings go."""

    name: str
    typing: Typing
    where: str
    result: Conformed
    first: int = 0  # rows of the stream before this batch
    noun: str = "row"

    def mark(self, rows: Mapping[int, str]) -> None:
        for index, reason in rows.items():
            self.result.problems.setdefault(index, []).append(reason)

    def at(self, index: int) -> str:
        """The place of the batch's row `index` in the stream ('row 7')."""
        return f"{self.noun} {self.first + index + 1}"

    def refuse(self, message: str, fix: str) -> SourceRefusedError:
        """The load's refusal; `message` follows the column's name ('column x: ...'). It
        names the row, never its value: a step's error is printed and kept in the catalog,
        and the value may be PII."""
        return SourceRefusedError(
            self.typing.source,
            f"{self.where}: column {self.name}{message}; nothing was committed",
            fix=fix,
        )


def _conform_column(col: _Column, column: pa.Array, local: pa.Array | None) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    declared = col.typing.declared(col.name)
    if declared is not None:
        target = arrow_type(declared)
        if target != column.type or local is not None:
            column = _cast_declared(col, column, target, local)
            local = None
    return _storable(col, column, local)


def _cast_declared(
    col: _Column, column: pa.Array, target: pa.DataType, local: pa.Array | None
) -> pa.Array:
    """`column` as the declared `target`; values that do not fit are marked and nulled."""
    if target == UTC:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            return _text_times(col, column.cast(pa.string()))
        if pa.types.is_date(column.type):
            column = column.cast(pa.timestamp("us"))
        if pa.types.is_timestamp(column.type):
            return _instants(col, column, local)
    if pa.types.is_decimal(target) and pa.types.is_floating(column.type):
        # cast straight, a float is rounded to the scale (0.125 to 0.12 in decimal(10,2)) or
        # gets its binary expansion (0.1 as 0.10000000000000000555112): its shortest text,
        # the number it shows, is what must fit
        column = pc.cast(column, pa.string())
    if pa.types.is_decimal(target) and pa.types.is_string(column.type):
        # '1.50000000000000000000' (a database pads to its scale) is 1.5: the zeros go
        column = pc.replace_substring_regex(column, r"\.0+$", "")
        column = pc.replace_substring_regex(column, r"(\.[0-9]*[1-9])0+$", r"\1")
    if pa.types.is_integer(target) and pa.types.is_floating(column.type):
        whole = pc.fill_null(pc.equal(pc.floor(column), column), True)
        col.mark(_reasons(col, column, pc.invert(whole), f"is not a whole number ({target})"))
        column = pc.if_else(whole, column, pa.nulls(len(column), column.type))
    # casts Arrow makes without a word, even when safe: a time of day dropped, 2 made true,
    # a decimal's digits beyond float64 rounded
    if target == pa.date32() and pa.types.is_timestamp(column.type):
        return _dates(col, column)
    if pa.types.is_boolean(target) and pa.types.is_string(column.type):
        column = _bool_texts(column)
    if pa.types.is_boolean(target) and pa.types.is_integer(column.type):
        column = _keep(
            col, column, pc.is_in(column, pa.array([0, 1], column.type)), "is not 0 or 1"
        )
    if pa.types.is_floating(target) and pa.types.is_decimal(column.type):
        shown = pc.cast(pc.cast(column, target), pa.string())
        same, _ = _cast_where_possible(shown, column.type)
        fits = pc.equal(same, column)
        column = _keep(col, column, fits, f"does not fit {_type_name(target)} exactly")
    return cast_or_mark(col, column, target)


# the texts DuckDB reads as booleans (CSV and JSON fields are typed by it), any case
_TRUE_TEXTS = pa.array(["true", "t", "yes", "y", "1"])
_FALSE_TEXTS = pa.array(["false", "f", "no", "n", "0"])


def _bool_texts(column: pa.Array) -> pa.Array:
    """Text read as booleans by the same words as DuckDB, so a column declared `bool` reads
    alike in every kind; other text is left for the cast to mark."""
    lower = pc.utf8_lower(column)
    spelled = pc.if_else(pc.is_in(lower, _FALSE_TEXTS), "false", column)
    return pc.if_else(pc.is_in(lower, _TRUE_TEXTS), "true", spelled)


def _keep(col: _Column, column: pa.Array, fits: pa.Array, why: str) -> pa.Array:
    """`column` with the values where `fits` is false marked (`why`) and nulled."""
    fits = pc.fill_null(fits, True)
    col.mark(_reasons(col, column, pc.invert(fits), why))
    return pc.if_else(fits, column, pa.nulls(len(column), column.type))


def _dates(col: _Column, column: pa.Array) -> pa.Array:
    """Timestamps as dates where they are midnight (in UTC when they carry a zone); a time
    of day is never dropped to make a date."""
    if column.type.tz is not None:
        column = column.cast(pa.timestamp(column.type.unit, tz="UTC"))
    days = pc.cast(pc.floor_temporal(column, unit="day"), column.type)
    column = _keep(col, column, pc.equal(days, column), "is not a date (it has a time of day)")
    return cast_or_mark(col, column, pa.date32())


def fit_type(column: pa.Array, name: str, target: pa.DataType) -> tuple[pa.Array, dict[int, str]]:
    """`column` as `target` without loss, and the rows whose value cannot be (row -> reason;
    their values null). Used by the schema contract for a load against a table's type."""
    col = _Column(name, Typing(""), "", Conformed(pa.record_batch([])))
    if pa.types.is_integer(target) and pa.types.is_floating(column.type):
        return _cast_declared(col, column, target, None), _first(col.result.problems)
    return cast_or_mark(col, column, target), _first(col.result.problems)


def _first(problems: dict[int, list[str]]) -> dict[int, str]:
    return {i: reasons[0] for i, reasons in problems.items()}


def cast_or_mark(col: _Column, column: pa.Array, target: pa.DataType) -> pa.Array:
    """`column` as `target` without loss; a value that cannot be is marked and nulled."""
    values, failed = _cast_where_possible(column, target)
    note = col.typing.notes.get(col.name, "")
    col.mark(
        {
            i: f"column {col.name}: '{_shown(column, i)}' is not {_type_name(target)}{note}"
            for i in failed
        }
    )
    return values


def _cast_where_possible(column: pa.Array, target: pa.DataType) -> tuple[pa.Array, list[int]]:
    """`column` cast safely to `target`, null where a value cannot be, and those rows. A
    failing slice is halved until the values that fail are found: a batch with a few bad
    values costs a few dozen casts, not one per row."""
    try:
        return pc.cast(column, target, safe=True), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError):
        if len(column) == 1:
            return pa.nulls(1, target), [0] if column.null_count == 0 else []
    middle = len(column) // 2
    left, bad_left = _cast_where_possible(column.slice(0, middle), target)
    right, bad_right = _cast_where_possible(column.slice(middle), target)
    return pa.concat_arrays([left, right]), bad_left + [middle + i for i in bad_right]


def _text_times(col: _Column, text: pa.Array) -> pa.Array:
    """Timestamps from text: a value with an offset is an instant, one without is a wall-
    clock time read under the time rule, anything else is marked."""
    zoned = pc.fill_null(pc.match_substring_regex(text, OFFSET_PATTERN), False)
    zone = pc.struct_field(pc.extract_regex(text, ZONE_NAME_PATTERN), [0])
    utc = pc.fill_null(pc.is_in(pc.utf8_upper(zone), pa.array(UTC_NAMES)), False)
    named = pc.and_(pc.is_valid(zone), pc.invert(utc))
    # Arrow reads 'Z' and offsets; UTC's other names are given to it as the offset they are
    offsets = pc.replace_substring_regex(text, r"\s*[A-Za-z][A-Za-z_/+-]*\s*$", "+00:00")
    aware = _parse_each(pc.if_else(utc, offsets, text), pc.and_(zoned, pc.invert(named)), UTC)
    naive = _parse_each(text, pc.invert(zoned), pa.timestamp("us"))
    unread = pc.and_(pc.is_valid(text), pc.and_(pc.is_null(aware), pc.is_null(naive)))
    unread = pc.and_(unread, pc.invert(named))
    if pc.any(unread).as_py():
        _refuse_nanos(col, text, unread, zoned)
    col.mark(_reasons(col, text, unread, "is not a timestamp"))
    for row in pc.indices_nonzero(named).to_pylist():
        why = ZONE_NAMED.format(zone=zone[row].as_py())
        col.mark({int(row): f"column {col.name}: '{_shown(text, row)}' {why}"})
    return _instants(col, aware, naive)


def _refuse_nanos(col: _Column, text: pa.Array, unread: pa.Array, zoned: pa.Array) -> None:
    """Text that microseconds cannot hold but nanoseconds can ('10:00:00.123456789') refuses
    the load, as a nanosecond column does: it is a time, not text that is not one."""
    for kind, rows in (
        (pa.timestamp("ns", tz="UTC"), zoned),
        (pa.timestamp("ns"), pc.invert(zoned)),
    ):
        fine = _parse_each(text, pc.and_(unread, rows), kind)
        if fine.null_count < len(fine):
            _instants(col, fine, None)  # refuses, naming the value


def _parse_each(text: pa.Array, rows: pa.Array, target: pa.DataType) -> pa.Array:
    """`text` parsed as `target` where `rows` is true (null elsewhere and where it fails)."""
    chosen = pc.if_else(rows, text, pa.nulls(len(text), pa.string()))
    return _cast_where_possible(chosen, target)[0]


def _instants(col: _Column, column: pa.Array, local: pa.Array | None) -> pa.Array:
    """A timestamp column (and the wall-clock part of it, if the reader split it off) as
    microseconds in UTC: nanoseconds only when none are lost, local times by the rule."""
    lossy = lossy_nanos(column)
    if lossy is not None:
        raise col.refuse(
            f" has nanoseconds ({col.at(lossy)}), which microsecond storage would drop",
            f"round {col.name} to microseconds at the source, or declare it as string in "
            f"sources.{col.typing.source}.columns",
        )
    resolved = _resolve(col, column)
    if local is None:
        return resolved.values
    wall = _resolve(col, local.cast(pa.timestamp("us")))
    return pc.coalesce(resolved.values, wall.values)


def _resolve(col: _Column, column: pa.Array) -> Resolved:
    try:
        resolved = to_utc(column, col.name, col.typing.rule)
    except NoZone as exc:
        raise col.refuse(
            f" has no time zone ({col.at(exc.row)})",
            f"declare the zone they were written in: sources.{col.typing.source}.timezone "
            "(e.g. Europe/Paris or UTC), or send them with an offset",
        ) from None
    col.mark(resolved.problems)
    col.result.coerced.update(resolved.coerced)
    return resolved


def _storable(col: _Column, column: pa.Array, local: pa.Array | None) -> pa.Array:
    """`column` as a type a Delta table holds exactly, or refused naming the fix."""
    kind = column.type
    if pa.types.is_timestamp(kind) or local is not None:
        return _instants(col, column, local)
    if pa.types.is_date(kind):
        column = column.cast(pa.date32())
        col.mark(dates_in_range(column, col.name))
        return column
    if pa.types.is_dictionary(kind):
        return _storable(col, column.dictionary_decode(), None)
    if pa.types.is_unsigned_integer(kind):
        return _signed(col, column)
    if pa.types.is_time(kind):  # no time-of-day type in Delta; ISO text keeps it
        return pc.replace_substring_regex(column.cast(pa.string()), r"\.0+$", "")
    if pa.types.is_float16(kind):
        return column.cast(pa.float32())
    if pa.types.is_decimal(kind) and kind.precision > 38:
        raise col.refuse(
            f" is {kind}, wider than the 38 digits a table holds",
            f"declare it as string in sources.{col.typing.source}.columns to keep every digit",
        )
    if pa.types.is_decimal256(kind):
        return column.cast(pa.decimal128(kind.precision, kind.scale))
    if pa.types.is_struct(kind):
        return _struct(col, column)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _list(col, column)
    if _plain(kind):
        return column
    raise col.refuse(
        f" is {kind}, which a table cannot hold",
        f"declare it as string in sources.{col.typing.source}.columns, or convert it at the "
        "source (e.g. cast it in the query)",
    )


def _plain(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_null(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_signed_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal128(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
        or pa.types.is_map(kind)
    )


def _signed(col: _Column, column: pa.Array) -> pa.Array:
    """Unsigned integers, which Delta has not: a wider signed type holds them; uint64 values
    above int64 are marked (declare decimal(20,0) or string to keep them)."""
    width = column.type.bit_width
    if width < 64:
        return column.cast(pa.int64() if width == 32 else pa.int32())
    above = pc.fill_null(pc.greater(column, pa.scalar(_INT64_MAX, pa.uint64())), False)
    col.mark(_reasons(col, column, above, "is above int64; declare it as decimal(20,0)"))
    return pc.if_else(above, pa.nulls(len(column), pa.uint64()), column).cast(pa.int64())


def _struct(col: _Column, column: pa.Array) -> pa.Array:
    assert isinstance(column, pa.StructArray)
    children = [
        _storable(_Column(f"{col.name}.{f.name}", col.typing, col.where, col.result), c, None)
        for f, c in zip(column.type, column.flatten(), strict=True)
    ]
    names = [f.name for f in column.type]
    return pa.StructArray.from_arrays(children, names=names, mask=column.is_null())


def _list(col: _Column, column: pa.Array) -> pa.Array:
    """A list's values conformed; a bad value marks the row that holds it."""
    assert isinstance(column, pa.ListArray | pa.LargeListArray)
    inner = _Column(f"{col.name}[]", col.typing, col.where, Conformed(pa.record_batch([])))
    values = _storable(inner, column.flatten(), None)
    if inner.result.problems:
        parents = pc.list_parent_indices(column).to_pylist()
        col.mark({parents[i]: r[0] for i, r in inner.result.problems.items()})
    col.result.coerced.update(inner.result.coerced)
    if values.type == column.type.value_type:
        return column
    offsets = pc.subtract(column.offsets, column.offsets[0])
    kind = pa.large_list if pa.types.is_large_list(column.type) else pa.list_
    rebuilt = type(column).from_arrays(offsets, values, mask=column.is_null())
    return rebuilt.cast(kind(values.type))


def _reasons(col: _Column, values: pa.Array, mask: pa.Array, why: str) -> dict[int, str]:
    rows = pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()
    return {int(i): f"column {col.name}: '{_shown(values, i)}' {why}" for i in rows}


def _shown(values: pa.Array, index: int) -> str:
    """One value as text for a message; never fails (a year 10000 timestamp included)."""
    try:
        text = pc.cast(values.slice(index, 1), pa.string())[0].as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = None
    if text is None:
        return str(values[index])
    return _whole_seconds(str(text)) if pa.types.is_timestamp(values.type) else str(text)


def _whole_seconds(text: str) -> str:
    """'10:00:00.000000' as '10:00:00'; '10:00:00.000000001' as it is."""
    return re.sub(r"\.000000(?![0-9])", "", text)


def _type_name(target: pa.DataType) -> str:
    if pa.types.is_decimal(target):
        return f"decimal({target.precision},{target.scale})"
    names = {v: k for k, v in ARROW_TYPES.items()}
    name = names.get(target, str(target))
    return {"date": "a date", "timestamp": "a timestamp", "bool": "a boolean"}.get(name, name)
