"""Which records of an HTTP load are new: those whose cursor is above the last load's.

The comparison is strict (`>`), as for a SQL cursor: a record whose cursor equals the
highest loaded before was loaded then, so it is not loaded twice. The price, the same as
for SQL, is that a record written later with a cursor at or below that value is never
read: the cursor must grow with every write (an id the API assigns, an updated_at it sets
on every change), not a time a client chose.

An API gives no way to fix the upper bound before the first page (a SQL source reads its
maximum first), so the bound is the highest cursor among the records this load read: the
next load starts from there. A record added while the pages are read is read now or next
time, never lost; one inserted into a page already read, with a cursor below the bound, is
the API's paging problem (a `key` catches records that move between pages).

Values are compared as what they are: numbers as numbers, ISO 8601 times as times (with
their offsets, so '10:00+01:00' is before '09:30Z'), other text as text. A record without
the field, or cursor values of different kinds, refuse the load.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from weir.core.errors import SourceRefusedError
from weir.ingest.state import CursorValue

_ISO_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def order(value: Any) -> tuple[str, Any] | None:
    """(kind, comparable) of a cursor value; None for a value that cannot be a cursor."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return "a number", value
    if isinstance(value, str):
        if _ISO_TIME.match(value):
            try:
                when = dt.datetime.fromisoformat(value)
            except ValueError:
                return "text", value
            if when.tzinfo is None:
                return "a time without offset", when
            return "a time with an offset", when
        return "text", value
    return None


class CursorFilter:
    """Admits the records above `after` (None: every record) and keeps the highest cursor."""

    def __init__(self, source: str, field: str, after: CursorValue) -> None:
        self.source = source
        self.field = field
        self.after = after
        self._after = None if after is None else order(after)
        self.top: CursorValue = None
        self._top: tuple[str, Any] | None = None

    def admits(self, record: dict[str, Any], place: str) -> bool:
        """Whether `record` is new; refuses one with no usable cursor value."""
        value = record.get(self.field)
        key = order(value)
        if key is None:
            shown = "no value" if value is None else f"a {type(value).__name__}"
            raise SourceRefusedError(
                self.source,
                f"{place}: the cursor field '{self.field}' holds {shown}; nothing was committed",
                fix=f"check sources.{self.source}.incremental.cursor: a field every record has, "
                "a number or a time (ISO 8601)",
            )
        for other in (self._after, self._top):
            if other is not None and other[0] != key[0]:
                raise SourceRefusedError(
                    self.source,
                    f"{place}: the cursor field '{self.field}' holds {key[0]}, where it held "
                    f"{other[0]} before; they cannot be ordered; nothing was committed",
                    fix="ask the API for one form of the field, or run 'weir run "
                    "--full-refresh' to load everything again if its form changed",
                )
        if self._top is None or key[1] > self._top[1]:
            self.top, self._top = value, key
        return self._after is None or key[1] > self._after[1]
