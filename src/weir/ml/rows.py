"""Model input from rows that arrive as Python values (a request), without Arrow.

The serving path's twin of `prepare_frame`: same columns, same values, so an ONNX graph fed
from a request sees what the pipeline saw in training. A property test holds them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.types as pat

from weir.project.ml_config import FeatureSpec

# what a missing category becomes (training imputes it; serving checks it against the
# categories training saw): here, not in `weir.ml.features`, which imports scikit-learn
MISSING = "__missing__"
_SECONDS_PER_DAY = 86_400.0
_NAN = float("nan")


def input_kinds(schema: pa.Schema, features: FeatureSpec) -> dict[str, str]:
    """What each raw input column is, for request schemas: number, category, text, date or
    timestamp (in the order `prepare_rows` reads them)."""
    kinds = dict.fromkeys(features.numeric, "number")
    kinds |= dict.fromkeys(features.categorical, "category")
    for column, spec in features.dates.items():
        for name in [column, *spec.since]:
            kinds[name] = "date" if pat.is_date(schema.field(name).type) else "timestamp"
    kinds |= dict.fromkeys(features.text, "text")
    return kinds


def prepare_rows(rows: list[dict[str, Any]], features: FeatureSpec) -> pd.DataFrame:
    """`prepare_columns` as a DataFrame (what the native pipeline takes)."""
    columns = prepare_columns(rows, features)
    for name in [*features.categorical, *features.text]:  # object, as prepare_frame makes
        columns[name] = pd.Series(columns[name], dtype=object)
    return pd.DataFrame(columns, index=range(len(rows)))


def feeds_for(columns: Mapping[str, Any], kinds: dict[str, str]) -> dict[str, np.ndarray]:
    """ONNX inputs from prepared columns: one [N, 1] tensor each, float32 or string."""
    result = {}
    for name, kind in kinds.items():
        values = columns[name]
        if kind == "string":
            result[name] = np.asarray(values, dtype=object).reshape(-1, 1)
        else:
            result[name] = np.asarray(values, dtype=np.float32).reshape(-1, 1)
    return result


def prepare_columns(rows: list[dict[str, Any]], features: FeatureSpec) -> dict[str, Any]:
    """Numbers are floats or None, categories and text strings or None, dates and
    timestamps `date`/`datetime` (timestamps with a zone) or None."""
    frame: dict[str, Any] = {}
    # Plain lists: the ONNX feeds and the DataFrame convert them once; a float64 array
    # made here would be converted again (a tenth of a single-row request's time).
    for column in features.numeric:
        frame[column] = [_NAN if r[column] is None else float(r[column]) for r in rows]
    for column in features.categorical:
        frame[column] = ["" if r[column] is None else str(r[column]) for r in rows]
    for column, spec in features.dates.items():
        values = [_utc_naive(r[column]) for r in rows]
        for part in spec.parts:
            frame[f"{column}__{part}"] = [_NAN if v is None else _part(v, part) for v in values]
        for other in spec.since:
            others = [_utc_naive(r[other]) for r in rows]
            frame[f"{column}__days_since_{other}"] = [
                _NAN if a is None or b is None else (a - b) / _MICROSECOND / 1e6 / _SECONDS_PER_DAY
                for a, b in zip(values, others, strict=True)
            ]
    for column in features.text:
        frame[column] = ["" if r[column] is None else str(r[column]) for r in rows]
    return frame


_MICROSECOND = timedelta(microseconds=1)
_PARTS = {
    "dayofweek": "day of the week of {c} in UTC, Monday 0 to Sunday 6",
    "dayofyear": "day of the year of {c} in UTC, 1 to 366",
    "is_weekend": "1 if {c} falls on a Saturday or Sunday in UTC, else 0",
}


def derived_inputs(features: FeatureSpec) -> dict[str, str]:
    """How `prepare_columns` makes each graph input from the request fields, in words: the
    recipe a caller of the bare ONNX graph must follow (it is put in the graph's metadata).
    Same columns, same order as `prepare_columns`."""
    recipe: dict[str, str] = {}
    for column in features.numeric:
        recipe[column] = f"{column} as a float32; null as NaN (the graph imputes it)"
    for column in features.categorical:
        recipe[column] = f"{column} as text; null as the empty string"
    for column, spec in features.dates.items():
        for part in spec.parts:
            text = _PARTS.get(part, "the {part} of {c} in UTC")
            recipe[f"{column}__{part}"] = (
                text.format(c=column, part=part) + "; a date is its midnight; null as NaN"
            )
        for other in spec.since:
            recipe[f"{column}__days_since_{other}"] = (
                f"days from {other} to {column} ({column} minus {other}, with fractions, "
                "both in UTC; a date is its midnight); NaN if either is null"
            )
    for column in features.text:
        recipe[column] = f"{column} as text; null as the empty string"
    return recipe


def _utc_naive(value: Any) -> datetime | None:
    """A date or an aware datetime as naive UTC (what `_as_timestamp` does to Arrow columns)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment: datetime = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return moment
    return datetime(value.year, value.month, value.day)


def _part(value: datetime, part: str) -> float:
    if part == "dayofweek":
        return float(value.weekday())
    if part == "dayofyear":
        return float(value.timetuple().tm_yday)
    if part == "is_weekend":
        return float(value.weekday() >= 5)
    return float(getattr(value, part))
