"""`weir run` on the demo data (sources + SQL models) vs the same SQL run directly in DuckDB.

Both read the same CSV file and SQLite database with the same declared types and materialise every table:
Weir as Delta tables (plus quarantine, fingerprints, profiles, catalog records, cache
keys), the baseline as Parquet files written by DuckDB's COPY. Checks, cleaning rules,
governance and training are left out of both (the pipeline below is plain SQL), so the
ratio is the cost of Weir's bookkeeping over the engine doing the same work.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import connectorx
import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from harness import compare, run_weir_fresh
from weir.demo import generate, write_demo_project
from weir.demo.project import TRANSACTION_FEATURES
from weir.project import FileSource, SqlSource, duckdb_type, load_project

HERE = Path(__file__).parent
SQL = {
    "clean_transactions.sql": "SELECT * FROM transactions "
    "QUALIFY row_number() OVER (PARTITION BY txn_id ORDER BY ts) = 1",
    "clean_customers.sql": "SELECT customer_id, upper(trim(country)) AS country, birth_date, signup_date "
    "FROM customers QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY signup_date) = 1",
    "customer_profile.sql": "SELECT * FROM clean_customers",
    "transaction_features.sql": TRANSACTION_FEATURES,
}


def prepare_project(rows: int, seed: int, *, profiles: bool = True) -> Path:
    """The demo project without checks and ML, with data generated once per size."""
    directory = HERE / "data" / f"demo-{rows}"
    marker = directory / "data" / ".generated.json"
    if not marker.is_file() or json.loads(marker.read_text()) != {"rows": rows, "seed": seed}:
        print(f"generating {rows:,} transactions ...", flush=True)
        generate(directory / "data", rows=rows, seed=seed)
        marker.write_text(json.dumps({"rows": rows, "seed": seed}))
    write_demo_project(directory)
    config = yaml.safe_load((directory / "weir.yaml").read_text())
    for section in ("checks", "ml", "clean", "governance", "models"):
        config.pop(section, None)
    config["profiles"] = {"enabled": profiles}
    (directory / "weir.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for stale in (directory / "sql").glob("*.sql"):
        stale.unlink()
    for name, text in SQL.items():
        (directory / "sql" / name).write_text(text)
    return directory


def run_duckdb(directory: Path) -> None:
    output = directory / "baseline"
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir()
    project = load_project(directory)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for name, source in project.config.sources.items():
        if isinstance(source, SqlSource):  # the CRM database: read as Weir does, with connectorx
            rows = connectorx.read_sql(
                f"sqlite://{directory / source.url.removeprefix('sqlite:///')}",
                f"SELECT * FROM {source.table}",
                return_type="arrow",
            )
            connection.register("crm_rows", rows)
            casts = ", ".join(
                f"CAST({c} AS {duckdb_type(t)}) AS {c}" for c, t in (source.columns or {}).items()
            )
            connection.execute(f"CREATE TABLE {name} AS SELECT {casts} FROM crm_rows")
            continue
        assert isinstance(source, FileSource)
        columns = ", ".join(f"'{c}': '{duckdb_type(t)}'" for c, t in (source.columns or {}).items())
        connection.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_csv('{directory / source.path}', header = true, "
            f"columns = {{{columns}}}, store_rejects = true)"
        )
    for file_name, text in SQL.items():
        connection.execute(f"CREATE TABLE {file_name[:-4]} AS {text}")
    for table in [*project.config.sources, *(f[:-4] for f in SQL)]:
        connection.execute(f"COPY {table} TO '{output / table}.parquet' (FORMAT parquet)")
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results = []
    for profiles in (True, False):
        directory = prepare_project(args.rows, args.seed, profiles=profiles)
        label = "profiles on (default)" if profiles else "profiles off"
        print(f"-- {label}", flush=True)
        results.append(
            compare(
                f"demo pipeline at {args.rows:,} transactions, {label}",
                lambda d=directory: run_weir_fresh(d, 6),
                lambda d=directory: run_duckdb(d),
                rounds=args.rounds,
            )
        )
    for result in results:
        print(result.report())


if __name__ == "__main__":
    main()
