"""Late labels joined to the answers they judge, in Arrow, with every row accounted for.

A labels table (any Weir table) arrives after the answers: one row per key (the request id,
or a declared key) with the true label. `join_labels` attaches each label to the logged
answers of its key and counts what did not join, so a report can say how many labels a
figure rests on and why the others were left out:

    labels rows ─┬─ null key ............................ null_keys     (not joined)
                 ├─ null label (NaN too) ................ null_labels   (not joined: no label yet)
                 ├─ key labelled twice, same label ...... duplicate_keys (used once)
                 ├─ key labelled twice, other label ..... MonitorError  (which one is right?)
                 ├─ key that matches no logged answer ... unknown_keys  (+ up to 5 examples)
                 └─ joined

Keys of different types. Whole numbers and text meet on the decimal text of the numbers
(7 matches "7", not "007" or "7.0"), floats that are all whole numbers count as whole
numbers, and the result says so (`key_note`); any other pair of types is refused, since a
guess there (dates against text, fractional floats) would join wrong rows silently.

Labels of different types. The log stores the model's answer as text today, the labels table
holds the target's type (issue 21, item 5): `comparable_labels` brings a predicted and a true
column to one type before metrics compare them (rules in its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from weir.core.errors import MonitorError
from weir.core.suggest import suggestion_text

LABEL_TRUE = "label_true"
_EXAMPLES = 5
_ROW = "__weir_row"
_CAST_FIX = "cast one of them in a transform model so both are text or both whole numbers"


@dataclass(frozen=True)
class LabelJoin:
    """The logged answers that have a label, and the count of everything that did not join."""

    joined: pa.Table  # the log rows that have a label, in log order, plus `label_true`
    log_rows: int  # log rows considered
    labelled: int  # of them, with a label
    unknown_keys: int  # labelled keys that match no logged answer
    unknown_examples: tuple[str, ...]  # up to 5 of them, in the labels table's order
    duplicate_keys: int  # keys labelled more than once with the same label (used once)
    null_keys: int = 0  # labels rows without a key
    null_labels: int = 0  # labels rows with a key but no label (null or NaN)
    key_note: str | None = None  # how keys of different types were compared, if they were

    @property
    def unlabelled(self) -> int:
        return self.log_rows - self.labelled


def join_labels(
    log: pa.Table,
    labels: pa.Table,
    *,
    log_key: str,
    labels_key: str,
    label_column: str,
    labels_where: str = "labels table",
    log_where: str = "prediction log",
) -> LabelJoin:
    """Attach each key's label (as `label_true`, in the labels table's type) to the log rows
    of that key; several log rows may share a key (a declared key such as an order id), and
    each gets the label. Refuses missing columns and keys labelled with conflicting labels."""
    _require(log, log_key, log_where)
    _require(labels, labels_key, labels_where)
    _require(labels, label_column, labels_where)
    if labels_key == label_column:
        raise MonitorError(
            f"{labels_where}: the key and the label are the same column '{label_column}'",
            fix="name the column that identifies the answer as the key, and the true label apart",
        )
    if LABEL_TRUE in log.column_names:
        raise MonitorError(
            f"{log_where}: already has a column '{LABEL_TRUE}', the name the join gives the labels",
            fix=f"rename the log's column '{LABEL_TRUE}'",
        )
    log_keys, label_keys, note = _common_keys(
        _plain(log[log_key]), _plain(labels[labels_key]), log_where, labels_where
    )
    values = _plain(labels[label_column])
    valid_key = pc.is_valid(label_keys)
    valid_label = _has_value(values)
    null_keys = len(label_keys) - _count(valid_key)
    null_labels = _count(pc.and_(valid_key, pc.invert(valid_label)))
    kept = pa.table({"key": label_keys, "label": values, _ROW: pa.array(range(len(values)))})
    kept = kept.filter(pc.and_(valid_key, valid_label))
    once, duplicates = _once_per_key(kept, labels_where, label_column)
    unknown = once.filter(pc.invert(pc.is_in(once["key"], value_set=pc.unique(log_keys))))
    position = pc.index_in(log_keys, value_set=once["key"].combine_chunks())
    found = pc.is_valid(position)
    joined = log.filter(found).append_column(
        LABEL_TRUE, once["label"].take(pc.filter(position, found))
    )
    return LabelJoin(
        joined=joined,
        log_rows=log.num_rows,
        labelled=joined.num_rows,
        unknown_keys=unknown.num_rows,
        unknown_examples=tuple(str(k) for k in unknown["key"][:_EXAMPLES].to_pylist()),
        duplicate_keys=duplicates,
        null_keys=null_keys,
        null_labels=null_labels,
        key_note=note,
    )


def _require(table: pa.Table, column: str, where: str) -> None:
    if column not in table.column_names:
        present = ", ".join(table.column_names) or "none"
        raise MonitorError(
            f"{where}: has no column '{column}' (columns: {present})",
            fix=suggestion_text(column, table.column_names),
        )


def _plain(column: pa.ChunkedArray) -> pa.Array:
    """One contiguous array with dictionary encoding undone: what the compute kernels and
    the type rules below expect."""
    array = column.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return array


def _has_value(values: pa.Array) -> pa.Array:
    """Not null, and not NaN: a NaN label (a float column written with gaps) is no label."""
    if pa.types.is_floating(values.type):
        return pc.and_(pc.is_valid(values), pc.invert(pc.fill_null(pc.is_nan(values), True)))
    return pc.is_valid(values)


def _count(mask: pa.Array) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


def _family(kind: pa.DataType) -> str:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind):
        return "float"
    return str(kind)


def _common_keys(
    log_keys: pa.Array, label_keys: pa.Array, log_where: str, labels_where: str
) -> tuple[pa.Array, pa.Array, str | None]:
    """Both key columns in one type, and a note when one of them was converted."""
    notes: list[str] = []
    if pa.types.is_null(log_keys.type):  # no key at all (every one null): matches nothing
        log_keys = log_keys.cast(label_keys.type)
    if pa.types.is_null(label_keys.type):
        label_keys = label_keys.cast(log_keys.type)
    log_keys = _whole_floats(log_keys, log_where, notes)
    label_keys = _whole_floats(label_keys, labels_where, notes)
    families = (_family(log_keys.type), _family(label_keys.type))
    if families == ("text", "text"):
        pair = (log_keys.cast(pa.large_string()), label_keys.cast(pa.large_string()))
    elif families == ("integer", "integer"):
        pair = (log_keys.cast(pa.int64()), label_keys.cast(pa.int64()))
    elif set(families) == {"text", "integer"}:
        side = labels_where if families[1] == "integer" else log_where
        notes.append(f"keys compared as text: the {side}'s whole numbers in decimal form")
        pair = (log_keys.cast(pa.large_string()), label_keys.cast(pa.large_string()))
    elif log_keys.type == label_keys.type:
        pair = (log_keys, label_keys)
    else:
        raise MonitorError(
            f"{labels_where}: its key is of type {label_keys.type} and the {log_where}'s "
            f"is {log_keys.type}; keys of these types cannot be matched safely",
            fix=_CAST_FIX,
        )
    return pair[0], pair[1], "; ".join(notes) or None


def _whole_floats(keys: pa.Array, where: str, notes: list[str]) -> pa.Array:
    """Float keys (a column of ids read with nulls by pandas) count as whole numbers when
    every one is; a fractional or NaN key cannot match reliably and is refused."""
    if not pa.types.is_floating(keys.type):
        return keys
    valid = keys.filter(pc.is_valid(keys))
    whole = pc.and_(pc.is_finite(valid), pc.equal(pc.floor(valid), valid))
    if not pc.all(whole).as_py():
        bad = valid.filter(pc.invert(whole))[:_EXAMPLES].to_pylist()
        raise MonitorError(
            f"{where}: its key column holds fractional or non-finite numbers ({bad}); "
            "such keys cannot be matched reliably",
            fix=_CAST_FIX,
        )
    notes.append(f"the {where}'s float keys are whole numbers and were compared as such")
    return keys.cast(pa.int64())


def _once_per_key(kept: pa.Table, where: str, label_column: str) -> tuple[pa.Table, int]:
    """One row per key (the first in the labels table), and how many keys had more than one.
    A key with two different labels is refused: which one is true is the user's knowledge."""
    groups = kept.group_by("key").aggregate(
        [("label", "count_distinct"), ("label", "count"), (_ROW, "min")]
    )
    conflicting = groups.filter(pc.greater(groups["label_count_distinct"], 1))
    if conflicting.num_rows:
        raise _conflict(kept, conflicting, where, label_column)
    duplicates = _count(pc.greater(groups["label_count"], 1))
    first = pc.sort_indices(groups[f"{_ROW}_min"])
    rows = groups[f"{_ROW}_min"].take(first)
    return kept.take(pc.index_in(rows, value_set=kept[_ROW].combine_chunks())), duplicates


