"""What every connector hands to the step that commits it: a stream and what it learned.

A connector reads; it never writes. It yields Arrow batches, counts rows and bytes for the
progress line, collects the records it had to set aside, and states the source's position
after this load (files loaded, cursor reached: a typed `weir.ingest.state.SourceState`).
The position is committed in the same Delta commit as the rows, so a crash can never leave
rows without their position or the reverse.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from weir.core.errors import SourceRefusedError
from weir.engines.split import QUARANTINE_SCHEMA, Diverted
from weir.ingest.state import SourceState

Progress = Callable[[int, int], None]  # (rows so far, bytes so far)


@dataclass
class LineCounts:
    """The physical lines of a line-based source (CSV), accounted for. Every line read is a
    header line, an empty line, a row (committed or quarantined), a quarantined line, or a
    further line of a record whose quoted field spans lines (`continued`)."""

    read: int = 0
    header: int = 0
    blank: int = 0
    continued: int = 0


@dataclass
class SourceRead:
    """A load in progress: stream `batches`, then read `rows`, `rejects()` and `position`.

    `incremental` says, for the step's summary, what this load reads: "rows above the
    cursor", "2 new file(s)", "full" (None: the source is not incremental)."""

    source: str
    batches: pa.RecordBatchReader
    position: SourceState = field(default_factory=SourceState)
    rows: int = 0
    bytes: int = 0
    failure: SourceRefusedError | None = None
    diverted: list[Diverted] = field(default_factory=list)
    extra_rejects: Callable[[], pa.Table] | None = None
    nothing_new: bool = False
    detail: dict[str, Any] = field(default_factory=dict)
    lines: LineCounts | None = None
    # values repaired by a rule the source declared (what -> how many), for the run summary
    coerced: Counter[str] = field(default_factory=Counter)
    incremental: str | None = None

    @property
    def state(self) -> dict[str, Any]:
        """The position as the JSON object committed with the rows."""
        return self.position.dump()

    def release(self) -> None:
        """Let go of the stream. Its generators refer back to this object (they count rows
        into it) and pyarrow's reader holds them from C++, where the garbage collector cannot
        see the cycle: a stream that was never read to its end (a load refused before its
        first batch, a write that failed) would otherwise keep its DuckDB connection and
        result alive until exit, and DuckDB reports them leaked ('nanobind: leaked ...')."""
        self.batches = pa.RecordBatchReader.from_batches(self.batches.schema, iter(()))

    def rejects(self) -> pa.Table:
        """Records set aside, with place and reason. Call after streaming."""
        tables = [QUARANTINE_SCHEMA.empty_table()]
        if self.extra_rejects is not None:
            tables.append(self.extra_rejects())
        tables += [d.table() for d in self.diverted]
        return pa.concat_tables(tables)


# what a kind of quarantine reason says without its value (others: DuckDB's own names)
_KINDS = {
    "CAST": "a value that could not be read as its declared type",
    "SCHEMA": "a record that does not match the source's contract",
}


def first_set_aside(tables: Iterable[pa.Table]) -> str:
    """The first record set aside as a refusal names it: place, column and kind of problem
    ('data/c.csv line 2, column phone: a value that could not be read as its declared type').
    Never the reason's text: it quotes the value, which may be PII, and a step's error is
    printed and kept in the catalog (the quarantine, in the lake, keeps the value)."""
    row = next(t.slice(0, 1).to_pylist()[0] for t in tables if t.num_rows)
    if row["line"] is not None:
        place = f"{row['file']} line {row['line']}" if row["file"] else f"line {row['line']}"
    else:
        place = row["key"] or row["file"] or "a record"
    kind = _KINDS.get(row["error_type"], str(row["error_type"] or "a problem").lower())
    return (
        f"{place}, column {row['column_name']}: {kind}"
        if row["column_name"]
        else f"{place}: {kind}"
    )


def counted(
    batches: Iterator[pa.RecordBatch], read: SourceRead, progress: Progress | None
) -> Iterator[pa.RecordBatch]:
    """Pass batches through, counting rows and bytes and reporting them; a load that
    would replace the table with nothing because every row was set aside is refused."""
    for batch in batches:
        read.rows += batch.num_rows
        read.bytes += batch.nbytes
        if progress is not None:
            progress(read.rows, read.bytes)
        yield batch
    set_aside = sum(d.rows for d in read.diverted)
    if read.rows == 0 and set_aside and not read.detail.get("append"):
        first = first_set_aside(t for d in read.diverted for t in d.tables)
        read.failure = SourceRefusedError(
            read.source,
            f"no rows are left: all {set_aside:,} were set aside (the first: {first}); the "
            "table would be replaced by an empty one; nothing was committed",
            fix=f"fix the data at the source, or sources.{read.source}.columns (declare "
            "string to keep any value)",
        )
        raise read.failure
