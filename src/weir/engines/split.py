"""Split a stream into the rows that go on and the rows set aside, in one pass.

The stream carries a reason column (NULL for a good row) and a raw column (the row as text,
filled only for bad rows). Good rows leave without those columns; bad rows are collected as
quarantine records. Used for values a source cannot type and for quarantine-severity checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from weir.engines.base import iter_batches

REJECT_COLUMN = "__weir_reject"
RAW_COLUMN = "__weir_raw"
FILE_COLUMN = "__weir_file"
KEY_COLUMN = "__weir_key"
DECIDE_COLUMN = "__weir_decide"  # codes of findings that decide the load (see ingest.text_types)
HELPER_COLUMNS = (REJECT_COLUMN, RAW_COLUMN, FILE_COLUMN, KEY_COLUMN, DECIDE_COLUMN)
RESERVED_PREFIX = "__weir"
"""Every helper column starts so, and no column of data may (sources and models refuse
one): a header naming `__weir_reject` would otherwise forge a row's quarantine reason."""
# `__weir_local:NAME` holds the wall-clock part of timestamp column NAME, for the time rule;
# `__weir_invalid:NAME` the reason a value of NAME could not be read (null when it could)
LOCAL_PREFIX = "__weir_local:"
INVALID_PREFIX = "__weir_invalid:"


def is_helper(name: str) -> bool:
    return name in HELPER_COLUMNS or name.startswith((LOCAL_PREFIX, INVALID_PREFIX))


QUARANTINE_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int64()),
        ("byte_offset", pa.int64()),
        ("column_name", pa.string()),
        ("error_type", pa.string()),
        ("error", pa.string()),
        ("raw", pa.string()),
        ("key", pa.string()),  # the record's key or place where there is no file and line
    ]
)


@dataclass
class Diverted:
    """Bad rows collected while a split stream is consumed."""

    error_type: str
    tables: list[pa.Table] = field(default_factory=list)

    def table(self) -> pa.Table:
        return pa.concat_tables([QUARANTINE_SCHEMA.empty_table(), *self.tables])

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.tables)


def without_helpers(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f for f in schema if not is_helper(f.name)], metadata=schema.metadata)


def mark_rows(
    batch: pa.RecordBatch,
    problems: Mapping[int, Sequence[str]],
    raw: Callable[[list[int]], list[str]],
    key: Callable[[list[int]], list[str | None]] | None = None,
) -> pa.RecordBatch:
    """`batch` with `problems` (row -> reasons) added to its reason column, so that
    `split_batch` sets those rows aside with the rest; `raw` renders the rows that have no
    raw text yet, `key` places them where there is no file and line."""
    if not problems:
        return batch
    rows = sorted(problems)
    names = batch.schema.names
    reasons = _column_values(batch, REJECT_COLUMN)
    texts = _column_values(batch, RAW_COLUMN)
    missing = [i for i in rows if texts[i] is None]
    for index, text in zip(missing, raw(missing), strict=True):
        texts[index] = text
    for index in rows:
        reasons[index] = "; ".join([r for r in [reasons[index]] if r] + list(problems[index]))
    columns = {
        REJECT_COLUMN: pa.array(reasons, pa.string()),
        RAW_COLUMN: pa.array(texts, pa.string()),
    }
    if key is not None:
        keys = _column_values(batch, KEY_COLUMN)
        for index, place in zip(rows, key(rows), strict=True):
            keys[index] = place
        columns[KEY_COLUMN] = pa.array(keys, pa.string())
    for name, values in columns.items():
        if name in names:
            batch = batch.set_column(names.index(name), name, values)
        else:
            batch = batch.append_column(name, values)
    return batch


def _column_values(batch: pa.RecordBatch, name: str) -> list[str | None]:
    if name in batch.schema.names:
        return list(batch.column(name).to_pylist())
    return [None] * batch.num_rows


def split_batch(batch: pa.RecordBatch, diverted: Diverted) -> pa.RecordBatch:
    """The good rows of `batch`, without helper columns; bad rows go to `diverted`."""
    names = batch.schema.names
    if REJECT_COLUMN in names:
        reason = batch.column(REJECT_COLUMN)
        good = pc.is_null(reason)
        if pc.all(good).as_py() is not True:
            bad = batch.filter(pc.invert(good))
            count = bad.num_rows
            file = (
                bad.column(FILE_COLUMN).cast(pa.string())
                if FILE_COLUMN in names
                else pa.nulls(count, pa.string())
            )
            key = (
                bad.column(KEY_COLUMN).cast(pa.string())
                if KEY_COLUMN in names
                else pa.nulls(count, pa.string())
            )
            diverted.tables.append(
                pa.table(
                    {
                        "file": file,
                        "line": pa.nulls(count, pa.int64()),
                        "byte_offset": pa.nulls(count, pa.int64()),
                        "column_name": pc.extract_regex(
                            bad.column(REJECT_COLUMN), r"^column (?P<c>[^:]+):"
                        ).field("c"),
                        "error_type": pa.array([diverted.error_type] * count, pa.string()),
                        "error": bad.column(REJECT_COLUMN),
                        "raw": bad.column(RAW_COLUMN),
                        "key": key,
                    },
                    schema=QUARANTINE_SCHEMA,
                )
            )
            batch = batch.filter(good)
    keep = [i for i, n in enumerate(names) if not is_helper(n)]
    return batch.select(keep)


def split_stream(reader: pa.RecordBatchReader, diverted: Diverted) -> Iterator[pa.RecordBatch]:
    for batch in iter_batches(reader):
        yield split_batch(batch, diverted)
