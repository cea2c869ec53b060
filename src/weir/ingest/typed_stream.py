"""A stream of batches from a database or an API, conformed batch by batch, and the pieces
every reader shares: the quarantine record of a row set aside (`raw_rows` shows it as JSON)
and the decisions a typed read made for the whole load (`decisions`).

A row set aside keeps its place: the SQL connector names it by its cursor value or its row
number, the HTTP connector by its page and record or its key.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.core.errors import SourceRefusedError
from weir.engines.split import (
    DECIDE_COLUMN,
    LOCAL_PREFIX,
    QUARANTINE_SCHEMA,
    RAW_COLUMN,
    REJECT_COLUMN,
    Diverted,
    is_helper,
)
from weir.ingest.conform import Conformed, Typing, conform, renamed


def raw_rows(batch: pa.RecordBatch, rows: list[int]) -> list[str]:
    """Rows as JSON objects for the quarantine's `raw`, with every value shown as text where
    JSON has no form for it; never fails."""
    if not rows:
        return []
    picked = batch.take(pa.array(rows, pa.int64()))
    columns = {
        n: _jsonable(picked.column(i))
        for i, n in enumerate(picked.schema.names)
        if not is_helper(n) or n.startswith(LOCAL_PREFIX)
    }
    return [
        json.dumps(
            {n.removeprefix(LOCAL_PREFIX): v[i] for n, v in columns.items()},
            ensure_ascii=False,
            default=str,
        )
        for i in range(len(rows))
    ]


def _jsonable(column: pa.Array) -> list[Any]:
    kind = column.type
    if pa.types.is_temporal(kind) or pa.types.is_decimal(kind) or pa.types.is_binary(kind):
        try:
            text = pc.cast(column, pa.string())
            if pa.types.is_timestamp(kind) or pa.types.is_time(kind):
                text = pc.replace_substring_regex(text, r"\.000000(Z?)$", r"\1")
            return list(text.to_pylist())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return [str(v) for v in column]
    try:
        return list(column.to_pylist())
    except (ValueError, OverflowError):
        return [str(v) for v in column]


@dataclass(frozen=True)
class Decision:
    """A finding of a typed read that decides the load, not a row: `code` N (nanoseconds
    that microseconds would drop) and F (NaN in JSON) refuse it, C (NaN stored as null, as
    declared) is counted."""

    row: int
    code: str
    column: str


def decisions(batch: pa.RecordBatch) -> list[Decision]:
    if DECIDE_COLUMN not in batch.schema.names:
        return []
    column = batch.column(DECIDE_COLUMN)
    if column.null_count == len(column):
        return []
    names = [n for n in batch.schema.names if not is_helper(n)]
    found = []
    for row in pc.indices_nonzero(pc.is_valid(column)).to_pylist():
        for code in str(column[row].as_py()).split(","):
            found.append(Decision(int(row), code[0], names[int(code[1:])]))
    return found


def decision_text(code: str) -> str:
    if code == "N":
        return "has nanoseconds, which microsecond storage would drop"
    return "holds NaN or Infinity, which a float column stores only when declared"


def typed_stream(
    stream: pa.RecordBatchReader,
    stored: list[str],
    typing: Typing,
    *,
    noun: str,
    place: Callable[[pa.RecordBatch, int, int], str],
    diverted: Diverted,
    coerced: Counter[str],
    raw: Callable[[pa.RecordBatch, list[int], int], list[str]] | None = None,
) -> pa.RecordBatchReader:
    """`stream` under its stored names, conformed batch by batch; rows that do not fit go to
    `diverted`, placed by `place(batch, index in batch, index in stream)` and shown by `raw`
    (default: the row as read, as JSON). The first batch is typed before the reader is made,
    since typing decides the schema; an empty stream still gives one (empty) batch."""

    def batches() -> Iterator[pa.RecordBatch]:
        seen = 0
        empty = pa.RecordBatch.from_pylist([], schema=stream.schema)
        for incoming in itertools.chain(stream, [empty]):
            if incoming is empty and seen:
                return
            batch = renamed(incoming, stored)
            where = f"{noun} {seen + 1}-{seen + batch.num_rows}"
            _decide(batch, typing, where, coerced, noun.removesuffix("s"), seen)
            done = conform(batch, typing, where, first=seen, noun=noun.removesuffix("s"))
            coerced.update(done.coerced)
            typed_batch = _data_only(done.batch)
            for index, reasons in _read_rejects(batch).items():
                done.problems[index] = reasons + done.problems.get(index, [])
            if done.problems:
                rows = sorted(done.problems)
                shown = _read_raw(batch, rows) or (
                    raw(batch, rows, seen) if raw else raw_rows(batch, rows)
                )
                diverted.tables.append(_rejects(batch, done, rows, shown, place, seen))
                keep = np.ones(batch.num_rows, dtype=bool)
                keep[rows] = False
                seen += batch.num_rows
                yield typed_batch.filter(pa.array(keep))
                continue
            seen += batch.num_rows
            yield typed_batch

    typed = batches()
    first = next(typed)
    return pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], typed))


def _data_only(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` without the typed read's helper columns (reasons, raw records, decisions):
    they were consumed above and must not reach the table."""
    keep = [i for i, name in enumerate(batch.schema.names) if not is_helper(name)]
    if len(keep) == batch.num_columns:
        return batch
    return batch.select(keep)