def _conflict(kept: pa.Table, conflicting: pa.Table, where: str, label_column: str) -> MonitorError:
    keys = conflicting.sort_by(f"{_ROW}_min")["key"][:_EXAMPLES].to_pylist()
    examples = []
    for key in keys:
        seen = kept.filter(pc.equal(kept["key"], key))["label"].to_pylist()
        distinct = list(dict.fromkeys(seen))
        examples.append(f"{key!r}: " + " / ".join(repr(v) for v in distinct[:3]))
    return MonitorError(
        f"{where}: {conflicting.num_rows} keys are labelled more than once with different "
        f"values of '{label_column}' (e.g. {'; '.join(examples)})",
        fix="keep one label per key: deduplicate the labels table (e.g. a transform model "
        "keeping the latest label per key), or declare which of the labels is right",
    )


def comparable_labels(
    predicted: pa.Array | pa.ChunkedArray,
    truth: pa.Array | pa.ChunkedArray,
    *,
    where: str = "labels",
) -> tuple[pa.Array, pa.Array]:
    """The predicted and true labels in one type, so equal labels compare equal. Rules, by
    the pair of types (dictionary encoding undone first):

    - same kind (text/text, whole/whole, float/float, bool/bool): unchanged (widths unified);
    - whole numbers and floats: both float64;
    - text and numbers: the text parsed as numbers (whole numbers when the other side is and
      every text parses as one, else float64), so "1" and "1.0" both equal 1;
    - text and bool: the text read case-insensitively as true/false (also "1"/"0");
    - bool and whole numbers: 0/1 read as false/true;
    - anything else: both as text.

    Text that does not read as the other side's type is refused, naming up to five examples:
    such labels can never be equal, and every row would silently count as an error. Use the
    same function for the classes or the positive class (`pa.array([positive])`) so they
    take the truth's form too."""
    a, b = _plain_any(predicted), _plain_any(truth)
    kinds = (_family(a.type), _family(b.type))
    if kinds[0] == kinds[1] and kinds[0] in _TYPES:
        target = kinds[0]
    elif set(kinds) == {"integer", "float"}:
        target = "float"
    elif "text" in kinds and set(kinds) - {"text"} <= {"integer", "float", "bool"}:
        target = kinds[1] if kinds[0] == "text" else kinds[0]
    elif set(kinds) == {"bool", "integer"}:
        target = "bool"
    else:
        target = "text"
    if target == "integer" and "text" in kinds:
        text = a if kinds[0] == "text" else b
        target = "integer" if _reads_as(text, pa.int64()) else "float"
    return _convert(a, kinds[0], target, where), _convert(b, kinds[1], target, where)


