from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.engines import DuckDBEngine, SqlError

ENGINE = DuckDBEngine(threads=1)

rows = st.lists(
    st.tuples(st.integers(-(2**63), 2**63 - 1), st.none() | st.text(max_size=5)), max_size=30
)


@settings(max_examples=40, deadline=None)
@given(rows, st.randoms())
def test_fingerprint_ignores_row_order(data: list[tuple[int, str | None]], random: object) -> None:
    shuffled = list(data)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    schema = pa.schema([("a", pa.int64()), ("b", pa.string())])

    def table(values: list[tuple[int, str | None]]) -> pa.Table:
        return pa.table({"a": [v[0] for v in values], "b": [v[1] for v in values]}, schema=schema)

    assert ENGINE.fingerprint(table(data)) == ENGINE.fingerprint(table(shuffled))


def test_fingerprint_sees_values_duplicates_and_schema() -> None:
    base = pa.table({"a": [1, 2, 2]})
    digest = ENGINE.fingerprint(base).digest
    assert ENGINE.fingerprint(pa.table({"a": [1, 2, 3]})).digest != digest
    assert ENGINE.fingerprint(pa.table({"a": [1, 2]})).digest != digest
    assert ENGINE.fingerprint(pa.table({"b": [1, 2, 2]})).digest != digest
    assert ENGINE.fingerprint(pa.table({"a": pa.array([1, 2, 2], pa.int32())})).digest != digest
    assert ENGINE.fingerprint(ds.dataset(base)) == ENGINE.fingerprint(base)
    assert ENGINE.fingerprint(base).row_count == 3


def test_query_streams_results_over_registered_datasets() -> None:
    data = ds.dataset(pa.table({"a": [1, 2, 3]}))
    with ENGINE.query("SELECT sum(a) AS s FROM t WHERE a > 1", {"t": data}) as reader:
        assert reader.read_all().to_pylist() == [{"s": 5}]


def test_timestamps_are_utc() -> None:
    with ENGINE.query("SELECT TIMESTAMPTZ '2026-01-01 12:00:00+02' AS ts", {}) as reader:
        table = reader.read_all()
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert table.column("ts")[0].as_py().hour == 10


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM '{secret}'",
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    ],
)
def test_user_sql_cannot_touch_files_or_network(tmp_path: Path, sql: str) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    with pytest.raises(SqlError), ENGINE.query(sql.format(secret=secret), {}) as reader:
        reader.read_all()


@pytest.mark.parametrize(
    "sql",
    [
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "INSTALL httpfs",
        "ATTACH 'x.db'",
    ],
)
def test_user_sql_cannot_lift_the_sandbox(sql: str) -> None:
    with pytest.raises(SqlError), ENGINE.query(sql, {}) as reader:
        reader.read_all()


def test_sql_errors_are_duckdb_messages() -> None:
    with (
        pytest.raises(SqlError, match='column "nope" not found'),
        ENGINE.query("SELECT nope FROM t", {"t": pa.table({"a": [1]})}) as r,
    ):
        r.read_all()


def test_parquet_files_are_read_natively_and_nothing_beside_them(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from weir.core.tables import TableFiles

    table_dir, other_dir = tmp_path / "lake" / "t", tmp_path / "other"
    table_dir.mkdir(parents=True)
    other_dir.mkdir()
    pq.write_table(pa.table({"a": [1, 2]}), table_dir / "part-0.parquet")
    pq.write_table(pa.table({"a": [3]}), table_dir / "part-1.parquet")
    pq.write_table(pa.table({"secret": [42]}), other_dir / "x.parquet")
    files = TableFiles(
        (str(table_dir / "part-0.parquet"), str(table_dir / "part-1.parquet")),
        pa.schema([("a", pa.int64())]),
    )
    with ENGINE.query("SELECT sum(a) AS s FROM t", {"t": files}) as reader:
        assert reader.read_all().to_pylist() == [{"s": 6}]
    with (
        pytest.raises(SqlError),
        ENGINE.query(f"SELECT * FROM read_parquet('{other_dir / 'x.parquet'}')", {"t": files}) as r,
    ):
        r.read_all()
    with (
        pytest.raises(SqlError),
        ENGINE.query("SET allowed_directories = ['/']", {"t": files}) as r,
    ):
        r.read_all()
    assert ENGINE.fingerprint(files) == ENGINE.fingerprint(pa.table({"a": [3, 1, 2]}))
