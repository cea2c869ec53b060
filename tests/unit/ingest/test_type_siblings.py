"""Siblings of the typing defects of issue #15, found by attacking every file format with
the same bad inputs: names DuckDB renames, values it bends through float64 or truncates,
formats it guesses. Each is refused or quarantined, never stored changed."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from weir.core import SourceRefusedError
from weir.engines import DuckDBEngine
from weir.ingest import read_files
from weir.project.sources import FileSource

ENGINE = DuckDBEngine(threads=2)


def load(root: Path, source: FileSource) -> tuple[pa.Table, list[dict[str, Any]]]:
    with read_files(ENGINE, root, "s", source) as read:
        data = read.batches.read_all()
        return data, read.rejects().to_pylist()


def json_source(root: Path, records: list[str], fmt: str, **extra: Any) -> FileSource:
    text = "\n".join(records) + "\n" if fmt == "ndjson" else "[" + ",".join(records) + "]"
    (root / f"r.{fmt}").write_text(text)
    return FileSource(format=fmt, path=f"r.{fmt}", **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
@pytest.mark.parametrize(
    ("records", "said"),
    [
        (['{"a": 1, "A": 2}'], "'A', 'a' have the same name"),
        (['{"Id": 1}', '{"id": 2}'], "'Id', 'id' have the same name"),
        (['{"": 1, "b": 2}'], "empty name"),
        (['{"a": 1}', "5", '{"a": 2}'], r"a record is ubigint, not an object"),
        (['{"a": 1}', "[1, 2]"], "not an object"),
    ],
)
def test_json_keys_duckdb_would_rename_or_merge_are_refused(
    tmp_path: Path, fmt: str, records: list[str], said: str
) -> None:
    """DuckDB reads 'A' beside 'a' into a column 'A_1' that stays null (the value is lost),
    and records with an empty key or that are not objects into one `json` column."""
    with pytest.raises(SourceRefusedError, match=said) as refused:
        load(tmp_path, json_source(tmp_path, records, fmt))
    assert "nothing was committed" in str(refused.value)
    assert "(5)" not in str(refused.value) and "[1, 2]" not in str(refused.value)  # no value


def test_json_keys_that_only_look_renamed_are_kept(tmp_path: Path) -> None:
    data, _ = load(tmp_path, json_source(tmp_path, ['{"a": 1, "a_1": 2, "json": 3}'], "ndjson"))
    assert data.to_pylist() == [{"a": 1, "a_1": 2, "json": 3}]


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_inferred_json_timestamps_with_nanoseconds_refuse_the_load(
    tmp_path: Path, fmt: str
) -> None:
    """DuckDB infers TIMESTAMP WITH TIME ZONE and cuts '.123456789' to '.123456'."""
    records = ['{"t": "2025-06-01T12:00:00.123456789Z"}']
    with pytest.raises(SourceRefusedError, match="nanoseconds"):
        load(tmp_path, json_source(tmp_path, records, fmt))
    whole = ['{"t": "2025-06-01T12:00:00.123456000Z"}', '{"t": "2025-06-01T14:00:00+02:00"}']
    data, _ = load(tmp_path, json_source(tmp_path, whole, fmt))
    assert [str(v) for v in data.column("t").to_pylist()] == [
        "2025-06-01 12:00:00.123456+00:00",
        "2025-06-01 12:00:00+00:00",
    ]


def test_json_dates_in_a_guessed_order_stay_text(tmp_path: Path) -> None:
    """DuckDB guessed an order for '01-02-2025' and then failed the whole read with its own
    message; such a value is text, as '01/02/2025' already was."""
    records = ['{"d": "01-02-2025", "e": "2025-02-01"}', '{"d": "03-04-2025", "e": null}']
    data, _ = load(tmp_path, json_source(tmp_path, records, "ndjson"))
    assert data.column("d").to_pylist() == ["01-02-2025", "03-04-2025"]
    assert data.schema.field("e").type == pa.date32()


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "csv-declared"])
def test_an_integer_beyond_hugeint_in_a_float_column_is_quarantined(
    tmp_path: Path, fmt: str
) -> None:
    """42 digits: the check cast it to HUGEINT, got NULL and let 1.1111111111111112e+41 in."""
    long = "1" * 42
    if fmt == "ndjson":
        source = json_source(tmp_path, ['{"x": 1.5}', f'{{"x": {long}}}'], "ndjson")
    else:
        (tmp_path / "r.csv").write_text(f"x\n1.5\n{long}\n")
        columns = {"x": "float64"} if fmt == "csv-declared" else None
        source = FileSource(format="csv", path="r.csv", columns=columns)
    data, rejects = load(tmp_path, source)
    assert data.column("x").to_pylist() == [1.5]
    assert (
        "beyond what float64 holds exactly" in rejects[0]["error"] and long in rejects[0]["error"]
    )


@pytest.mark.parametrize("columns", [None, {"x": "float64"}])
def test_csv_nan_and_infinity_refuse_the_load_unless_declared(
    tmp_path: Path, columns: dict[str, str] | None
) -> None:
    """DuckDB reads 'NaN', 'inf' and '-Infinity' as floats, and '1e400' (beyond float64) as
    infinity: they were stored without a word."""
    (tmp_path / "r.csv").write_text("x\n1.5\nNaN\ninf\n-Infinity\n1e400\n")
    source = FileSource(format="csv", path="r.csv", columns=columns)
    with pytest.raises(
        SourceRefusedError, match=r"column x holds NaN or Infinity \(record 2\)"
    ) as refused:
        load(tmp_path, source)
    assert "non_finite: null" in str(refused.value)
    nulled = source.model_copy(update={"non_finite": "null"})
    with read_files(ENGINE, tmp_path, "s", nulled) as read:
        assert read.batches.read_all().column("x").to_pylist() == [1.5, None, None, None]
        assert read.coerced == {"x: NaN or Infinity stored as null": 3}
        beyond = read.rejects().to_pylist()
    assert [r["line"] for r in beyond] == [6] and "is beyond what float64 holds" in beyond[0][
        "error"
    ]
    kept, _ = load(tmp_path, source.model_copy(update={"non_finite": "keep"}))
    assert kept.column("x").to_pylist()[2:] == [float("inf"), float("-inf")]


def test_a_number_beyond_a_declared_float32_is_quarantined(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("x\n1.5\n3.4e39\n")
    data, rejects = load(tmp_path, FileSource(format="csv", path="r.csv", columns={"x": "float32"}))
    assert data.column("x").to_pylist() == [1.5]
    assert "'3.4e39' is beyond what float32 holds" in rejects[0]["error"]


def parquet_files(root: Path, tables: dict[str, pa.Table]) -> FileSource:
    for file, table in tables.items():
        pq.write_table(table, root / file)
    return FileSource(format="parquet", path="*.parquet")


def columns(names: list[str]) -> pa.Table:
    return pa.Table.from_arrays([pa.array([i]) for i in range(len(names))], names=names)


@pytest.mark.parametrize(
    ("tables", "said"),
    [
        ({"a.parquet": columns(["a", "a"])}, "columns 'a', 'a' have the same name"),
        ({"a.parquet": columns(["a", "A"])}, "differ only by case collide"),
        ({"a.parquet": columns(["", "b"])}, "column 1 has an empty name"),
        (
            {"a.parquet": columns(["Id"]), "b.parquet": columns(["id"])},
            r"'Id' \(a.parquet\), 'id' \(b.parquet\) differ only by case",
        ),
    ],
)
def test_parquet_names_duckdb_would_rename_are_refused(
    tmp_path: Path, tables: dict[str, pa.Table], said: str
) -> None:
    """DuckDB read 'a','a' as 'a','a_1', 'A' beside 'a' as 'A_1', '' as 'C0', and 'Id' in one
    file and 'id' in another as one column."""
    with pytest.raises(SourceRefusedError, match=said):
        load(tmp_path, parquet_files(tmp_path, tables))


def test_parquet_types_duckdb_would_read_with_loss_are_refused(tmp_path: Path) -> None:
    """A decimal(40,0) was read as a double (every digit past the 17th lost, even declared
    as string); a duration as a bare integer."""
    wide = pa.table({"d": pa.array([decimal.Decimal("1" * 40)], pa.decimal256(40, 0))})
    with pytest.raises(
        SourceRefusedError, match=r"column d is decimal256\(40, 0\), wider than the 38"
    ):
        load(tmp_path, parquet_files(tmp_path, {"a.parquet": wide}))
    (tmp_path / "a.parquet").unlink()
    waits = pa.table({"w": pa.array([{"x": 1}], pa.struct([("x", pa.duration("s"))]))})
    with pytest.raises(SourceRefusedError, match=r"column w.x is duration\[s\]"):
        load(tmp_path, parquet_files(tmp_path, {"a.parquet": waits}))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (pa.array([2**62 + 1]), pa.array([1.5])),  # read as a double: 4611686018427387904
        (
            pa.array([dt.datetime(2025, 1, 1)], pa.timestamp("us", tz="UTC")),
            pa.array([dt.datetime(2025, 1, 1)], pa.timestamp("us")),  # read as UTC
        ),
        (pa.array([1]), pa.array(["a"])),  # a number read as text
    ],
)
def test_parquet_files_that_disagree_on_a_type_are_refused(
    tmp_path: Path, first: pa.Array, second: pa.Array
) -> None:
    tables = {"a.parquet": pa.table({"x": first}), "b.parquet": pa.table({"x": second})}
    with pytest.raises(SourceRefusedError, match="the files disagree on the type of column x"):
        load(tmp_path, parquet_files(tmp_path, tables))


def test_parquet_files_that_widen_exactly_are_read_together(tmp_path: Path) -> None:
    tables = {
        "a.parquet": pa.table(
            {"i": pa.array([1], pa.int32()), "d": pa.array([decimal.Decimal("1.5")])}
        ),
        "b.parquet": pa.table({"i": pa.array([2**40]), "d": pa.array([7])}),
    }
    data, _ = load(tmp_path, parquet_files(tmp_path, tables))
    assert sorted(data.column("i").to_pylist()) == [1, 2**40]
    assert sorted(data.column("d").to_pylist()) == [decimal.Decimal("1.5"), 7]


@pytest.mark.parametrize(
    "values",
    [
        ["01/02/25", "03/04/25"],  # DuckDB read %y/%m/%d: 2001-02-25
        ["25/12/01", "31/12/02"],  # %y/%m/%d or %d/%m/%y
    ],
)
def test_a_two_digit_year_in_doubt_is_refused(tmp_path: Path, values: list[str]) -> None:
    (tmp_path / "r.csv").write_text("d\n" + "\n".join(values) + "\n")
    with pytest.raises(SourceRefusedError, match="cannot be told apart") as refused:
        load(tmp_path, FileSource(format="csv", path="r.csv"))
    assert "csv.date_format" in str(refused.value)


def test_a_two_digit_year_order_the_sample_proves_is_used(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("d\n01/02/25\n13/02/99\n")  # 99 is no day, 13 no month
    data, _ = load(tmp_path, FileSource(format="csv", path="r.csv"))
    assert data.column("d").to_pylist() == [dt.date(2025, 2, 1), dt.date(1999, 2, 13)]


@pytest.mark.parametrize(
    "record", ['{"s": {"x": NaN}}', '{"s": {"inner": {"x": Infinity}}}', '{"s": [1.5, -Infinity]}']
)
def test_nan_inside_objects_and_lists_is_refused_too(tmp_path: Path, record: str) -> None:
    """Only top-level float columns were checked: a NaN inside an object was stored."""
    records = [
        record.replace("NaN", "2.5").replace("-Infinity", "3.5").replace("Infinity", "4"),
        record,
    ]
    source = json_source(tmp_path, records, "ndjson")
    with pytest.raises(SourceRefusedError, match=r"column s holds NaN or Infinity \(record 2\)"):
        load(tmp_path, source)
    with read_files(
        ENGINE, tmp_path, "s", source.model_copy(update={"non_finite": "null"})
    ) as read:
        data = read.batches.read_all()
        assert read.coerced == {"s: NaN or Infinity stored as null": 1}
    assert "nan" not in str(data.column("s").to_pylist()[1]).lower()
    assert "inf" not in str(data.column("s").to_pylist()[1]).lower()
    assert data.column("s").to_pylist()[0] is not None


def test_nanoseconds_in_text_typed_by_arrow_refuse_the_load(tmp_path: Path) -> None:
    """Text timestamps typed by Arrow (a Parquet string declared as timestamp, SQLite text):
    '.123456789' was quarantined as 'not a timestamp'; CSV and JSON refuse the load."""
    table = pa.table({"t": ["2025-06-01 10:00:00Z", "2025-06-01 10:00:00.123456789Z"]})
    pq.write_table(table, tmp_path / "a.parquet")
    source = FileSource(format="parquet", path="a.parquet", columns={"t": "timestamp"})
    with pytest.raises(SourceRefusedError, match=r"column t has nanoseconds \(row 2\)") as refused:
        load(tmp_path, source)
    assert "123456789" not in str(refused.value)


def test_a_refused_json_file_is_not_told_to_set_duckdb_options(tmp_path: Path) -> None:
    """DuckDB's advice ('Try setting ... ignore_errors to true') is not Weir's to follow."""
    with pytest.raises(SourceRefusedError, match='has duplicate key "a"') as refused:
        load(tmp_path, json_source(tmp_path, ['{"a": 1, "a": 2}'], "ndjson"))
    assert "Try setting" not in str(refused.value) and "ignore_errors" not in str(refused.value)
    with pytest.raises(SourceRefusedError, match="unexpected content after document") as refused:
        load(tmp_path, json_source(tmp_path, ['{"a": 1}{"a": 2}'], "ndjson"))
    assert "SELECT" not in str(refused.value) and "Try auto" not in str(refused.value)


def test_a_parquet_file_without_a_declared_column_is_refused(tmp_path: Path) -> None:
    """As a CSV file whose header lacks a declared column is; DuckDB filled it with nulls."""
    tables = {"a.parquet": pa.table({"id": [1], "x": [5]}), "b.parquet": pa.table({"id": [2]})}
    source = parquet_files(tmp_path, tables).model_copy(
        update={"columns": {"id": "int64", "x": "int64"}}
    )
    with pytest.raises(SourceRefusedError, match=r"b.parquet has no column x of sources.s.columns"):
        load(tmp_path, source)
    undeclared, _ = load(tmp_path, parquet_files(tmp_path, tables))
    assert sorted(undeclared.column("x").to_pylist(), key=str) == [5, None]


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_a_json_byte_order_mark_is_removed_and_counted(tmp_path: Path, fmt: str) -> None:
    """DuckDB refused the file ('byte order mark (BOM) is not supported'); a UTF-8 BOM before
    the first header name of a CSV is removed, so it is before the first JSON record."""
    import gzip

    text = '{"a": 1}\n{"a": "x"}\n' if fmt == "ndjson" else '[{"a": 1}, {"a": "x"}]'
    (tmp_path / f"r.{fmt}.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + text.encode()))
    (tmp_path / f"s.{fmt}").write_text(text.replace("1", "3"))
    source = FileSource(format=fmt, path=f"*.{fmt}*", columns={"a": "int64"})  # type: ignore[arg-type]
    with read_files(ENGINE, tmp_path, "s", source) as read:
        data = read.batches.read_all()
        rejects = read.rejects().to_pylist()
        assert read.coerced == {"byte order mark removed (files)": 1}
    assert sorted(data.column("a").to_pylist()) == [1, 3]
    assert sorted(r["file"].rsplit("/", 1)[-1] for r in rejects) == [f"r.{fmt}.gz", f"s.{fmt}"]
    (tmp_path / f"r.{fmt}.gz").write_bytes(gzip.compress(b'\xef\xbb\xbf{"a": 1}{'))
    with pytest.raises(SourceRefusedError, match=rf"r.{fmt}.gz"):  # named as the user knows it
        load(tmp_path, source)


def test_only_the_json_files_with_a_byte_order_mark_are_copied(tmp_path: Path) -> None:
    """One marked file made every file of the glob be decompressed into tmp/ (three gzip
    files of 10 KB became 5.4 MB there); the others are read where they are."""
    import gzip
    from contextlib import ExitStack

    from weir.ingest.json_files import without_bom

    body = b'{"a": 1}\n'
    (tmp_path / "a.ndjson.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + body))
    (tmp_path / "b.ndjson.gz").write_bytes(gzip.compress(body))
    (tmp_path / "c.ndjson").write_bytes(body)
    files = sorted(tmp_path.glob("*.ndjson*"))
    source = FileSource(format="ndjson", path="*.ndjson*", columns={"a": "int64"})
    with ExitStack() as stack:
        staged = without_bom(files, source, stack, ENGINE)
        assert staged.marked == 1 and staged.files[1:] == files[1:]
        assert list(staged.originals.values()) == [str(files[0])]
    data, _ = load(tmp_path, source)
    assert data.column("a").to_pylist() == [1, 1, 1]

    # a declared codec DuckDB would not find from the name: such a file is copied too
    for path in files:
        path.unlink()
    (tmp_path / "a.data").write_bytes(gzip.compress(b"\xef\xbb\xbf" + body))
    (tmp_path / "b.data").write_bytes(gzip.compress(body))
    declared = FileSource(format="ndjson", path="*.data", compression="gzip")
    data, _ = load(tmp_path, declared)
    assert data.column("a").to_pylist() == [1, 1]


@pytest.mark.parametrize("target", ["decimal(38,23)", "string"])
def test_a_json_number_with_more_digits_than_a_float_is_not_stored_rounded(
    tmp_path: Path, target: str
) -> None:
    """DuckDB reads JSON numbers as float64: a declared decimal(38,23) stored
    0.12345678901234567741440 for 0.12345678901234567890123, a string '0.12345678901234568'."""
    records = [
        '{"x": 0.12345678901234567890123}',
        '{"x": 0.125}',
        '{"x": "0.12345678901234567890123"}',
    ]
    source = json_source(tmp_path, records, "ndjson", columns={"x": target})
    data, rejects = load(tmp_path, source)
    kept = [str(v) for v in data.column("x").to_pylist()]
    assert kept[0].rstrip("0") == "0.125" and kept[1].rstrip("0") == "0.12345678901234567890123"
    assert "more digits than DuckDB's JSON reader keeps" in rejects[0]["error"]
    assert rejects[0]["key"] == "record 1"


def test_a_float_into_a_declared_decimal_is_never_rounded(tmp_path: Path) -> None:
    """Arrow's float-to-decimal cast rounded 0.125 to 0.12 in a decimal(10,2) and stored 0.1
    as 0.10000000000000000555112 in a decimal(38,23) (Parquet, databases and APIs alike)."""
    pq.write_table(pa.table({"x": [0.1, 0.125, 2.5]}), tmp_path / "a.parquet")
    source = FileSource(format="parquet", path="a.parquet", columns={"x": "decimal(10,2)"})
    data, rejects = load(tmp_path, source)
    assert data.column("x").to_pylist() == [decimal.Decimal("0.10"), decimal.Decimal("2.50")]
    assert rejects[0]["error"] == "column x: '0.125' is not decimal(10,2)"
    wide = source.model_copy(update={"columns": {"x": "decimal(38,23)"}})
    assert str(load(tmp_path, wide)[0].column("x")[0].as_py()).rstrip("0") == "0.1"


def test_declared_types_arrow_would_bend_are_quarantined(tmp_path: Path) -> None:
    """Arrow's safe casts still dropped a time of day (timestamp to date), made 2 true and
    rounded a decimal's 17th digit into a float64; the CSV and JSON readers quarantine each."""
    stamps = [dt.datetime(2025, 1, 1), dt.datetime(2025, 1, 1, 10)]
    table = pa.table(
        {
            "d": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "b": pa.array([1, 2]),
            "f": pa.array([decimal.Decimal("0.10"), decimal.Decimal("12345678901234567.89")]),
        }
    )
    pq.write_table(table, tmp_path / "a.parquet")
    columns = {"d": "date", "b": "bool", "f": "float64"}
    data, rejects = load(tmp_path, FileSource(format="parquet", path="a.parquet", columns=columns))
    assert data.to_pylist() == [{"d": dt.date(2025, 1, 1), "b": True, "f": 0.1}]
    error = rejects[0]["error"]
    assert "column d: '2025-01-01 10:00:00Z' is not a date (it has a time of day)" in error
    assert "column b: '2' is not 0 or 1" in error
    assert "column f: '12345678901234567.89' does not fit float64 exactly" in error


