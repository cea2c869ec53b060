"""The file source against the bad inputs of BAD_INPUTS.md that this stage handles."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from weir.core import ConfigError, SourceRefusedError
from weir.engines import DuckDBEngine
from weir.ingest import RereadError, check_csv, observe_files, read_files
from weir.project.sources import FileSource

ENGINE = DuckDBEngine(threads=2)
COLUMNS = {"id": "int64", "amount": "float64", "note": "string", "ts": "timestamp"}


def load(root: Path, source: FileSource) -> tuple[pa.Table, pa.Table]:
    """Read as the source step does: once more, carefully, when the first read says so."""
    for careful in (False, True):
        try:
            with read_files(ENGINE, root, "s", source, careful=careful) as read:
                try:
                    data = read.batches.read_all()
                except Exception:
                    if read.failure is None:
                        raise
                    raise read.failure from None
                return data, read.rejects()
        except RereadError:
            continue
    raise AssertionError("a careful read does not ask to be read again")


def csv(root: Path, text: str, name: str = "in.csv", encoding: str = "utf-8") -> FileSource:
    (root / name).write_bytes(text.encode(encoding))
    return FileSource(format="csv", path=name, columns=COLUMNS)


def test_clean_file_loads_with_declared_types(tmp_path: Path) -> None:
    data, rejects = load(
        tmp_path, csv(tmp_path, "id,amount,note,ts\n1,2.5,x,2026-01-01T10:00:00Z\n")
    )
    assert data.schema.field("id").type == pa.int64()
    assert str(data.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert rejects.num_rows == 0


def test_quoted_newlines_and_delimiters_stay_in_their_field(tmp_path: Path) -> None:
    text = 'id,amount,note,ts\n1,2.5,"a, b\nand c",2026-01-01T10:00:00Z\n2,1,"say ""hi""",2026-01-01T10:00:00Z\n'
    data, rejects = load(tmp_path, csv(tmp_path, text))
    assert data.column("note").to_pylist() == ["a, b\nand c", 'say "hi"']
    assert rejects.num_rows == 0


def test_malformed_rows_are_quarantined_with_line_and_raw_text(tmp_path: Path) -> None:
    text = (
        "id,amount,note,ts\n"
        "1,2.5,ok,2026-01-01T10:00:00Z\n"
        "2,N/A,bad number,2026-01-01T10:00:00Z\n"
        "3,1.0,too,many,2026-01-01T10:00:00Z\n"
        "4,1.0,bad date,31/02/2026\n"
        "5,1.0\n"
        "6,7.5,ok,2026-01-02T10:00:00Z\n"
    )
    data, rejects = load(tmp_path, csv(tmp_path, text))
    assert data.column("id").to_pylist() == [1, 6]
    # one quarantine row per rejected line, with every reason found on it
    by_line = {row["line"]: row for row in rejects.to_pylist()}
    assert sorted(by_line) == [3, 4, 5, 6]
    assert by_line[3]["error_type"] == "CAST" and "TOO MANY COLUMNS" in by_line[4]["error_type"]
    assert "MISSING COLUMNS" in by_line[6]["error_type"]
    # timestamps are typed by Weir (to refuse values without a zone), so a bad date is found
    # after parsing; the row DuckDB read is placed at its line all the same, with its text
    bad_date = by_line[5]
    assert bad_date["error"] == "column ts: '31/02/2026' is not a timestamp"
    assert bad_date["raw"] == "4,1.0,bad date,31/02/2026" and bad_date["file"].endswith("in.csv")
    assert bad_date["byte_offset"] == text.index("4,1.0,bad date") and bad_date["key"] is None
    raw = {row["line"]: row["raw"] for row in rejects.to_pylist()}
    assert raw[3] == "2,N/A,bad number,2026-01-01T10:00:00Z"
    assert all(row["file"].endswith("in.csv") for row in rejects.to_pylist())


