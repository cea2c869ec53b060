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
import sqlglot.expressions as exp

from weir.core.tables import TableFiles
from weir.engines.base import Engine
from weir.engines.sql import cast, literal, render, template
from weir.engines.sql import column as named

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


def _read(
    engine: Engine, data: pads.Dataset | pa.Table | TableFiles, items: list[exp.Expr]
) -> list[Any]:
    """The one row of `SELECT items FROM t`, the query rendered in the engine's dialect."""
    query = exp.select(*items).from_(exp.to_table("t"))
    with engine.query(render(query, engine.dialect), {"t": data}) as reader:
        return list(reader.read_all().to_pylist()[0].values())


def _finite(value: exp.Expr) -> exp.Expr:
    """`value` as a double, for a statistic over the finite values only (FILTER)."""
    return cast(value, "DOUBLE")


def _over_finite(aggregate: exp.Expr, value: exp.Expr) -> exp.Expr:
    """`aggregate FILTER (WHERE isfinite(value::DOUBLE))`."""
    return exp.Filter(
        this=aggregate,
        expression=exp.Where(this=template("isfinite(:v)", v=_finite(value))),
    )


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
            template("count(*)"),
            *(template("count(:c)", c=named(f.name)) for f in schema),
            *(
                template(
                    "count(:c) FILTER (WHERE NOT isfinite(:v))",
                    c=named(f.name),
                    v=_finite(named(f.name)),
                )
                if f.name in numeric
                else literal(0)
                for f in schema
            ),
        ]
        exact = _read(engine, data, [exp.alias_(e, f"c{i}") for i, e in enumerate(items)])
    rows = int(exact[0])
    profile = TableProfile(rows)
    sampled = rows > sample_above
    if sampled:
        # Drawn once and kept in memory: the statistics, histogram and top-value queries
        # below all read it, instead of each scanning the whole table again for its sample.
        percent = min(100.0, 100.0 * sample_rows / rows)
        if sample is not None and sample.schema.names == schema.names:
            data = sample
        else:
            sampling = template(f"SELECT * FROM t USING SAMPLE {percent:.6f} PERCENT (system, 42)")
            with engine.query(render(sampling, engine.dialect), {"t": data}) as reader:
                data = reader.read_all()
    values = iter(_read(engine, data, _statistics(schema, numeric, withheld, sampled)))
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
    _histograms(engine, data, profile, bounds, finite_read, bins)
    for name in others:
        profile.column(name).top_values = _top_values(engine, data, name, top_k)
    return profile


def _statistics(
    schema: pa.Schema, numeric: list[str], withheld: Mapping[str, str], sampled: bool
) -> list[exp.Expr]:
    """What one scan of what is read gives: its row count, then per column its distinct
    count, min and max (as text), and for numbers the moments, quantiles (exact over a
    sample, approximate over the whole table), count, min and max of the finite values."""
    parts: list[exp.Expr] = [template("count(*)")]
    quantiles = exp.Array(expressions=[literal(p) for p in QUANTILES])
    for f in schema:
        q = named(f.name)
        if _scalar(f.type):
            parts.append(template("approx_count_distinct(:c)", c=q))
            if f.name not in withheld:
                parts += [template("min(:c)::VARCHAR", c=q), template("max(:c)::VARCHAR", c=q)]
        if f.name in numeric:
            x = _finite(q)
            quantile = "quantile_cont(:x, :p)" if sampled else "approx_quantile(:x, :p)"
            parts += [
                _over_finite(template(aggregate, x=x, p=quantiles), q)
                for aggregate in ("avg(:x)", "stddev_samp(:x)", quantile)
            ]
            # in what is read: a one-value histogram's count
            parts.append(_over_finite(template("count(:c)", c=q), q))
            parts += [_over_finite(template(m, x=x), q) for m in ("min(:x)", "max(:x)")]
    return parts


def _histograms(
    engine: Engine,
    data: pads.Dataset | pa.Table | TableFiles,
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
        _over_finite(
            template(
                "histogram(:x, equi_width_bins(:low, :high, :bins, true))",
                x=_finite(named(n)),
                low=cast(literal(float(lo)), "DOUBLE"),
                high=cast(literal(float(hi)), "DOUBLE"),
                bins=literal(bins),
            ),
            named(n),
        )
        for n, lo, hi in wanted
    ]
    results = _read(engine, data, parts)
    for (name, _, _), mapping in zip(wanted, results, strict=True):
        pairs = mapping.items() if isinstance(mapping, dict) else mapping
        profile.column(name).histogram = [{"upper": float(k), "count": float(v)} for k, v in pairs]


def _top_values(
    engine: Engine,
    data: pads.Dataset | pa.Table | TableFiles,
    name: str,
    top_k: int,
) -> list[dict[str, Any]]:
    q = named(name)
    query = (
        exp.select(exp.alias_(cast(q, "VARCHAR"), "value"), template("count(*) AS count"))
        .from_(exp.to_table("t"))
        .where(template(":c IS NOT NULL", c=q))
        .group_by(exp.Literal.number(1))
        .order_by(exp.Ordered(this=exp.column("count"), desc=True), exp.column("value"))
        .limit(int(top_k))
    )
    with engine.query(render(query, engine.dialect), {"t": data}) as reader:
        return [
            {"value": r["value"], "count": int(r["count"])} for r in reader.read_all().to_pylist()
        ]
