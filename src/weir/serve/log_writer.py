"""The prediction log's writer process: JSON lines in on stdin, Delta appends out.

`python log_writer.py SPEC` (run as a file: importing the weir package costs seconds),
where SPEC is JSON: {"path", "model", "columns": {name: kind}, "flush_rows",
"flush_seconds", "busy_poll_seconds", "metadata", "versions_key", "commit_key",
"shadow_columns": {name: Arrow type}, "shadow_versions_key"}. It reads
one answer per line, and every `flush_seconds` (or `flush_rows` lines) parses what it has
with pyarrow's JSON reader and appends it to the Delta table. At end of input (a clean
shutdown closes the pipe; a killed server closes it too) it writes what is left and exits.

Each append is one Delta commit carrying `metadata` (Weir's commit format, kind and the
model, given by the server so that the key names live in one place, weir.app.lake_format),
a commit id under `commit_key`, and under `versions_key` the model versions whose answers
it holds, as a sorted JSON list: a flush that spans a promotion holds answers of two
versions, and its one commit names both (one commit per flush keeps a flush all or
nothing, which the retries and `set_aside` below rely on; each row's `version` column says
which answered it). The catalog reads these later (weir.app.prediction_log); the writer
never touches it. A shadow's challenger (weir.serve.shadow) answered no caller: its
versions, from the rows' `shadow_version`, go under `shadow_versions_key`, never under
`versions_key`, so the catalog's `answered_by` stays true.

Appends merge the schema: a log written before a shadow was configured gains the
`shadow_*` columns (null in its older rows), and a log that has them takes rows without
them (a server started with the shadow off again).

It looks at the pipe every POLL_SECONDS instead of waiting on it. A reader waiting on a
pipe is woken by every answer the server writes, and the server pays for that wake-up on
the request path: measured in process, a request took 196 microseconds with a waiting
writer and 143 with a polling one. Nobody waits on a polled pipe, so a write is a plain
copy. The 1 MB pipe holds about a second of single-row answers at 2,500 a second, twenty
polls; what does not fit waits in the server (see `PredictionLog`).

For `busy_poll_seconds` after each answer (0 unless `serve.busy_poll_ms` turns it on:
opt-in VM tuning) it polls without sleeping. This keeps a CPU from going idle between
requests: on a VM whose idle vCPUs halt (here: a Firecracker guest with halt polling off),
waking one goes through the hypervisor, and that shows at the tail. bench/serving.py
measures it at one connection: in a quiet spell of the machine, p99 was 2.00x a minimal
FastAPI + onnxruntime app's without it and 0.92x with it (that app gets the same from
onnxruntime's spinning worker thread). At the lowest priority the polling takes only CPU
nobody wants, but the core is busy: it counts against a container's CPU limit, spends
burstable credits, and shows an autoscaler load that is not there.

It reports on stdout, one line each: `written N` (total rows), `failed MESSAGE`. A failed
write keeps its lines for the next try; a last write (at end of input) that still fails
after a few tries sets its lines aside in a file beside the table, which the next writer
of the table appends first (`set_aside`, `recover`). A server that is gone reads no
reports: the writer then stops reporting and carries on writing.

At end of input the writer leaves the lowest priority, so the last write is not left
waiting for a CPU nobody leaves it: measured with eight busy processes on two cores, a
SCHED_IDLE writer wrote none of a killed server's 13 answers in 60 s. Even noticing the
end of input takes CPU it may not get, so a thread at normal priority waits for it
(`lift_on_hang_up`: epoll for the pipe's hang-up only, which the server's writes do not
wake) and lifts the polling thread at once. Linux lets a task leave SCHED_IDLE only with
CAP_SYS_NICE or a RLIMIT_NICE of 20 (root outside a container has it; a container's root
usually does not): without it the last write waits until a CPU is free, and is lost if
the writer is killed before that.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
from deltalake import CommitProperties, write_deltalake

# How each input kind travels (as pydantic writes the validated row) and how it is stored.
WIRE = {
    "number": (pa.float64(), pa.float64()),
    "category": (pa.string(), pa.string()),
    "text": (pa.string(), pa.string()),
    "date": (pa.string(), pa.date32()),  # YYYY-MM-DD
    "timestamp": (pa.string(), pa.timestamp("us", tz="UTC")),  # ISO 8601 with its zone
}
META = {
    "logged_at": (pa.int64(), pa.timestamp("us", tz="UTC")),  # microseconds
    "request_id": (pa.string(), pa.string()),
    "version": (pa.int64(), pa.int64()),
    "latency_ms": (pa.float64(), pa.float64()),
}
POLL_SECONDS = 0.05
_READ_BYTES = 1 << 20
_BLOCK_BYTES = 1 << 20  # pyarrow's JSON reader's default


def to_table(
    lines: list[bytes],
    model: str,
    kinds: dict[str, str],
    shadow: dict[str, str] | None = None,
) -> pa.Table:
    """Parse JSON lines into the log's columns: the metadata, `input_<name>` typed per
    kind from the line's "input" object, the answer's fields as inferred, then the
    `shadow` columns (name -> Arrow type name), null where a line has none."""
    inputs = pa.struct([(name, WIRE[kind][0]) for name, kind in kinds.items()])
    declared = [(name, pa.type_for_alias(type_name)) for name, type_name in (shadow or {}).items()]
    wire = pa.schema(
        [*((name, types[0]) for name, types in META.items()), ("input", inputs), *declared]
    )
    parsed = pajson.read_json(
        io.BytesIO(b"".join(lines)),
        # A line may cross one block boundary, not two: blocks longer than the longest
        # line (text inputs make lines of megabytes; the default block is 1 MiB).
        read_options=pajson.ReadOptions(
            block_size=max(_BLOCK_BYTES, 2 * max(map(len, lines), default=0))
        ),
        parse_options=pajson.ParseOptions(explicit_schema=wire, unexpected_field_behavior="infer"),
    )
    arrays: dict[str, Any] = {}
    for name, (_, stored) in META.items():
        arrays[name] = parsed.column(name).cast(stored)
        if name == "request_id":
            arrays["model"] = pa.array([model] * parsed.num_rows, pa.string())
    for (name, kind), column in zip(kinds.items(), parsed.column("input").flatten(), strict=True):
        arrays[f"input_{name}"] = column.cast(WIRE[kind][1])
    last = {name for name, _ in declared}
    for name in parsed.column_names:
        if name not in META and name != "input" and name not in last:
            arrays[name] = parsed.column(name)
    for name, _ in declared:
        arrays[name] = parsed.column(name)
    return pa.table(arrays)


def leave_idle(thread: int = 0) -> bool:
    """`thread` (a native id; 0: this one) back to normal scheduling at nice 0, where the
    system permits it."""
    try:
        os.sched_setscheduler(thread, os.SCHED_OTHER, os.sched_param(0))
        os.setpriority(os.PRIO_PROCESS, thread, 0)
    except (OSError, AttributeError):
        return False
    return True


def lift_on_hang_up(fd: int, thread: int) -> None:
    """Sleep (at normal priority) until the server closes the pipe `fd` or dies, then lift
    `thread` out of the lowest priority. Registered for no event, epoll still reports the
    hang-up, and an answer written to the pipe does not wake this thread."""
    if not hasattr(select, "epoll"):  # Linux only; elsewhere the end of input does it
        return
    with select.epoll() as poller:
        poller.register(fd, 0)
        while not poller.poll():
            pass
    leave_idle(thread)


class Reports:
    """The lines to the server; a server that has gone (a broken pipe) ends the reports,
    never the writer (it still has answers to write)."""

    def __init__(self) -> None:
        self.open = True

    def __call__(self, text: str) -> None:
        if self.open:
            try:
                print(text, flush=True)
            except OSError:  # BrokenPipeError: the server is gone
                self.open = False
                with contextlib.suppress(OSError):  # what stdout still buffers goes nowhere
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, sys.stdout.fileno())
                    os.close(devnull)


def append(spec: dict[str, Any], table: pa.Table) -> None:
    """One Delta commit of `table`, with the spec's commit metadata, a commit id and the
    model versions that answered its rows (see the module docstring)."""
    metadata = {str(k): str(v) for k, v in (spec.get("metadata") or {}).items()}
    if spec.get("versions_key"):
        answered = pc.unique(table.column("version")).to_pylist()
        metadata[spec["versions_key"]] = json.dumps(sorted(v for v in answered if v is not None))
    if spec.get("shadow_versions_key") and "shadow_version" in table.column_names:
        shadowed = pc.unique(table.column("shadow_version")).to_pylist()
        if any(v is not None for v in shadowed):
            found = sorted(v for v in shadowed if v is not None)
            metadata[spec["shadow_versions_key"]] = json.dumps(found)
    if spec.get("commit_key"):
        metadata[spec["commit_key"]] = uuid.uuid4().hex
    properties = CommitProperties(custom_metadata=metadata) if metadata else None
    write_deltalake(
        spec["path"], table, mode="append", schema_mode="merge", commit_properties=properties
    )


def main(spec_text: str) -> int:
    stdin = sys.stdin.fileno()
    with contextlib.suppress(OSError, AttributeError):  # Linux; started before the next lines
        args = (stdin, threading.get_native_id())
        threading.Thread(target=lift_on_hang_up, args=args, daemon=True).start()
    # Requests come first: the writer takes the CPU only when the server leaves it free.
    # Nice 19 is not enough on Linux: a task that has just been given the CPU keeps it for
    # its slice (up to a few ms) against a waking server, nice or not; SCHED_IDLE yields at
    # once. (Both only work inside the server's session, see PredictionLog.)
    with contextlib.suppress(OSError):
        os.nice(19)
    yields_at_once = False
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        yields_at_once = True
    spec = json.loads(spec_text)
    kinds, model, shadow = spec["columns"], spec["model"], spec.get("shadow_columns") or {}
    flush_rows, flush_seconds = int(spec["flush_rows"]), float(spec["flush_seconds"])
    # Polling without sleeping at a priority that does not yield at once would take the
    # CPU from requests: only under SCHED_IDLE (Linux).
    busy_poll = float(spec.get("busy_poll_seconds", 0)) if yields_at_once else 0.0
    last_answer = float("-inf")
    pending: list[bytes] = []
    partial = b""
    written = 0
    last_write = time.monotonic()
    report = Reports()
    recover(spec["path"], lambda lines: append(spec, to_table(lines, model, kinds, shadow)))

    def flush() -> bool:
        nonlocal pending, written, last_write
        last_write = time.monotonic()
        if not pending:
            return True
        try:
            append(spec, to_table(pending, model, kinds, shadow))
        except Exception as exc:  # kept for the next try; the server shows it in /ready
            report(f"failed {type(exc).__name__}: {exc}".replace("\n", " "))
            return False
        written += len(pending)
        pending = []
        report(f"written {written}")
        return True

    os.set_blocking(stdin, False)
    while True:
        while True:  # everything the pipe holds now
            try:
                chunk = os.read(stdin, _READ_BYTES)
            except BlockingIOError:
                break
            last_answer = time.monotonic()
            if not chunk:  # the server closed the pipe, or died
                leave_idle()  # done already where lift_on_hang_up runs
                if partial:  # a line cut by a crash: its answer was never sent either
                    report("failed an incomplete last line was dropped")
                if last_flush(flush):
                    return 0
                set_aside(spec["path"], pending)
                return 1
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()
            pending.extend(line + b"\n" for line in lines if line)
            if len(pending) >= flush_rows:
                flush()
        now = time.monotonic()
        if now - last_write >= flush_seconds:
            flush()
        if now - last_answer >= busy_poll:
            time.sleep(POLL_SECONDS)


def last_flush(flush: Callable[[], bool], tries: int = 5) -> bool:
    """The final write, retried: a concurrent commit or a passing I/O error must not lose
    what the server handed over."""
    for attempt in range(tries):
        if flush():
            return True
        time.sleep(0.1 * 2**attempt)
    return False


def set_aside(table: str, lines: list[bytes]) -> None:
    """Lines the last write could not put in the table, kept in a file beside it: the
    next writer of this table (the next `weir serve` of the model) appends them first."""
    where = Path(table)
    name = f"{where.name}.unwritten-{time.time_ns()}-{os.getpid()}.jsonl"
    (where.parent / name).write_bytes(b"".join(lines))
    print(
        f"weir log writer: {len(lines)} answers could not be written to {table}; kept in "
        f"{where.parent / name}, written by the next server of this model",
        file=sys.stderr,
    )


def recover(table: str, write: Callable[[list[bytes]], object]) -> None:
    """Append lines a previous writer set aside (`set_aside`). Each file is claimed by a
    rename first, so two writers starting together do not both append it; a file whose
    write fails is put back for the next start."""
    where = Path(table)
    for found in sorted(where.parent.glob(f"{where.name}.unwritten-*.jsonl")):
        claimed = found.with_suffix(f".claimed-{os.getpid()}")
        try:
            found.rename(claimed)
        except OSError:  # another writer took it
            continue
        try:
            write([line + b"\n" for line in claimed.read_bytes().split(b"\n") if line])
        except Exception as exc:
            claimed.rename(found)
            print(f"weir log writer: {found} not yet written: {exc}", file=sys.stderr)
        else:
            claimed.unlink()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
