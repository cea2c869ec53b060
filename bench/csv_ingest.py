"""CSV -> lake: Weir's file source vs DuckDB `read_csv` + a plain Parquet write, same file.

The file is generated once (a few GB by default) into bench/data. Weir's run is the real
source step: DuckDB's parser, the reject split, a Delta commit, the fingerprint, the
profile and the catalog records. The baseline is what a hand-written script would do:
`COPY (SELECT * FROM read_csv(...)) TO 'x.parquet'`. Both infer the schema.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from harness import compare, run_weir_fresh

HERE = Path(__file__).parent


def make_csv(path: Path, gigabytes: float) -> None:
    rows = int(gigabytes * 1e9 / 75)  # about 75 bytes a row
    marker = path.with_suffix(".rows")
    if path.is_file() and marker.is_file() and marker.read_text() == str(rows):
        return
    print(f"writing {rows:,} rows (~{gigabytes:g} GB) to {path} ...", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(
        f"""COPY (
            SELECT i AS id, 'customer_' || (i % 100003) AS customer, (i * 7919 % 100000) / 100.0 AS amount,
                   TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i % 31536000) AS ts,
                   ['pos', 'online', 'atm', 'contactless'][1 + i % 4] AS channel,
                   i % 97 = 0 AS flagged, 'note ' || (i % 1000) AS note
            FROM range({rows}) t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')"""
    )
    marker.write_text(str(rows))


def project(directory: Path, csv: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / "data.csv"
    if not link.exists():
        link.symlink_to(csv)
    config = {"name": "bench", "sources": {"events": {"format": "csv", "path": "data.csv"}}}
    (directory / "weir.yaml").write_text(yaml.safe_dump(config))
    return directory


def run_duckdb(csv: Path, output: Path) -> None:
    output.unlink(missing_ok=True)
    connection = duckdb.connect()
    connection.execute(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{output}' (FORMAT parquet)")
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    csv = HERE / "data" / f"ingest_{args.gigabytes:g}gb.csv"
    make_csv(csv, args.gigabytes)
    directory = project(HERE / "data" / f"ingest_{args.gigabytes:g}gb", csv)
    baseline = HERE / "data" / "ingest_baseline.parquet"
    result = compare(
        f"CSV ({csv.stat().st_size / 1e9:.2f} GB) -> table",
        lambda: run_weir_fresh(directory),
        lambda: run_duckdb(csv, baseline),
        rounds=args.rounds,
    )
    print(result.report())


if __name__ == "__main__":
    main()
