"""Types are never the last line of defence: a value that does not fit the declared or the
inferred type of its column is quarantined with the reason, or the load is refused; never
rounded, truncated, requoted or read in a guessed order. CSV, JSON, NDJSON and Parquet."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from weir.core import SourceRefusedError
from weir.engines import DuckDBEngine
from weir.ingest import read_files
from weir.project.sources import FileSource

ENGINE = DuckDBEngine(threads=2)
UTC = dt.UTC


def load(root: Path, source: FileSource) -> tuple[pa.Table, list[dict[str, Any]]]:
    with read_files(ENGINE, root, "s", source) as read:
        data = read.batches.read_all()
        return data, read.rejects().to_pylist()


def write(root: Path, name: str, text: str) -> str:
    (root / name).write_text(text)
    return name


# CSV without declared columns ---------------------------------------------------------------


def test_a_type_break_beyond_the_inference_sample_is_quarantined_not_rounded(
    tmp_path: Path,
) -> None:
    lines = "".join(f"{i},{i}\n" for i in range(30_000))
    path = write(tmp_path, "a.csv", "id,v\n" + lines + "2.1,7\n")
    data, rejects = load(tmp_path, FileSource(format="csv", path=path))
    assert data.schema.field("id").type == pa.int64()
    assert 2 not in data.column("id").to_pylist()[30_000:]  # '2.1' was not stored as 2
    [bad] = rejects
    assert bad["column_name"] == "id" and bad["raw"] == "2.1,7"
    assert bad["error"].startswith("column id: '2.1' is not a whole number in int64 range")
    assert "inferred" in bad["error"] and "sources.s.columns" in bad["error"]


def test_naive_timestamps_are_refused_without_a_zone_even_when_inferred(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "id,at\n1,2025-01-01 10:00:00\n")
    with pytest.raises(
        SourceRefusedError, match=r"column at has no time zone \(row 1\)"
    ) as refused:
        load(tmp_path, FileSource(format="csv", path=path))
    assert "sources.s.timezone" in str(refused.value) and "10:00" not in str(refused.value)
    data, _ = load(tmp_path, FileSource(format="csv", path=path, timezone="Europe/Paris"))
    assert data.column("at").to_pylist() == [dt.datetime(2025, 1, 1, 9, tzinfo=UTC)]


def test_a_naive_value_in_a_column_inferred_with_offsets_is_not_read_as_utc(
    tmp_path: Path,
) -> None:
    rows = "".join(f"{i},2025-01-01 10:00:00+02\n" for i in range(30_000))
    path = write(tmp_path, "t.csv", "id,at\n" + rows + "9,2025-06-01 10:00:00\n")
    with pytest.raises(SourceRefusedError, match="has no time zone"):
        load(tmp_path, FileSource(format="csv", path=path))


def test_day_and_month_that_cannot_be_told_apart_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,d\n1,01/02/2025\n2,03/04/2025\n")
    with pytest.raises(SourceRefusedError, match="day and month cannot be told apart") as refused:
        load(tmp_path, FileSource(format="csv", path=path))
    assert "sources.s.csv.date_format" in str(refused.value)
    declared = FileSource(format="csv", path=path, csv={"date_format": "%m/%d/%Y"})  # type: ignore[arg-type]
    data, _ = load(tmp_path, declared)
    assert data.column("d").to_pylist() == [dt.date(2025, 1, 2), dt.date(2025, 3, 4)]


def test_a_date_order_the_sample_proves_is_used(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,d\n1,01/02/2025\n2,25/04/2025\n")
    data, _ = load(tmp_path, FileSource(format="csv", path=path))
    assert data.column("d").to_pylist() == [dt.date(2025, 2, 1), dt.date(2025, 4, 25)]


def test_ambiguous_timestamps_need_a_declared_timestamp_format(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "id,at\n1,01/02/2025 10:00:00\n2,03/04/2025 11:00:00\n")
    with pytest.raises(SourceRefusedError, match="cannot be told apart"):
        load(tmp_path, FileSource(format="csv", path=path, timezone="UTC"))
    source = FileSource(
        format="csv",
        path=path,
        timezone="UTC",
        csv={"timestamp_format": "%d/%m/%Y %H:%M:%S"},  # type: ignore[arg-type]
    )
    data, _ = load(tmp_path, source)
    assert data.column("at").to_pylist()[0] == dt.datetime(2025, 2, 1, 10, tzinfo=UTC)


def test_integers_beyond_int64_keep_every_digit(tmp_path: Path) -> None:
    huge = "123456789012345678901234567890"
    beyond = "1" * 45
    path = write(tmp_path, "b.csv", f"id,big,bigger\n1,{huge},{beyond}\n2,5,6\n")
    data, rejects = load(tmp_path, FileSource(format="csv", path=path))
    assert data.column("big").to_pylist() == [decimal.Decimal(huge), decimal.Decimal(5)]
    assert data.column("bigger").to_pylist() == [beyond, "6"]  # no numeric type holds it
    assert rejects == []


def test_an_integer_beyond_int64_deep_in_an_int64_column_is_quarantined(tmp_path: Path) -> None:
    rows = "".join(f"{i}\n" for i in range(30_000))
    path = write(tmp_path, "b.csv", "id\n" + rows + "99999999999999999999\n")
    _, rejects = load(tmp_path, FileSource(format="csv", path=path))
    assert [r["raw"] for r in rejects] == ["99999999999999999999"]


def test_times_of_day_are_kept_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "id,opens\n1,08:30:00\n2,17:45:10\n")
    data, _ = load(tmp_path, FileSource(format="csv", path=path))
    assert data.column("opens").to_pylist() == ["08:30:00", "17:45:10"]  # Delta has no time type


# CSV with declared columns --------------------------------------------------------------------


def declared(root: Path, text: str, columns: dict[str, str], **extra: Any) -> FileSource:
    return FileSource(format="csv", path=write(root, "c.csv", text), columns=columns, **extra)


def test_a_declared_decimal_is_never_rounded(tmp_path: Path) -> None:
    source = declared(
        tmp_path, "id,amount\n1,1.25\n2,1.125\n3,1.10\n", {"id": "int64", "amount": "decimal(10,2)"}
    )
    data, rejects = load(tmp_path, source)
    assert data.column("amount").to_pylist() == [decimal.Decimal("1.25"), decimal.Decimal("1.10")]
    assert [r["error"] for r in rejects] == [
        "column amount: '1.125' does not fit decimal(10,2) without rounding"
    ]


def test_a_declared_date_does_not_drop_a_time_of_day(tmp_path: Path) -> None:
    text = "id,d\n1,2025-01-01\n2,2025-01-01 10:00:00\n3,2025-01-02 00:00:00\n"
    data, rejects = load(tmp_path, declared(tmp_path, text, {"id": "int64", "d": "date"}))
    assert data.column("id").to_pylist() == [1, 3]
    assert [r["raw"] for r in rejects] == ["2,2025-01-01 10:00:00"]


def test_sentinel_dates_are_kept_as_dates(tmp_path: Path) -> None:
    text = "id,d\n1,0001-01-01\n2,9999-12-31\n3,\n"
    data, rejects = load(tmp_path, declared(tmp_path, text, {"id": "int64", "d": "date"}))
    assert data.column("d").to_pylist() == [dt.date(1, 1, 1), dt.date(9999, 12, 31), None]
    assert rejects == []


def test_a_date_beyond_year_9999_is_quarantined(tmp_path: Path) -> None:
    text = "id,d\n1,10000-01-01\n2,2025-01-01\n"
    data, rejects = load(tmp_path, declared(tmp_path, text, {"id": "int64", "d": "date"}))
    assert data.column("id").to_pylist() == [2]
    assert "outside years 1-9999" in rejects[0]["error"]


def test_a_date_only_value_in_a_timestamp_column_is_a_wall_clock_time(tmp_path: Path) -> None:
    # '2025-01-01' has no offset: without a zone it is refused, not read as UTC midnight
    text = "id,at\n1,2025-01-01\n"
    with pytest.raises(SourceRefusedError, match="has no time zone"):
        load(tmp_path, declared(tmp_path, text, {"id": "int64", "at": "timestamp"}))
    source = declared(tmp_path, text, {"id": "int64", "at": "timestamp"}, timezone="Asia/Tokyo")
    data, _ = load(tmp_path, source)
    assert data.column("at").to_pylist() == [dt.datetime(2024, 12, 31, 15, tzinfo=UTC)]


def test_zone_names_and_zero_offsets_are_instants_not_wall_times(tmp_path: Path) -> None:
    text = "id,at\n1,2025-01-01 10:00:00 UTC\n2,2025-01-01 10:00:00+0000\n3,2025-01-01T10:00:00Z\n"
    source = declared(tmp_path, text, {"id": "int64", "at": "timestamp"}, timezone="Asia/Tokyo")
    data, rejects = load(tmp_path, source)
    assert set(data.column("at").to_pylist()) == {dt.datetime(2025, 1, 1, 10, tzinfo=UTC)}
    assert rejects == []


def test_nanoseconds_in_text_refuse_the_load_rather_than_being_cut(tmp_path: Path) -> None:
    text = "id,at\n1,2025-01-01T10:00:00.123456789Z\n2,2025-01-01T10:00:00.123456000Z\n"
    with pytest.raises(
        SourceRefusedError, match=r"column at has nanoseconds \(record 1\), which micro"
    ):
        load(tmp_path, declared(tmp_path, text, {"id": "int64", "at": "timestamp"}))
    ok = "id,at\n2,2025-01-01T10:00:00.123456000Z\n"
    data, _ = load(tmp_path, declared(tmp_path, ok, {"id": "int64", "at": "timestamp"}))
    assert data.column("at").to_pylist()[0].microsecond == 123456


def test_null_tokens_are_declared_per_column(tmp_path: Path) -> None:
    """'NA' can be Namibia: a token that means null in one column is a value in another."""
    path = write(tmp_path, "n.csv", "id,country,amount\n1,NA,NA\n2,FR,\n3,,5\n")
    own = {"amount": ["NA", ""], "country": []}
    inferred = FileSource(format="csv", path=path, csv={"column_null_values": own})  # type: ignore[arg-type]
    data, rejects = load(tmp_path, inferred)
    assert data.column("country").to_pylist() == ["NA", "FR", ""]
    assert data.column("amount").to_pylist() == [None, None, 5] and rejects == []
    columns = {"id": "int64", "country": "string", "amount": "float64"}
    declared = FileSource(format="csv", path=path, columns=columns, csv={"column_null_values": own})  # type: ignore[arg-type]
    assert load(tmp_path, declared)[0].column("amount").to_pylist() == [None, None, 5.0]
    everywhere = FileSource(format="csv", path=path, csv={"null_values": ["NA", ""]})  # type: ignore[arg-type]
    assert load(tmp_path, everywhere)[0].column("country").to_pylist() == [None, "FR", None]
    wrong = FileSource(format="csv", path=path, csv={"column_null_values": {"amunt": ["NA"]}})  # type: ignore[arg-type]
    with pytest.raises(SourceRefusedError, match="names amunt, which the file does not have"):
        load(tmp_path, wrong)


def test_na_is_a_value_unless_declared_in_every_format(tmp_path: Path) -> None:
    csv_data, _ = load(
        tmp_path, FileSource(format="csv", path=write(tmp_path, "a.csv", "c\nNA\nFR\n"))
    )
    json_data, _ = load(tmp_path, ndjson(tmp_path, ['{"c": "NA"}', '{"c": "FR"}']))
    pq.write_table(pa.table({"c": ["NA", "FR"]}), tmp_path / "a.parquet")
    parquet_data, _ = load(tmp_path, FileSource(format="parquet", path="a.parquet"))
    for data in (csv_data, json_data, parquet_data):
        assert data.column("c").to_pylist() == ["NA", "FR"]


# JSON and NDJSON ------------------------------------------------------------------------------


def ndjson(root: Path, records: list[str], **extra: Any) -> FileSource:
    return FileSource(
        format="ndjson", path=write(root, "r.ndjson", "\n".join(records) + "\n"), **extra
    )


def test_a_float_into_a_declared_integer_is_quarantined_not_rounded(tmp_path: Path) -> None:
    source = ndjson(tmp_path, ['{"x": 1}', '{"x": 2.7}'], columns={"x": "int64"})
    data, rejects = load(tmp_path, source)
    assert data.column("x").to_pylist() == [1]
    assert rejects[0]["error"] == "column x: '2.7' is not a whole number in int64 range"
    assert json.loads(rejects[0]["raw"]) == {"x": 2.7} and rejects[0]["key"] == "record 2"


def test_mixed_field_types_keep_strings_as_written(tmp_path: Path) -> None:
    data, _ = load(tmp_path, ndjson(tmp_path, ['{"x": "a"}', '{"x": 1}', '{"x": "b"}']))
    assert data.column("x").to_pylist() == ["a", "1", "b"]  # not '"a"'


def test_an_object_whose_fields_disagree_is_kept_as_its_json_text(tmp_path: Path) -> None:
    data, _ = load(tmp_path, ndjson(tmp_path, ['{"a": {"x": "s"}}', '{"a": {"x": 1}}']))
    assert [json.loads(v) for v in data.column("a").to_pylist()] == [{"x": "s"}, {"x": 1}]


def test_nan_is_refused_even_in_a_mixed_field(tmp_path: Path) -> None:
    with pytest.raises(SourceRefusedError, match="column x holds NaN or Infinity"):
        load(tmp_path, ndjson(tmp_path, ['{"x": "a"}', '{"x": NaN}']))
    with pytest.raises(SourceRefusedError, match="column y holds NaN or Infinity") as refused:
        load(tmp_path, ndjson(tmp_path, ['{"y": 1.5}', '{"y": Infinity}']))
    assert "sources.s.non_finite" in str(refused.value)


def test_declared_non_finite_numbers_are_stored_as_declared_and_counted(tmp_path: Path) -> None:
    records = ['{"y": 1.5}', '{"y": NaN}', '{"y": -Infinity}']
    with read_files(ENGINE, tmp_path, "s", ndjson(tmp_path, records, non_finite="null")) as read:
        assert read.batches.read_all().column("y").to_pylist() == [1.5, None, None]
        assert read.coerced == {"y: NaN or Infinity stored as null": 2}
    data, _ = load(tmp_path, ndjson(tmp_path, records, non_finite="keep"))
    kept = data.column("y").to_pylist()
    assert kept[0] == 1.5 and kept[1] != kept[1] and kept[2] == float("-inf")
    with pytest.raises(ValidationError, match="non_finite applies to csv, json"):
        FileSource(format="parquet", path="x.parquet", non_finite="null")


def test_an_integer_too_long_for_a_float_field_is_quarantined(tmp_path: Path) -> None:
    records = ['{"x": 1.5}', '{"x": 12345678901234567890123}']
    data, rejects = load(tmp_path, ndjson(tmp_path, records))
    assert data.column("x").to_pylist() == [1.5]
    assert "beyond what float64 holds exactly" in rejects[0]["error"]


def test_json_timestamps_follow_the_same_rule(tmp_path: Path) -> None:
    records = ['{"at": "2025-10-26 02:30:00"}', '{"at": "2025-06-01 12:00:00"}']
    source = FileSource(
        format="json",
        path=write(tmp_path, "r.json", "[" + ",".join(records) + "]"),
        timezone="Europe/Berlin",
    )
    data, rejects = load(tmp_path, source)
    assert data.column("at").to_pylist() == [dt.datetime(2025, 6, 1, 10, tzinfo=UTC)]
    assert rejects[0]["key"] == "record 1" and "ambiguous in Europe/Berlin" in rejects[0]["error"]


# Parquet ----------------------------------------------------------------------------------------


def parquet(root: Path, table: pa.Table, **extra: Any) -> FileSource:
    pq.write_table(table, root / "p.parquet", coerce_timestamps=None)
    return FileSource(format="parquet", path="p.parquet", **extra)


def test_declared_columns_apply_to_parquet(tmp_path: Path) -> None:
    table = pa.table({"id": [1, 2], "amount": [1.0, 2.5], "code": [7, 8]})
    source = parquet(tmp_path, table, columns={"id": "int64", "amount": "int64", "code": "string"})
    data, rejects = load(tmp_path, source)
    assert data.schema.field("code").type == pa.string()
    assert data.column("code").to_pylist() == ["7"] and data.column("amount").to_pylist() == [1]
    assert rejects[0]["error"].startswith("column amount: '2.5' is not a whole number")
    with pytest.raises(
        SourceRefusedError, match=r"declared column\(s\) missing are not in the data"
    ):
        load(tmp_path, parquet(tmp_path, table, columns={"missing": "int64"}))


def test_nanoseconds_declared_as_string_keep_every_digit(tmp_path: Path) -> None:
    stamps = pa.array([1_767_261_600_000_000_001], pa.timestamp("ns", tz="UTC"))
    with pytest.raises(SourceRefusedError, match="declare it as string") as refused:
        load(tmp_path, parquet(tmp_path, pa.table({"t": stamps})))
    assert "sources.s.columns" in str(refused.value)
    data, _ = load(tmp_path, parquet(tmp_path, pa.table({"t": stamps}), columns={"t": "string"}))
    assert data.column("t").to_pylist() == ["2026-01-01 10:00:00.000000001Z"]


def test_parquet_types_a_table_cannot_hold_are_mapped_without_loss(tmp_path: Path) -> None:
    table = pa.table(
        {
            "u32": pa.array([4_294_967_295], pa.uint32()),
            "u64": pa.array([18_446_744_073_709_551_615], pa.uint64()),
            "clock": pa.array([dt.time(8, 30)], pa.time64("us")),
            "d": pa.array([dt.date(9999, 12, 31)], pa.date32()),
        }
    )
    extra = pa.table(
        {
            "u32": pa.array([1], pa.uint32()),
            "u64": pa.array([5], pa.uint64()),
            "clock": pa.array([dt.time(0)], pa.time64("us")),
            "d": pa.array([dt.date(1, 1, 1)], pa.date32()),
        }
    )
    data, rejects = load(tmp_path, parquet(tmp_path, pa.concat_tables([table, extra])))
    assert data.column("u32").type == pa.int64() and data.column("u32").to_pylist() == [1]
    assert data.column("clock").to_pylist() == ["00:00:00"]
    assert data.column("d").to_pylist() == [dt.date(1, 1, 1)]
    assert "above int64; declare it as decimal(20,0)" in rejects[0]["error"]
    declared = parquet(tmp_path, table, columns={"u64": "decimal(20,0)"})
    assert load(tmp_path, declared)[0].column("u64").to_pylist() == [
        decimal.Decimal(18_446_744_073_709_551_615)
    ]


def test_nested_naive_times_follow_the_rule_too(tmp_path: Path) -> None:
    inner = pa.array([{"at": dt.datetime(2025, 6, 1, 12)}], pa.struct([("at", pa.timestamp("us"))]))
    with pytest.raises(SourceRefusedError, match="has no time zone"):
        load(tmp_path, parquet(tmp_path, pa.table({"event": inner})))
    data, _ = load(
        tmp_path, parquet(tmp_path, pa.table({"event": inner}), timezone="Europe/Berlin")
    )
    assert data.column("event").to_pylist() == [{"at": dt.datetime(2025, 6, 1, 10, tzinfo=UTC)}]


def test_a_declared_decimal_wider_than_a_table_is_refused_at_load() -> None:
    with pytest.raises(ValidationError, match="more than the 38 digits"):
        FileSource(format="csv", path="x.csv", columns={"x": "decimal(40,0)"})
