"""Request rows and Arrow tables become the same model input (serving == training)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.ml.features import prepare_frame
from weir.ml.rows import input_kinds, prepare_rows
from weir.project.ml_config import FeatureSpec

SPEC = FeatureSpec.model_validate(
    {
        "numeric": ["amount"],
        "categorical": ["colour"],
        "dates": {
            "ts": {
                "parts": [
                    "year",
                    "month",
                    "day",
                    "dayofweek",
                    "dayofyear",
                    "hour",
                    "minute",
                    "is_weekend",
                ],
                "since": ["signed"],
            },
        },
        "text": ["note"],
    }
)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)
moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=zones
)
row = st.fixed_dictionaries(
    {
        "amount": st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64),
        "colour": st.none() | st.text(max_size=5),
        "ts": st.none() | moments,
        "signed": st.none() | st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 1, 1)),
        "note": st.none() | st.text(max_size=10),
    }
)


def as_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "amount": pa.array([r["amount"] for r in rows], pa.float64()),
            "colour": pa.array([r["colour"] for r in rows], pa.string()),
            "ts": pa.array([r["ts"] for r in rows], pa.timestamp("us", tz="UTC")),
            "signed": pa.array([r["signed"] for r in rows], pa.date32()),
            "note": pa.array([r["note"] for r in rows], pa.string()),
        }
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(row, min_size=1, max_size=6))
def test_rows_and_tables_give_the_same_model_input(rows: list[dict[str, Any]]) -> None:
    expected = prepare_frame(as_table(rows), SPEC)
    pd.testing.assert_frame_equal(prepare_rows(rows, SPEC), expected, check_exact=True)


def test_input_kinds_name_dates_and_timestamps() -> None:
    table = as_table(
        [
            {
                "amount": 1.0,
                "colour": "red",
                "ts": datetime(2025, 1, 1, tzinfo=UTC),
                "signed": date(2024, 1, 1),
                "note": "x",
            }
        ]
    )
    assert input_kinds(table.schema, SPEC) == {
        "amount": "number",
        "colour": "category",
        "ts": "timestamp",
        "signed": "date",
        "note": "text",
    }
    assert np.isnan(
        prepare_rows(
            [{"amount": None, "colour": None, "ts": None, "signed": None, "note": None}], SPEC
        )["ts__hour"][0]
    )
