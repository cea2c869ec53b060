"""Split a stream into the rows that go on and the rows set aside, in one pass.

The stream carries a reason column (NULL for a good row) and a raw column (the row as text,
filled only for bad rows). Good rows leave without those columns; bad rows are collected as
quarantine records. Used for values a source cannot type and for quarantine-severity checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from weir.engines.base import iter_batches

REJECT_COLUMN = "__weir_reject"
RAW_COLUMN = "__weir_raw"
FILE_COLUMN = "__weir_file"
HELPER_COLUMNS = (REJECT_COLUMN, RAW_COLUMN, FILE_COLUMN)
RESERVED_PREFIX = "__weir"
"""Every helper column starts so, and no column of data may (sources and models refuse
one): a header naming `__weir_reject` would otherwise forge a row's quarantine reason."""

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
    for name in HELPER_COLUMNS:
        if name in schema.names:
            schema = schema.remove(schema.get_field_index(name))
    return schema


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
                        "key": pa.nulls(count, pa.string()),
                    },
                    schema=QUARANTINE_SCHEMA,
                )
            )
            batch = batch.filter(good)
    keep = [i for i, n in enumerate(names) if n not in HELPER_COLUMNS]
    return batch.select(keep)


def split_stream(reader: pa.RecordBatchReader, diverted: Diverted) -> Iterator[pa.RecordBatch]:
    for batch in iter_batches(reader):
        yield split_batch(batch, diverted)
