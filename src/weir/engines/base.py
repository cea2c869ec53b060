"""What every engine offers to the stages. DuckDB today; Spark implements the same protocol.

Quality checks, profiles and cleaning are written against `Engine`, so mypy checks that each
engine provides what they use. Ingestion is engine-specific (it uses the engine's readers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Union

from weir.core.errors import WeirError
from weir.core.tables import TableFiles

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pads

Readable = Union["pads.Dataset", "pa.Table", "pa.RecordBatchReader", TableFiles]


class SqlError(WeirError):
    """The engine refused a query; the message is the engine's own."""

    # Raised while the statement is parsed and bound, before a row is read: such a message
    # quotes the SQL and the schema, never a value.
    BEFORE_DATA = ("Parser Error", "Binder Error", "Catalog Error")

    def without_values(self) -> str:
        """The message as it may be shown about a table holding governed PII: the kind of
        error alone (`Conversion Error`), since the rest may quote a value, in any quoting
        or none (`error(email)` raises the value itself); whole when it was raised before
        any row was read."""
        kind, colon, _ = self.message.partition(":")
        if colon and kind in self.BEFORE_DATA:
            return self.message
        known = colon and re.fullmatch(r"[A-Z][A-Za-z ]{0,40} Error", kind)
        return f"{kind if known else 'an engine error'} (the rest of the message is withheld: it may quote a value of a PII column)"


@dataclass(frozen=True)
class Fingerprint:
    """Content identity of a table: equal rows (in any order) give equal digests."""

    row_count: int
    digest: str
    non_null: tuple[int, ...] = ()  # per column, from the same scan: a profile needs them
    not_finite: tuple[int, ...] = ()  # per column, NaN and ±Infinity (0 but for floats): too


class Engine(Protocol):
    name: str

    def settings(self) -> Mapping[str, Any]:
        """What, besides inputs and code, can change an engine's results (goes into cache keys)."""
        ...

    def query(
        self,
        sql: str,
        tables: Mapping[str, Readable],
        params: Mapping[str, Any] | None = None,
        views: Mapping[str, str] | None = None,
    ) -> AbstractContextManager[pa.RecordBatchReader]:
        """Run one SELECT over the named tables (and views of them, in dependency order) in a
        sandbox that can read nothing else: no file, URL or extension, no setting, no catalog
        beyond the inputs, no SQL run from a string (weir.engines.sandbox says what DuckDB
        allows); $name parameters are bound, never spliced in; stream the result as Arrow
        batches. Raises SqlError (SandboxError for a statement the sandbox refuses)."""
        ...

    def fingerprint(self, data: Readable) -> Fingerprint: ...


def schema_record(schema: pa.Schema) -> list[dict[str, Any]]:
    """An Arrow schema as JSON-able data for the catalog."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def iter_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return