def test_type_break_deep_in_the_file_is_quarantined_not_fatal(tmp_path: Path) -> None:
    """Inference must not be the only defence: '2.1' after 50k integers."""
    lines = ["id,amount,note,ts"] + [f"{i},{i},n,2026-01-01T00:00:00Z" for i in range(50_000)]
    lines.insert(45_000, "2.1,1,n,2026-01-01T00:00:00Z")
    data, rejects = load(tmp_path, csv(tmp_path, "\n".join(lines) + "\n"))
    assert data.num_rows == 50_000
    [reject] = rejects.to_pylist()
    assert reject["column_name"] == "id" and "'2.1' is not a whole number" in reject["error"]
    # The row the parser accepted is placed at its line and byte, with its text as written.
    assert reject["raw"] == "2.1,1,n,2026-01-01T00:00:00Z" and reject["line"] == 45_001
    assert reject["byte_offset"] == len("\n".join(lines[:45_000]).encode()) + 1
    assert reject["file"].endswith("in.csv")


@pytest.mark.parametrize(
    "value", ["99999999999999999999", "1e3", "0x10", "1_000", "2.0", "--5", "٣"]
)
def test_values_duckdb_would_bend_into_integers_are_quarantined(tmp_path: Path, value: str) -> None:
    text = f"id,amount,note,ts\n{value},1,,2026-01-01T00:00:00Z\n 7 ,1,,2026-01-01T00:00:00Z\n+8,1,,2026-01-01T00:00:00Z\n"
    data, rejects = load(tmp_path, csv(tmp_path, text))
    assert data.column("id").to_pylist() == [7, 8]
    assert rejects.column("column_name").to_pylist() == ["id"]
    assert value in rejects.column("error")[0].as_py()


def test_integers_beyond_float_precision_are_kept_exactly(tmp_path: Path) -> None:
    big = 2**62 + 1  # not representable in float64
    data, _ = load(
        tmp_path,
        csv(
            tmp_path,
            f"id,amount,note,ts\n{big},1,,2026-01-01T00:00:00Z\n,2,,2026-01-01T00:00:00Z\n",
        ),
    )
    assert data.column("id").to_pylist() == [big, None]


