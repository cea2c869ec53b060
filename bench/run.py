"""Run every benchmark. Each prints its own weir/baseline ratio."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

BENCHMARKS = [
    "demo_vs_duckdb.py",
    "csv_ingest.py",
    "postgres_ingest.py",
    "tuning_jobs.py",
    "serving.py",
    "serve_shadow.py",
]

if __name__ == "__main__":
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        sys.argv = [name, *sys.argv[1:]]
        runpy.run_path(str(Path(__file__).parent / name), run_name="__main__")