@pytest.mark.parametrize(("bad", "line"), [(1, 1), (2, 2), (5, 5)])
def test_a_malformed_ndjson_line_is_named_as_it_is(tmp_path: Path, bad: int, line: int) -> None:
    """DuckDB names the line after it ('line 6' for line 5)."""
    records = ['{"a": 1}'] * 6
    records[bad - 1] = '{"a": x}'
    with pytest.raises(SourceRefusedError, match=rf"in line {line}: unexpected character"):
        load(tmp_path, json_source(tmp_path, records, "ndjson"))


BOOL_TEXTS = ["true", "FALSE", "t", "F", "yes", "No", "y", "n", "1", "0", "on", "2", " true"]
BOOL_READ = [True, False, True, False, True, False, True, False, True, False, None, None, None]


def test_text_declared_bool_reads_the_same_texts_in_every_kind(tmp_path: Path) -> None:
    """DuckDB (CSV, JSON) read 'yes' and 't' as true where Arrow (a Parquet string column,
    SQLite, every other text typed in Arrow) set them aside: one declared type, two answers."""
    ids = list(range(len(BOOL_TEXTS)))
    (tmp_path / "b.csv").write_text(
        "id,b\n" + "".join(f'{i},"{t}"\n' for i, t in zip(ids, BOOL_TEXTS, strict=True))
    )
    pq.write_table(pa.table({"id": ids, "b": BOOL_TEXTS}), tmp_path / "b.parquet")
    declared = {"id": "int64", "b": "bool"}
    for fmt in ("csv", "parquet"):
        source = FileSource(format=fmt, path=f"b.{fmt}", columns=declared)  # type: ignore[arg-type]
        data, rejects = load(tmp_path, source)
        stored = dict(zip(data.column("id").to_pylist(), data.column("b").to_pylist(), strict=True))
        read = {i: v for i, v in zip(ids, BOOL_READ, strict=True) if v is not None}
        assert stored == read, fmt
        assert len(rejects) == BOOL_READ.count(None), fmt
