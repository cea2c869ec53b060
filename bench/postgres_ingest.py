"""PostgreSQL table -> lake: Weir's SQL source vs the fastest plain client path found here.

Plain paths measured, each streaming batches into one Parquet file with pyarrow:
  connectorx  `read_sql(..., return_type="arrow_stream")` (what Weir uses)
  adbc        ADBC PostgreSQL driver, `fetch_record_batch()` (COPY BINARY under the hood)
  psycopg     `COPY ... TO STDOUT (FORMAT csv)` streamed into pyarrow's CSV reader
Weir's run is the real source step (connection check, typing, Delta commit, fingerprint,
profile, catalog). The ratio is against the fastest of the three in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from harness import run_weir_fresh

HERE = Path(__file__).parent
URL = "postgresql://postgres@127.0.0.1:5432/test"
TABLE = "weir_bench_orders"
BATCH = 100_000


def make_table(rows: int) -> None:
    import psycopg

    with psycopg.connect(URL, autocommit=True) as connection:
        existing = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = %s", [TABLE]
        ).fetchone()
        if existing and existing[0]:
            count = connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
            if count and count[0] == rows:
                return
        print(f"creating {TABLE} with {rows:,} rows ...", flush=True)
        connection.execute(f"DROP TABLE IF EXISTS {TABLE}")
        connection.execute(
            f"""CREATE TABLE {TABLE} AS SELECT g AS id, 'customer_' || (g % 100003) AS customer,
                (g::bigint * 7919 % 100000) / 100.0 AS amount, (g % 97 = 0) AS flagged,
                timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' AS updated_at,
                'note ' || (g % 1000) AS note
            FROM generate_series(1, {rows}) g"""
        )
        connection.execute(f"ANALYZE {TABLE}")


def write(reader: pa.RecordBatchReader, output: Path) -> None:
    with pq.ParquetWriter(output, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


def via_connectorx(output: Path) -> None:
    import connectorx

    reader = connectorx.read_sql(
        URL, f"SELECT * FROM {TABLE}", return_type="arrow_stream", batch_size=BATCH
    )
    write(reader, output)


def via_adbc(output: Path) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(URL) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {TABLE}")
        write(cursor.fetch_record_batch(), output)


def via_psycopg_copy(output: Path) -> None:
    import io

    import psycopg

    buffer = io.BytesIO()
    with (
        psycopg.connect(URL) as connection,
        connection.cursor() as cursor,
        cursor.copy(f"COPY {TABLE} TO STDOUT (FORMAT csv, HEADER)") as copy,
    ):
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    write(pacsv.open_csv(buffer), output)


def project(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    source = {"kind": "sql", "url": URL, "table": TABLE}
    (directory / "weir.yaml").write_text(
        yaml.safe_dump({"name": "bench", "sources": {"orders": source}})
    )
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    make_table(args.rows)
    directory = project(HERE / "data" / "postgres_ingest")
    output = HERE / "data" / "postgres_baseline.parquet"
    runs: dict[str, Callable[[], None]] = {
        "weir": lambda: run_weir_fresh(directory),
        "connectorx": lambda: via_connectorx(output),
        "adbc": lambda: via_adbc(output),
        "psycopg copy": lambda: via_psycopg_copy(output),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_number in range(args.rounds):
        order = list(runs.items())
        if round_number % 2:
            order.reverse()
        for name, function in order:
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
            print(f"  round {round_number + 1} {name:<13} {times[name][-1]:7.2f}s", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    fastest = min((n for n in medians if n != "weir"), key=medians.__getitem__)
    for name, value in medians.items():
        print(f"  {name:<13} median {value:6.2f}s")
    print(
        f"PostgreSQL table ({args.rows:,} rows) -> table: weir median {medians['weir']:.2f}s, "
        f"fastest plain path ({fastest}) {medians[fastest]:.2f}s -> ratio weir/baseline = "
        f"{medians['weir'] / medians[fastest]:.2f}x"
    )


if __name__ == "__main__":
    main()
