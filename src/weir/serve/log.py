"""The prediction log: every answer, buffered in memory and appended to a Delta table in
batches by a background thread, so a request never waits for a disk write. Columns:
logged_at, request_id, model, version, latency_ms, input_<field> per model input (typed),
and the answer (label + probability, probabilities as JSON, prediction, or cluster).

Nothing is lost on a clean shutdown (`close` writes what is buffered). On a crash, what was
buffered since the last completed write is lost: at most `flush_seconds` of traffic, and
about `flush_rows` rows when traffic is heavy (a full buffer is written at once).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import pyarrow as pa

TYPES = {
    "number": pa.float64(),
    "category": pa.string(),
    "text": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


class PredictionLog:
    def __init__(
        self, path: Path, inputs: dict[str, str], flush_rows: int, flush_seconds: float
    ) -> None:
        """One typed column per model input (`inputs`: name -> kind), so drift checks read
        the log like any table; the answer's fields become columns too."""
        self.path, self.flush_rows, self.flush_seconds = path, flush_rows, flush_seconds
        self.inputs = {name: TYPES[kind] for name, kind in inputs.items()}
        self._outputs: tuple[str, ...] | None = None
        self._buffer: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self.written = 0
        self.failures = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="weir-prediction-log", daemon=True)
        self._thread.start()

    def add(
        self,
        request_id: str,
        model: str,
        version: int,
        row: dict[str, Any],
        output: dict[str, Any],
        latency_ms: float,
    ) -> None:
        """O(1), no I/O: called on the request path. Rows are kept as flat tuples of plain
        values (cheap for the garbage collector to pass over)."""
        values = tuple(row[name] for name in self.inputs)
        if self._outputs is None:
            self._outputs = tuple(output)
        answer = tuple(output.get(name) for name in self._outputs)
        self._buffer.append((time.time(), request_id, model, version, values, answer, latency_ms))
        if len(self._buffer) >= self.flush_rows:
            self._wake.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _loop(self) -> None:
        # The writer yields the CPU to requests: on Linux a thread has its own nice value,
        # and threads it starts (the Delta writer's) inherit it.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write what is buffered now; a failed write keeps the rows for the next try."""
        with self._write_lock:
            taken = [self._buffer.popleft() for _ in range(len(self._buffer))]
            if not taken:
                return 0
            table = self._table(taken)
            try:
                from deltalake import write_deltalake

                write_deltalake(str(self.path), table, mode="append")
            except Exception as exc:
                self.failures += 1
                self.last_error = str(exc)
                self._buffer.extendleft(reversed(taken))
                return 0
            self.written += len(taken)
            return len(taken)

    def _table(self, taken: list[tuple[Any, ...]]) -> pa.Table:
        columns: dict[str, pa.Array] = {
            "logged_at": pa.array([int(t[0] * 1e6) for t in taken], pa.timestamp("us", tz="UTC")),
            "request_id": pa.array([t[1] for t in taken], pa.string()),
            "model": pa.array([t[2] for t in taken], pa.string()),
            "version": pa.array([t[3] for t in taken], pa.int64()),
            "latency_ms": pa.array([t[6] for t in taken], pa.float64()),
        }
        for index, (name, kind) in enumerate(self.inputs.items()):
            columns[f"input_{name}"] = pa.array([t[4][index] for t in taken], kind)
        for index, name in enumerate(self._outputs or ()):
            values = [t[5][index] for t in taken]
            if name == "probabilities":  # per-class: one JSON object per row
                columns[name] = pa.array([json.dumps(v) for v in values], pa.string())
            elif name == "label":  # labels may be numbers or text: kept as text
                columns[name] = pa.array([str(v) for v in values], pa.string())
            else:
                columns[name] = pa.array(values)
        return pa.table(columns)

    def close(self) -> None:
        """Stop the writer and write everything still buffered."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()
