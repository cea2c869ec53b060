"""The prediction log: every answer, handed to a writer process that appends it to a Delta
table (the lake table MODEL__predictions; each commit names the model versions that
answered, and the catalog records it later: weir.app.prediction_log), so a request never
waits for a disk write, and never for the interpreter lock held by the work of turning
rows into Arrow (done in-process, that work showed as 0.5 to 1 ms at p99). Columns: logged_at, request_id, model, version, latency_ms,
input_<field> per model input (typed), and the answer (label + probability, probabilities
as JSON, prediction, or cluster). With a shadow (weir.serve.shadow), the challenger's
answer to a sampled request goes on the champion's row, in `shadow_*` columns declared up
front (null on rows not sampled), and the row is written once that answer is ready.

Right after an answer is sent (the caller does not wait for this), it becomes one JSON
line written to a pipe (non-blocking; if the pipe is full the line waits in memory for the
next write). The writer process (`log_writer.py`, at the lowest CPU priority and in the
server's session) polls the pipe and appends every `flush_seconds` or `flush_rows`; while
answers flow it can poll without sleeping, for `busy_poll_seconds` after each (opt-in VM
tuning, off unless set; why: see `log_writer.py`).
Nothing is lost on a clean shutdown: requests in flight finish, then closing the pipe
makes the writer write everything and exit (after 60 s the server stops waiting and
leaves the writer to finish alone). A killed server closes the pipe too, so the answers
in it are still written; lost are only answers sent in the microseconds before their line
was (at most one per request in flight) and lines waiting here because the pipe was full.
When the pipe closes the writer leaves its lowest priority where Linux permits it (see
`log_writer.py`); where it cannot, on a machine with no idle CPU its last write waits for
one. A killed writer loses what it received since its last write.

The writer's low priority has a price: when the machine has no CPU to spare for long (say
onnxruntime's spinning worker threads with `onnx_threads: 0` under sustained load, or
other busy processes), it gets none and falls behind. That is shown, not hidden:
`stalled_seconds` says how long answers have waited with nothing written, and /ready
answers 503 once that passes `stall_limit`, so a balancer sends load elsewhere and the
writer catches up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weir.core.errors import LakeError
from weir.lake import check_latest

logger = logging.getLogger("weir.serve")
_PIPE_BYTES = 1 << 20
_MAX_WAITING = 1_000_000  # lines kept in memory while the writer is gone or slow


@dataclass(frozen=True)
class LogCommits:
    """What each of the writer's commits carries besides the rows: `metadata` as it is,
    the model versions that answered under `versions_key`, a commit id under `commit_key`.
    Given by the app (weir.app.prediction_log.log_commits), which owns the key names."""

    metadata: Mapping[str, str]
    versions_key: str
    commit_key: str
    shadow_versions_key: str = ""  # the challenger versions of the rows' shadow answers


class PredictionLog:
    def __init__(
        self,
        path: Path,
        inputs: dict[str, str],
        flush_rows: int,
        flush_seconds: float,
        model: str = "",
        busy_poll_seconds: float = 0.0,
        commits: LogCommits | None = None,
        shadow_columns: Mapping[str, str] | None = None,
    ) -> None:
        """One typed column per model input (`inputs`: name -> kind), so drift checks read
        the log like any table; the answer's fields become columns too. `shadow_columns`
        (name -> Arrow type name) are declared whether a row has them or not, so every
        flush has the same columns."""
        self.path, self._kinds = path, dict(inputs)
        refuse_damaged(Path(path))
        spec: dict[str, Any] = {
            "path": str(path),
            "model": model,
            "columns": self._kinds,
            "flush_rows": flush_rows,
            "flush_seconds": flush_seconds,
            "busy_poll_seconds": busy_poll_seconds,
            "shadow_columns": dict(shadow_columns or {}),
        }
        if commits is not None:
            spec |= {
                "metadata": dict(commits.metadata),
                "versions_key": commits.versions_key,
                "commit_key": commits.commit_key,
                "shadow_versions_key": commits.shadow_versions_key,
            }
        self._process = subprocess.Popen(
            # run as a file, not `-m weir...`: importing the weir package costs two seconds
            [sys.executable, str(Path(__file__).with_name("log_writer.py")), json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Its own process group, so a Ctrl-C to the server does not kill it first; but
            # the server's session: Linux schedules each session as one group (autogroup),
            # and a writer in a session of its own would share the CPU with the server as
            # an equal, whatever its priority.
            process_group=0,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._pipe = self._process.stdin.fileno()
        with contextlib.suppress(OSError, AttributeError):  # Linux: room for bursts
            import fcntl

            fcntl.fcntl(self._pipe, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        os.set_blocking(self._pipe, False)
        self._waiting: deque[bytes] = deque()
        self._lock = threading.Lock()
        self.sent = 0
        self.written = 0
        self.failures = 0
        self.dropped = 0
        self.last_error: str | None = None
        # Since when answers have waited with no write: reset by each write, and started
        # by the first answer that finds the log up to date.
        self._waiting_since = time.monotonic()
        self.stall_limit = 3 * flush_seconds + 1  # a write is due every flush_seconds
        self._reports = threading.Thread(target=self._read_reports, daemon=True)
        self._reports.start()

    def add(
        self,
        request_id: str,
        version: int,
        inputs: str,
        output: dict[str, Any],
        latency_ms: float,
        *,
        shadow: Mapping[str, Any] | None = None,
        logged_at: int | None = None,
    ) -> None:
        """One JSON line and one non-blocking write, right after the answer went. `inputs` is
        the validated request row as pydantic writes it (`model_dump_json`, done in Rust: a
        tenth of what json.dumps of the row with its dates converted cost here); the writer
        types it. `shadow`: the row's `shadow_*` fields, as they are stored; `logged_at`
        (microseconds): when the answer went, for a row written later (a shadowed one)."""
        record: dict[str, Any] = {
            "logged_at": time.time_ns() // 1000 if logged_at is None else logged_at,
            "request_id": request_id,
            "version": version,
            "latency_ms": latency_ms,
        }
        for name, value in output.items():
            if name == "probabilities":
                value = json.dumps(value)
            elif name == "label":
                value = str(value)
            record[name] = value
        if shadow:
            record.update(shadow)
        head = json.dumps(record, allow_nan=False)
        line = f'{head[:-1]}, "input": {inputs}}}\n'.encode()
        with self._lock:
            if self.sent <= self.written and not self._waiting:
                self._waiting_since = time.monotonic()
            if self._waiting:
                self._waiting.append(line)
                self._drain()
            else:
                self._send(line)

    def _send(self, line: bytes) -> None:
        try:
            sent = os.write(self._pipe, line)
        except BlockingIOError:
            sent = 0
        except (BrokenPipeError, OSError) as exc:
            self._failed(f"the log writer stopped ({exc}); answers wait in memory")
            sent = 0
        if sent == len(line):
            self.sent += 1
            return
        # What did not go stays first in line: a line's rest must follow its first bytes
        # in the pipe, or the writer would read two answers run together.
        self._waiting.appendleft(line[sent:])  # counted as sent when its last byte goes
        if len(self._waiting) > _MAX_WAITING:
            self._waiting.pop()
            self.dropped += 1

    def _drain(self) -> None:
        while self._waiting:
            line = self._waiting.popleft()
            before = len(self._waiting)
            self._send(line)
            if len(self._waiting) > before:  # did not fit: try again on the next answer
                return

    def _failed(self, message: str) -> None:
        self.failures += 1
        self.last_error = message

    def _read_reports(self) -> None:
        assert self._process.stdout is not None
        with contextlib.suppress(ValueError, OSError):  # closed: no more reports to read
            self._read_lines(self._process.stdout)

    def _read_lines(self, reports: Any) -> None:
        for raw in reports:
            text = raw.decode(errors="replace").strip()
            kind, _, rest = text.partition(" ")
            if kind == "written":
                self._waiting_since = time.monotonic()
                self.written = int(rest)
                self.last_error = None
            elif kind == "failed":
                self._failed(rest)

    @property
    def buffered(self) -> int:
        """Answers not yet in the table (sent to the writer, or waiting to be sent)."""
        return max(0, self.sent - self.written) + len(self._waiting)

    def stalled_seconds(self) -> float:
        """How long answers have waited with nothing written (0 when all are written)."""
        return time.monotonic() - self._waiting_since if self.buffered else 0.0

    def close(self, timeout: float = 60) -> None:
        """Send what waits, close the pipe, and wait for the writer to write it all."""
        with self._lock:
            os.set_blocking(self._pipe, True)
            try:
                while self._waiting:
                    os.write(self._pipe, self._waiting.popleft())
                    self.sent += 1
            except OSError as exc:
                self._failed(f"the log writer stopped ({exc})")
            with contextlib.suppress(OSError):
                assert self._process.stdin is not None
                self._process.stdin.close()
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # not killed: it has the answers, and finishes alone
            self._failed(f"the log writer was still writing after {timeout:g} s; left to finish")
            logger.warning("prediction log: %s", self.last_error)
        self._reports.join(timeout=5)


def refuse_damaged(path: Path) -> None:
    """The log must take answers whole before the server answers anything: an append to a
    version whose data files are gone would carry the loss into every later version (the
    lake refuses the same for its tables), and a log that cannot be written at all would
    only keep answers in memory and set them aside at exit."""
    fix = (
        "restore what is missing from a backup; or move the folder aside (the answers its "
        "other files hold stay readable there) and start the server again: it starts a new log"
    )
    if path.exists() and not path.is_dir():
        raise LakeError(
            f"the prediction log at {path} is a file, not a Delta table's folder", fix=fix
        )
    if path.is_dir() and not (path / "_delta_log").is_dir() and any(path.iterdir()):
        raise LakeError(
            f"the prediction log at {path} holds files but no Delta log (_delta_log)", fix=fix
        )
    try:
        check_latest(path, path.name)
    except LakeError as exc:
        raise LakeError(
            f"the prediction log at {path} cannot take answers: {exc.message}", fix=fix
        ) from None
