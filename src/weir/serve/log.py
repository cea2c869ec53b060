"""The prediction log: every answer, buffered in memory and appended to a Delta table in
batches by a background thread, so a request never waits for a disk write.

Nothing is lost on a clean shutdown (`close` writes what is buffered). On a crash, what was
buffered since the last completed write is lost: at most `flush_seconds` of traffic, and
about `flush_rows` rows when traffic is heavy (a full buffer is written at once).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("logged_at", pa.timestamp("us", tz="UTC")),
        ("request_id", pa.string()),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("inputs", pa.string()),  # the request row as JSON
        ("output", pa.string()),  # the answer as JSON
        ("latency_ms", pa.float64()),
    ]
)


class PredictionLog:
    def __init__(self, path: Path, flush_rows: int, flush_seconds: float) -> None:
        self.path, self.flush_rows, self.flush_seconds = path, flush_rows, flush_seconds
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
        """O(1), no I/O: called on the request path."""
        self._buffer.append((time.time(), request_id, model, version, row, output, latency_ms))
        if len(self._buffer) >= self.flush_rows:
            self._wake.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _loop(self) -> None:
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
            table = pa.table(
                {
                    "logged_at": pa.array(
                        [int(t[0] * 1e6) for t in taken], pa.timestamp("us", tz="UTC")
                    ),
                    "request_id": [t[1] for t in taken],
                    "model": [t[2] for t in taken],
                    "version": pa.array([t[3] for t in taken], pa.int64()),
                    "inputs": [json.dumps(t[4], default=str) for t in taken],
                    "output": [json.dumps(t[5], default=str) for t in taken],
                    "latency_ms": pa.array([t[6] for t in taken], pa.float64()),
                },
                schema=SCHEMA,
            )
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

    def close(self) -> None:
        """Stop the writer and write everything still buffered."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()