def test_null_tokens_are_declared_so_na_can_be_namibia(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("code,name\nNA,Namibia\n,Nowhere\n")
    plain = FileSource(format="csv", path="c.csv")
    data, _ = load(tmp_path, plain)
    assert data.column("code").to_pylist() == ["NA", None]
    declared = FileSource(format="csv", path="c.csv", csv={"null_values": ["", "NA"]})  # type: ignore[arg-type]
    data, _ = load(tmp_path, declared)
    assert data.column("code").to_pylist() == [None, None]


def test_utf8_bom_is_stripped_from_the_first_header(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_bytes("\ufeffid,name\n1,x\n".encode())
    data, _ = load(tmp_path, FileSource(format="csv", path="b.csv"))
    assert data.schema.names == ["id", "name"]


def test_declared_latin1_encoding_is_decoded(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_bytes("id,name\n1,Gödel\n".encode("latin-1"))
    data, _ = load(tmp_path, FileSource(format="csv", path="l.csv", csv={"encoding": "latin-1"}))  # type: ignore[arg-type]
    assert data.column("name").to_pylist() == ["Gödel"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("id,amount,note,ts\n", "header but no data rows"),
        ("\ufeffid,amount,note,ts", "header but no data"),
    ],
)
def test_empty_and_header_only_files_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SourceRefusedError, match=message):
        load(tmp_path, csv(tmp_path, text))


def test_a_load_with_every_row_quarantined_is_refused(tmp_path: Path) -> None:
    source = csv(tmp_path, "id,amount,note,ts\nx,1,,2026-01-01T00:00:00Z\n")
    with read_files(ENGINE, tmp_path, "s", source) as read, pytest.raises(Exception):  # noqa: B017
        read.batches.read_all()
    assert isinstance(read.failure, SourceRefusedError) and "no data rows" in str(read.failure)


def test_no_matching_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources.s.path"):
        observe_files(tmp_path, "s", FileSource(format="csv", path="missing/*.csv"))


def test_globs_read_every_file_in_order_and_observe_their_content(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for i in range(3):
        (tmp_path / "d" / f"part{i}.csv").write_text(f"id\n{i}\n")
    source = FileSource(format="csv", path="d/*.csv")
    data, _ = load(tmp_path, source)
    assert sorted(data.column("id").to_pylist()) == [0, 1, 2]
    states = observe_files(tmp_path, "s", source)
    assert [s.path for s in states] == ["d/part0.csv", "d/part1.csv", "d/part2.csv"]
    (tmp_path / "d" / "part1.csv").write_text("id\n9\n")
    assert observe_files(tmp_path, "s", source)[1].sha256 != states[1].sha256


def test_parquet_source(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "x.parquet")
    data, rejects = load(tmp_path, FileSource(format="parquet", path="x.parquet"))
    assert data.column("a").to_pylist() == [1, 2] and rejects.num_rows == 0


def test_truncated_parquet_is_rejected(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": list(range(1000))}), tmp_path / "x.parquet")
    raw = (tmp_path / "x.parquet").read_bytes()
    (tmp_path / "x.parquet").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(SourceRefusedError, match="cannot read"):
        load(tmp_path, FileSource(format="parquet", path="x.parquet"))


# time zones (BAD_INPUTS: naive values need a declared zone, else REJECT) ------------------


def ts_source(root: Path, lines: str, **csv: object) -> FileSource:
    (root / "t.csv").write_text("id,ts\n" + lines)
    return FileSource(
        format="csv", path="t.csv", columns={"id": "int64", "ts": "timestamp"}, csv=csv
    )  # type: ignore[arg-type]


def test_offsets_are_honoured_and_stored_in_utc(tmp_path: Path) -> None:
    source = ts_source(
        tmp_path,
        "1,2026-01-01T10:00:00Z\n2,2026-01-01 10:00:00+02:00\n3,2026-02-03T10:11:00+0100\n",
    )
    data, rejects = load(tmp_path, source)
    assert [t.isoformat() for t in data.column("ts").to_pylist()] == [
        "2026-01-01T10:00:00+00:00",
        "2026-01-01T08:00:00+00:00",
        "2026-02-03T09:11:00+00:00",
    ]
    assert rejects.num_rows == 0


def test_a_timestamp_without_a_zone_rejects_the_load_naming_the_fix(tmp_path: Path) -> None:
    source = ts_source(tmp_path, "1,2026-01-01T10:00:00Z\n2,2026-01-01 10:00:00\n")
    with (
        pytest.raises(SourceRefusedError) as refused,
        read_files(ENGINE, tmp_path, "s", source) as read,
    ):
        read.batches.read_all()
    message = str(refused.value)
    assert "column ts has no time zone (row 2)" in message and "nothing was committed" in message
    assert "10:00" not in message  # a value may be PII: the error names its place instead
    assert "sources.s.timezone" in message


def test_a_declared_zone_reads_naive_values_in_it(tmp_path: Path) -> None:
    source = ts_source(
        tmp_path, "1,2026-07-01 10:00:00\n2,2026-07-01T10:00:00Z\n", timezone="Europe/Paris"
    )
    data, _ = load(tmp_path, source)
    assert [t.isoformat() for t in data.column("ts").to_pylist()] == [
        "2026-07-01T08:00:00+00:00",
        "2026-07-01T10:00:00+00:00",
    ]


def test_text_that_is_no_timestamp_is_quarantined(tmp_path: Path) -> None:
    source = ts_source(tmp_path, "1,2026-01-01T10:00:00Z\n2,yesterday\n", timezone="UTC")
    data, rejects = load(tmp_path, source)
    assert data.column("id").to_pylist() == [1]
    assert rejects.column("error").to_pylist() == ["column ts: 'yesterday' is not a timestamp"]


def test_declared_formats_with_and_without_an_offset(tmp_path: Path) -> None:
    aware = ts_source(tmp_path, "1,03/02/2026 10:11 +0100\n", timestamp_format="%d/%m/%Y %H:%M %z")
    assert (
        load(tmp_path, aware)[0].column("ts")[0].as_py().isoformat() == "2026-02-03T09:11:00+00:00"
    )
    naive = ts_source(
        tmp_path, "1,03/02/2026 10:11\n", timestamp_format="%d/%m/%Y %H:%M", timezone="UTC"
    )
    assert (
        load(tmp_path, naive)[0].column("ts")[0].as_py().isoformat() == "2026-02-03T10:11:00+00:00"
    )


def test_an_unknown_zone_is_a_config_error_with_a_suggestion() -> None:
    with pytest.raises(Exception, match="did you mean 'Europe/Paris'"):
        FileSource(format="csv", path="t.csv", csv={"timezone": "Europe/Pariss"})  # type: ignore[arg-type]


# JSON, NDJSON, compression, headers (BAD_INPUTS: Files) ----------------------------------


def test_json_array_and_ndjson_with_gzip_and_zstd(tmp_path: Path) -> None:
    import gzip
    import subprocess

    (tmp_path / "a.json").write_text('[{"id": 1, "tag": "x"}, {"id": 2, "ok": true}]')
    data, _ = load(tmp_path, FileSource(format="json", path="a.json"))
    assert data.column("id").to_pylist() == [1, 2] and data.column("ok").to_pylist() == [None, True]

    (tmp_path / "b.ndjson.gz").write_bytes(gzip.compress(b'{"id": 1}\n{"id": 2}\n'))
    data, _ = load(tmp_path, FileSource(format="ndjson", path="b.ndjson.gz"))
    assert data.column("id").to_pylist() == [1, 2]

    (tmp_path / "c.csv").write_text("id\n7\n")
    subprocess.run(
        ["zstd", "-q", "-f", str(tmp_path / "c.csv"), "-o", str(tmp_path / "c.csv.zst")], check=True
    )
    data, _ = load(tmp_path, FileSource(format="csv", path="c.csv.zst"))
    assert data.column("id").to_pylist() == [7]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": 1, "id": 2}\n', 'duplicate key "id"'),
        ('{"id": 1}\n{"id": \n', "Malformed JSON"),
    ],
)
def test_bad_ndjson_is_rejected_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "x.ndjson").write_text(text)
    with pytest.raises(SourceRefusedError, match=message):
        load(tmp_path, FileSource(format="ndjson", path="x.ndjson"))


