"""Table profiles: what each column looks like, computed in the engine.

Row and null counts, and the count of NaN and ±Infinity, are exact, from the whole table
(cheap: one scan, which the table's fingerprint makes anyway). The
distribution (distinct count, min and max, mean and std, quantiles, histogram, top values)
comes from the whole table up to SAMPLE_ABOVE rows, and above that from a seeded sample of
about SAMPLE_ROWS rows (drawn while the table was written when the writer kept one, else a
block sample), which the profile records (`sample_rows`): profiling a
large table then costs about as much as profiling a million rows, at the price of extremes
and distinct counts being those of the sample. Nothing is pulled into Python but results.

A column whose values must not leave its table (a governed PII column of a raw table, the
raw lines of its quarantine) is profiled by counts only: rows, nulls and distinct count;
no minimum, maximum, moments, quantiles, histogram or top values, which are values or are
computed from few of them. `withheld` names such columns and the class that withholds them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.types as pat

from weir.core.tables import TableFiles
from weir.engines.base import Engine

if TYPE_CHECKING:
    import pyarrow.dataset as pads

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SAMPLE_ABOVE = 2_000_000
SAMPLE_ROWS = 1_000_000


@dataclass
class ColumnProfile:
    name: str
    type: str
    count: int
    nulls: int
    null_fraction: float
    distinct_approx: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    quantiles_approx: dict[str, float | None] | None = None
    histogram: list[dict[str, float]] | None = None
    top_values: list[dict[str, Any]] | None = None
    withheld: str | None = None  # the class (e.g. pii.email) that keeps values out
    # numbers: NaN and ±Infinity, counted; mean, std, quantiles and histogram are of the rest
    not_finite: int | None = None


@dataclass
class TableProfile:
    rows: int
    columns: list[ColumnProfile] = field(default_factory=list)
    sample_rows: int | None = None  # set when the distribution comes from a sample

    def as_record(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "sample_rows": self.sample_rows,
            "columns": [asdict(c) for c in self.columns],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TableProfile:
        return cls(
            record["rows"],
            [ColumnProfile(**c) for c in record["columns"]],
            record.get("sample_rows"),
        )

    def without_values(self, withheld: Mapping[str, str]) -> TableProfile:
        """This profile with the values of `withheld` columns removed (for profiles stored
        before those columns were withheld)."""
        columns = []
        for column in self.columns:
            if column.name in withheld:
                column = ColumnProfile(
                    column.name,
                    column.type,
                    column.count,
                    column.nulls,
                    column.null_fraction,
                    column.distinct_approx,
                    withheld=withheld[column.name],
                )
            columns.append(column)
        return TableProfile(self.rows, columns, self.sample_rows)

    def column(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _numeric(kind: pa.DataType) -> bool:
    return bool(pat.is_integer(kind) or pat.is_floating(kind) or pat.is_decimal(kind))


def _scalar(kind: pa.DataType) -> bool:
    return not (pat.is_nested(kind) or pat.is_binary(kind) or pat.is_large_binary(kind))


def _json_number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def profile_table(
    engine: Engine,
    data: pads.Dataset | pa.Table | TableFiles,
    *,
    bins: int = 20,
    top_k: int = 10,
    sample_above: int | None = None,
    sample_rows: int | None = None,
    counts: tuple[int, ...] | None = None,
    not_finite: tuple[int, ...] | None = None,
    sample: pa.Table | None = None,
    withheld: Mapping[str, str] | None = None,
) -> TableProfile:
    """`counts`: row count then each column's non-null count, when a scan already made them
    (the fingerprint's does), and `not_finite`, each column's NaN and ±Infinity from that
    scan: a large table is then read once less. `sample`: a uniform
    sample drawn while the table was written (quality.sample), used instead of drawing one.
    `withheld`: column -> class of the columns profiled by counts only (no values)."""
    sample_above = SAMPLE_ABOVE if sample_above is None else sample_above
    sample_rows = SAMPLE_ROWS if sample_rows is None else sample_rows
    withheld = withheld or {}
    schema: pa.Schema = data.schema
    numeric = [f.name for f in schema if _numeric(f.type) and f.name not in withheld]
    # Top values tell something for labels and flags; for times and numbers, ranges do.
    others = [
        f.name
        for f in schema
        if (pat.is_string(f.type) or pat.is_large_string(f.type) or pat.is_boolean(f.type))
        and f.name not in withheld
    ]
    width = len(schema)
    if (
        counts is not None
        and len(counts) == width + 1
        and not_finite is not None
        and len(not_finite) == width
    ):
        exact: list[Any] = [*counts, *not_finite]
    else:
        items = [
            "count(*)",
            *(f"count({_ident(f.name)})" for f in schema),
            *(
                f"count({_ident(f.name)}) FILTER (WHERE NOT isfinite({_ident(f.name)}::DOUBLE))"
                if f.name in numeric
                else "0"
                for f in schema
            ),
        ]
        wanted = ", ".join(f"{item} AS c{i}" for i, item in enumerate(items))
        with engine.query(f"SELECT {wanted} FROM t", {"t": data}) as reader:
            exact = list(reader.read_all().to_pylist()[0].values())
    rows = int(exact[0])
    profile = TableProfile(rows)
    source = "t"
    sampled = rows > sample_above
    if sampled:
        # Drawn once and kept in memory: the statistics, histogram and top-value queries
        # below all read it, instead of each scanning the whole table again for its sample.
        percent = min(100.0, 100.0 * sample_rows / rows)
        if sample is not None and sample.schema.names == schema.names:
            data = sample
        else:
            with engine.query(
                f"SELECT * FROM t USING SAMPLE {percent:.6f} PERCENT (system, 42)", {"t": data}
            ) as reader:
                data = reader.read_all()
    parts = ["count(*)"]
    for f in schema:
        q = _ident(f.name)
        if _scalar(f.type):
            parts.append(f"approx_count_distinct({q})")
            if f.name not in withheld:
                parts += [f"min({q})::VARCHAR", f"max({q})::VARCHAR"]
        if f.name in numeric:
            quantiles = ", ".join(str(p) for p in QUANTILES)
            finite = f"FILTER (WHERE isfinite({q}::DOUBLE))"
            parts += [
                f"avg({q}::DOUBLE) {finite}",
                f"stddev_samp({q}::DOUBLE) {finite}",
                f"quantile_cont({q}::DOUBLE, [{quantiles}]) {finite}"
                if sampled
                else f"approx_quantile({q}::DOUBLE, [{quantiles}]) {finite}",
                f"count({q}) {finite}",  # in what is read: a one-value histogram's count
                f"min({q}::DOUBLE) {finite}",
                f"max({q}::DOUBLE) {finite}",
            ]
    with engine.query(f"SELECT {', '.join(parts)} FROM {source}", {"t": data}) as reader:
        values = iter(reader.read_all().to_pylist()[0].values())
    sample_count = int(next(values))
    profile.sample_rows = sample_count if sampled else None
    bounds: dict[str, tuple[float | None, float | None]] = {}  # finite extremes: histograms
    finite_read: dict[str, int] = {}
    for f, count, not_finite_count in zip(
        schema, exact[1 : width + 1], exact[width + 1 :], strict=True
    ):
        count = int(count)
        column = ColumnProfile(
            f.name, str(f.type), count, rows - count, (rows - count) / rows if rows else 0.0
        )
        column.withheld = withheld.get(f.name)
        if _scalar(f.type):
            column.distinct_approx = int(next(values))
            if column.withheld is None:
                column.min, column.max = next(values), next(values)
        if f.name in numeric:
            column.mean, column.std = _json_number(next(values)), _json_number(next(values))
            quantiles_found = next(values)
            if quantiles_found is not None:
                column.quantiles_approx = {
                    f"p{round(p * 100):02d}": _json_number(v)
                    for p, v in zip(QUANTILES, quantiles_found, strict=True)
                }
            column.not_finite = int(not_finite_count)
            finite_read[f.name] = int(next(values))
            bounds[f.name] = (_json_number(next(values)), _json_number(next(values)))
        profile.columns.append(column)
    _histograms(engine, data, source, profile, bounds, finite_read, bins)
    for name in others:
        profile.column(name).top_values = _top_values(engine, data, source, name, top_k)
    return profile


def _histograms(
    engine: Engine,
    data: pads.Dataset | pa.Table | TableFiles,
    source: str,
    profile: TableProfile,
    bounds: Mapping[str, tuple[float | None, float | None]],
    finite: Mapping[str, int],
    bins: int,
) -> None:
    """Equal-width bins between each column's finite min and max, of its finite values in
    what is read (the sample, when there is one; `finite` counts them):
    [{'upper': u, 'count': n}, ...]."""
    wanted = []
    for name, (low, high) in bounds.items():
        column = profile.column(name)
        if low is None or high is None:
            continue
        if low == high:
            column.histogram = [{"upper": high, "count": float(finite[name])}]
            continue
        wanted.append((name, low, high))
    if not wanted:
        return
    parts = [
        f"histogram({_ident(n)}::DOUBLE, equi_width_bins({lo!r}::DOUBLE, {hi!r}::DOUBLE, {bins}, true)) "
        f"FILTER (WHERE isfinite({_ident(n)}::DOUBLE))"
        for n, lo, hi in wanted
    ]
    with engine.query(f"SELECT {', '.join(parts)} FROM {source}", {"t": data}) as reader:
        results = reader.read_all().to_pylist()[0].values()
    for (name, _, _), mapping in zip(wanted, results, strict=True):
        pairs = mapping.items() if isinstance(mapping, dict) else mapping
        profile.column(name).histogram = [{"upper": float(k), "count": float(v)} for k, v in pairs]


def _top_values(
    engine: Engine,
    data: pads.Dataset | pa.Table | TableFiles,
    source: str,
    name: str,
    top_k: int,
) -> list[dict[str, Any]]:
    q = _ident(name)
    sql = (
        f"SELECT {q}::VARCHAR AS value, count(*) AS count FROM {source} WHERE {q} IS NOT NULL "
        f"GROUP BY 1 ORDER BY count DESC, value LIMIT {int(top_k)}"
    )
    with engine.query(sql, {"t": data}) as reader:
        return [
            {"value": r["value"], "count": int(r["count"])} for r in reader.read_all().to_pylist()
        ]