def _decide(
    batch: pa.RecordBatch, typing: Typing, where: str, coerced: Counter[str], noun: str, seen: int
) -> None:
    for found in decisions(batch):
        if found.code == "C":
            coerced[f"{found.column}: NaN or Infinity stored as null"] += 1
            continue
        raise SourceRefusedError(
            typing.source,
            f"{where}: column {found.column} "
            + decision_text(found.code).replace(", ", f" ({noun} {seen + found.row + 1}), ", 1)
            + "; nothing was committed",
            fix=f"round it to microseconds at the source, or declare it as string in "
            f"sources.{typing.source}.columns"
            if found.code == "N"
            else "write null for a missing number at the source",
        )


def _read_rejects(batch: pa.RecordBatch) -> dict[int, list[str]]:
    """Reasons the typed read itself gave (a JSON value that does not fit its type)."""
    if REJECT_COLUMN not in batch.schema.names:
        return {}
    column = batch.column(REJECT_COLUMN)
    rows = pc.indices_nonzero(pc.is_valid(column)).to_pylist()
    return {int(i): str(column[i].as_py()).split("; ") for i in rows}


def _read_raw(batch: pa.RecordBatch, rows: list[int]) -> list[str] | None:
    """The records as read, where the typed read kept them for every row set aside."""
    if RAW_COLUMN not in batch.schema.names:
        return None
    texts = batch.column(RAW_COLUMN).take(pa.array(rows, pa.int64())).to_pylist()
    return None if any(t is None for t in texts) else [str(t) for t in texts]


def _rejects(
    batch: pa.RecordBatch,
    done: Conformed,
    rows: list[int],
    shown: list[str],
    place: Callable[[pa.RecordBatch, int, int], str],
    seen: int,
) -> pa.Table:
    count = len(rows)
    return pa.table(
        {
            "file": pa.nulls(count, pa.string()),
            "line": pa.nulls(count, pa.int64()),
            "byte_offset": pa.nulls(count, pa.int64()),
            "column_name": [
                ", ".join(sorted({_column_of(r) for r in done.problems[i]})) for i in rows
            ],
            "error_type": ["CAST"] * count,
            "error": ["; ".join(done.problems[i]) for i in rows],
            "raw": shown,
            "key": [place(batch, i, seen + i) for i in rows],
        },
        schema=QUARANTINE_SCHEMA,
    )


def _column_of(reason: str) -> str:
    return reason.split(":", 1)[0].removeprefix("column ")