def test_nan_in_json_is_rejected_naming_the_column_and_record(tmp_path: Path) -> None:
    (tmp_path / "x.ndjson").write_text('{"v": 1.5}\n{"v": NaN}\n')
    with pytest.raises(SourceRefusedError, match=r"column v holds NaN or Infinity \(record 2\)"):
        load(tmp_path, FileSource(format="ndjson", path="x.ndjson"))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,amount,id", "columns 'id', 'id' have the same name"),
        ("id,Amount,amount", "differ only by case"),
        ("id,,amount", "column 2 has an empty name"),
    ],
)
def test_bad_headers_are_rejected_not_renamed(tmp_path: Path, header: str, message: str) -> None:
    (tmp_path / "h.csv").write_text(header + "\n1,2,3\n")
    with pytest.raises(SourceRefusedError, match=message):
        load(tmp_path, FileSource(format="csv", path="h.csv"))


def test_headers_are_normalised_by_the_declared_rule(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("Order ID,customerId\n1,2\n")
    source = FileSource(format="csv", path="h.csv", normalise_names="snake_case")
    data, _ = load(tmp_path, source)
    assert data.column_names == ["order_id", "customer_id"]
    assert data.column("order_id").to_pylist() == [1]


def test_an_oversized_field_is_quarantined_with_its_line(tmp_path: Path) -> None:
    big = "x" * 5000
    (tmp_path / "o.csv").write_text(f"id,note\n1,ok\n2,{big}\n3,ok\n")
    source = FileSource(
        format="csv",
        path="o.csv",
        columns={"id": "int64", "note": "string"},
        csv={"max_line_bytes": 1024},  # type: ignore[arg-type]
    )
    data, rejects = load(tmp_path, source)
    assert data.column("id").to_pylist() == [1, 3]
    assert rejects.column("line").to_pylist() == [3]


def test_sentinel_dates_are_kept(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("id,d\n1,0001-01-01\n2,9999-12-31\n")
    data, _ = load(
        tmp_path, FileSource(format="csv", path="d.csv", columns={"id": "int64", "d": "date"})
    )
    assert [str(v) for v in data.column("d").to_pylist()] == ["0001-01-01", "9999-12-31"]


def test_invalid_utf8_is_rejected_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_bytes(b"id,name\n1,caf\xe9\n")
    with pytest.raises(SourceRefusedError, match=r"(?i)byte|line|unicode|utf"):
        load(
            tmp_path,
            FileSource(format="csv", path="e.csv", columns={"id": "int64", "name": "string"}),
        )


def test_an_unterminated_quote_is_quarantined_with_its_line(tmp_path: Path) -> None:
    text = (
        'id,amount,note,ts\n1,1,ok,2026-01-01T10:00:00Z\n2,1,"never closed,2026-01-01T10:00:00Z\n'
    )
    data, rejects = load(tmp_path, csv(tmp_path, text))
    assert data.column("id").to_pylist() == [1]
    assert rejects.column("line").to_pylist() == [3]
    assert "QUOTE" in rejects.column("error_type")[0].as_py()


def test_parquet_times_become_utc_microseconds_without_loss(tmp_path: Path) -> None:
    stamps = pa.array([1_767_261_600_000_000_000], pa.timestamp("ns", tz="Europe/Paris"))
    pq.write_table(pa.table({"t": stamps}), tmp_path / "ok.parquet")
    data, _ = load(tmp_path, FileSource(format="parquet", path="ok.parquet"))
    assert str(data.schema.field("t").type) == "timestamp[us, tz=UTC]"
    assert data.column("t").cast(pa.int64()).to_pylist() == [1_767_261_600_000_000]

    lossy = pa.array([1_767_261_600_000_000_001], pa.timestamp("ns", tz="UTC"))
    pq.write_table(pa.table({"t": lossy}), tmp_path / "ns.parquet", coerce_timestamps=None)
    with pytest.raises(
        SourceRefusedError, match=r"nanoseconds \(row 1\), which microsecond storage would drop"
    ):
        load(tmp_path, FileSource(format="parquet", path="ns.parquet"))

    naive = pa.array([1_767_261_600_000_000], pa.timestamp("us"))
    pq.write_table(pa.table({"t": naive}), tmp_path / "naive.parquet")
    with pytest.raises(SourceRefusedError, match="has no time zone"):
        load(tmp_path, FileSource(format="parquet", path="naive.parquet"))
    data, _ = load(tmp_path, FileSource(format="parquet", path="naive.parquet", timezone="UTC"))
    assert data.column("t").cast(pa.int64()).to_pylist() == [1_767_261_600_000_000]


def test_a_scoring_input_is_checked_for_its_structure_not_typed_as_a_source(
    tmp_path: Path,
) -> None:
    """`weir predict --input x.csv` refuses a line that is not a clean record. Times without
    a zone or a value beyond the sniffer's sample are not its concern: there is no source to
    declare a zone or columns on, and the model's inputs are checked by the scoring."""
    rows = "".join(f"{i},2025-01-01 10:00:00,{i}\n" for i in range(25_000))
    (tmp_path / "new.csv").write_text("id,at,v\n" + rows + "7,2025-10-26 02:30:00,2.1\n")
    check_csv(ENGINE, tmp_path / "new.csv", "input new.csv")
    text = 'id,at,v\n1,a,1\n2,"open,2\n3,c,3\n'
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ConfigError, match=rf"bad.csv line 3 \(byte {text.index('2,')}\) is not a"):
        check_csv(ENGINE, tmp_path / "bad.csv", "input bad.csv")
    (tmp_path / "twice.csv").write_text("id,id\n1,2\n")
    with pytest.raises(ConfigError, match="'id', 'id' have the same name"):
        check_csv(ENGINE, tmp_path / "twice.csv", "input twice.csv")


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_compressed_file_whose_name_does_not_say_so_is_refused_with_the_fix(
    tmp_path: Path, fmt: str
) -> None:
    """'x.csv.gzip' was taken for gzip by Weir's line count and read as plain text by DuckDB
    ('Invalid unicode', 'Malformed JSON', naming no cause)."""
    import gzip

    text = "a,b\n1,2\n" if fmt == "csv" else '{"a": 1, "b": 2}\n'
    (tmp_path / f"x.{fmt}.gzip").write_bytes(gzip.compress(text.encode()))
    auto = FileSource(format=fmt, path=f"x.{fmt}.gzip")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="gzip-compressed") as refused:
        observe_files(tmp_path, "s", auto)
    assert "compression: gzip" in refused.value.fix
    declared = FileSource(format=fmt, path=f"x.{fmt}.gzip", compression="gzip")  # type: ignore[arg-type]
    observed = observe_files(tmp_path, "s", declared)
    with read_files(ENGINE, tmp_path, "s", declared, observed=observed) as read:
        assert read.batches.read_all().num_rows == 1