_TYPES = {
    "text": pa.large_string(),
    "integer": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
}
_NAMES = {"integer": "whole numbers", "float": "numbers", "bool": "true/false"}
_TRUE = pa.array(["true", "1"])
_BOOLS = pa.array(["true", "1", "false", "0"])


def _plain_any(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return _plain(values)
    return values.cast(values.type.value_type) if pa.types.is_dictionary(values.type) else values


def _reads_as(text: pa.Array, kind: pa.DataType) -> bool:
    try:
        text.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _convert(values: pa.Array, kind: str, target: str, where: str) -> pa.Array:
    """`values` (of family `kind`) in the type of family `target`, refusing what cannot be."""
    if kind == "text" and target == "bool":
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
        readable = pc.or_(pc.is_in(lowered, value_set=_BOOLS), pc.is_null(values))
        if not pc.all(readable).as_py():
            raise _unreadable(values.filter(pc.invert(readable)), target, where)
        truthy = pc.is_in(lowered, value_set=_TRUE)
        return pc.if_else(pc.is_valid(values), truthy, pa.scalar(None, pa.bool_()))
    if kind == "integer" and target == "bool":
        valid = values.filter(pc.is_valid(values))
        binary = pc.is_in(valid, value_set=pa.array([0, 1], valid.type))
        if not pc.all(binary).as_py():
            raise _unreadable(valid.filter(pc.invert(binary)), target, where)
        return pc.not_equal(values, pa.scalar(0, values.type))
    try:
        return values.cast(_TYPES[target])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _unreadable(values, target, where) from None


def _unreadable(values: pa.Array, kind: str, where: str) -> MonitorError:
    seen = pc.unique(values.filter(pc.is_valid(values)))[:1000].to_pylist()
    if kind in {"integer", "float"}:  # only the texts that fail to read
        seen = [v for v in seen if not _reads_as(pa.array([v]), pa.float64())]
    return MonitorError(
        f"{where}: one side holds {_NAMES.get(kind, kind)}, the other values that do not read "
        f"as such (e.g. {', '.join(repr(v) for v in seen[:_EXAMPLES])}); no label could match",
        fix="give the labels in the model's target type (the classes it was trained on)",
    )
