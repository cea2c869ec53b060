"""What every engine offers. DuckDB today; Spark implements the same protocol later."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from weir.core.tables import TableFiles

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pads


@dataclass(frozen=True)
class Fingerprint:
    """Content identity of a table: equal rows (in any order) give equal digests."""

    row_count: int
    digest: str


class Engine(Protocol):
    name: str

    def settings(self) -> Mapping[str, Any]:
        """What, besides inputs and code, can change an engine's results (goes into cache keys)."""
        ...

    def query(
        self, sql: str, tables: Mapping[str, pads.Dataset | pa.Table | TableFiles]
    ) -> AbstractContextManager[pa.RecordBatchReader]:
        """Run one SELECT over the named tables; stream the result as Arrow batches."""
        ...

    def fingerprint(self, data: pads.Dataset | pa.Table | TableFiles) -> Fingerprint: ...


def schema_record(schema: pa.Schema) -> list[dict[str, Any]]:
    """An Arrow schema as JSON-able data for the catalog."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def iter_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return
