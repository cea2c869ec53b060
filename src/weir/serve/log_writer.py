"""The prediction log's writer process: JSON lines in on stdin, Delta appends out.

`python -m weir.serve.log_writer SPEC` where SPEC is JSON: {"path", "model", "columns":
{name: kind}, "flush_rows", "flush_seconds"}. It reads one answer per line, and every
`flush_seconds` (or `flush_rows` lines) parses what it has with pyarrow's JSON reader and
appends it to the Delta table. At end of input (a clean shutdown closes the pipe; a killed
server closes it too) it writes what is left and exits.

It reports on stdout, one line each: `written N` (total rows), `failed MESSAGE`. A failed
write keeps its lines for the next try.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import sys
import time
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

# How each input kind travels (JSON has no dates) and how it is stored.
WIRE = {
    "number": (pa.float64(), pa.float64()),
    "category": (pa.string(), pa.string()),
    "text": (pa.string(), pa.string()),
    "date": (pa.int32(), pa.date32()),  # days since 1970-01-01
    "timestamp": (pa.int64(), pa.timestamp("us", tz="UTC")),  # microseconds
}
META = {
    "logged_at": (pa.int64(), pa.timestamp("us", tz="UTC")),
    "request_id": (pa.string(), pa.string()),
    "version": (pa.int64(), pa.int64()),
    "latency_ms": (pa.float64(), pa.float64()),
}


def columns_of(kinds: dict[str, str]) -> dict[str, tuple[pa.DataType, pa.DataType]]:
    return META | {f"input_{name}": WIRE[kind] for name, kind in kinds.items()}


def to_table(lines: list[bytes], model: str, kinds: dict[str, str]) -> pa.Table:
    """Parse JSON lines into the log's typed columns; answer fields are inferred."""
    columns = columns_of(kinds)
    wire = pa.schema([(name, types[0]) for name, types in columns.items()])
    parsed = pajson.read_json(
        io.BytesIO(b"".join(lines)),
        parse_options=pajson.ParseOptions(explicit_schema=wire, unexpected_field_behavior="infer"),
    )
    arrays: dict[str, Any] = {}
    for name in parsed.column_names:
        column = parsed.column(name)
        if name in columns:
            column = column.cast(columns[name][1])
        arrays[name] = column
        if name == "request_id":
            arrays["model"] = pa.array([model] * parsed.num_rows, pa.string())
    return pa.table(arrays)


def main(spec_text: str) -> int:
    from deltalake import write_deltalake

    # Requests come first: the writer takes the CPU only when the server leaves it free.
    with contextlib.suppress(OSError):
        os.nice(19)
    spec = json.loads(spec_text)
    kinds, model = spec["columns"], spec["model"]
    flush_rows, flush_seconds = int(spec["flush_rows"]), float(spec["flush_seconds"])
    pending: list[bytes] = []
    partial = b""
    written = 0
    last_write = time.monotonic()
    stdin = sys.stdin.fileno()

    def flush() -> None:
        nonlocal pending, written, last_write
        last_write = time.monotonic()
        if not pending:
            return
        try:
            write_deltalake(spec["path"], to_table(pending, model, kinds), mode="append")
        except Exception as exc:  # kept for the next try; the server shows it in /ready
            print(f"failed {type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
            return
        written += len(pending)
        pending = []
        print(f"written {written}", flush=True)

    while True:
        wait = max(0.0, flush_seconds - (time.monotonic() - last_write))
        readable, _, _ = select.select([stdin], [], [], wait)
        if readable:
            chunk = os.read(stdin, 1 << 20)
            if not chunk:  # the server closed the pipe, or died
                if partial:  # a line cut by a crash: its answer was never sent either
                    print("failed an incomplete last line was dropped", flush=True)
                flush()
                return 0
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()
            pending.extend(line + b"\n" for line in lines if line)
        if len(pending) >= flush_rows or time.monotonic() - last_write >= flush_seconds:
            flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
