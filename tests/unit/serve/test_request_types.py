"""Requests are typed strictly, and a refusal repeats little of what was sent."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from weir.serve.errors import SHOWN_BYTES, SHOWN_ERRORS, public_errors, short
from weir.serve.schemas import batch_model, repeated_key, request_model

KINDS = {"amount": "number", "channel": "category", "day": "date", "at": "timestamp"}
GOOD = {"amount": 12, "channel": "pos", "day": "2026-03-01", "at": "2026-03-01T10:00:00Z"}


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("amount", "80", "float_type"),  # no number from a string
        ("amount", True, "float_type"),  # nor from a boolean
        ("amount", 1e39, "value_error"),  # beyond float32: the graph would see infinity
        ("amount", -3.5e38, "value_error"),
        ("channel", 7, "string_type"),  # no category from a number
        ("day", 1_767_225_600, "date_type"),  # no date from a Unix time
        ("day", "2026-03-01T00:00:00", "date_parsing"),  # nor from a date-time
        ("at", 1_767_225_600, "datetime_type"),  # no date-time from an integer
        ("at", "2026-03-01", "datetime_parsing"),
        ("at", "2026-03-01T10:00:00", "timezone_aware"),
    ],
)
def test_values_of_another_type_are_refused_not_converted(
    field: str, value: Any, kind: str
) -> None:
    model = request_model("m", KINDS)
    with pytest.raises(pydantic.ValidationError) as refused:
        model.model_validate_json(json.dumps({**GOOD, field: value}))
    (error,) = refused.value.errors()
    assert error["loc"] == (field,) and error["type"] == kind


def test_json_types_are_accepted() -> None:
    row = request_model("m", KINDS).model_validate_json(json.dumps({**GOOD, "amount": 3.4e38}))
    assert row.amount == 3.4e38  # type: ignore[attr-defined]
    spec = request_model("m", KINDS).model_json_schema()["properties"]["amount"]
    assert spec["maximum"] == 3.4028234663852886e38


def test_a_refusal_repeats_at_most_a_few_errors_and_short_inputs() -> None:
    model = batch_model("m", request_model("m", KINDS), 1000)
    rows = [{**GOOD, "channel": "x" * 5000, "amount": "1"} for _ in range(500)]
    with pytest.raises(pydantic.ValidationError) as refused:
        model.model_validate_json(json.dumps({"rows": rows}))
    shown = public_errors(refused.value.errors(include_url=False))
    assert len(shown) == SHOWN_ERRORS + 1 and shown[-1]["type"] == "more_errors"
    assert shown[-1]["msg"].startswith(f"{1000 - SHOWN_ERRORS} more errors")
    assert len(json.dumps(shown, default=str)) < 12_000  # the request was 2.5 MB


def test_a_large_input_is_described_not_repeated() -> None:
    (error,) = public_errors(
        [{"type": "too_long", "loc": ["body", "rows"], "input": [GOOD] * 10**5}]
    )
    assert error["input"] == "a list of 100,000 items, too large to repeat"
    (error,) = public_errors([{"type": "x", "loc": ["body"], "input": "é" * 10**6}])
    assert error["input"].endswith("(1,000,000 characters, cut)") and len(error["input"]) < 200
    (error,) = public_errors([{"type": "x", "loc": ["body"], "input": {"a": float("nan")}}])
    assert error["input"] == {"a": "nan"}  # small: repeated, and sendable as JSON


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=500),
    lambda inner: (
        st.lists(inner, max_size=30) | st.dictionaries(st.text(max_size=20), inner, max_size=30)
    ),
    max_leaves=400,
)


@given(JSON_VALUES)
def test_what_a_refusal_repeats_is_bounded_whatever_was_sent(value: Any) -> None:
    shown = short(value)
    assert len(json.dumps(shown, allow_nan=False)) <= 4 * SHOWN_BYTES


def _has_repeat(body: bytes) -> bool:
    repeats = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        repeats.append(len(set(keys)) != len(keys))
        return dict(items)

    json.loads(body, object_pairs_hook=pairs)
    return any(repeats)


FIELDS = ("amount", "channel")
ROW_PARTS = st.lists(
    st.tuples(
        st.sampled_from(['"amount"', '"channel"', '"\\u0061mount"', '"rows"']),
        st.sampled_from(["1", '"amount"', '"channel"', '"x\\"y"', "null"]),
    ),
    min_size=2,
    max_size=5,
)


@given(st.lists(ROW_PARTS, min_size=1, max_size=4))
def test_a_key_given_twice_is_found_whatever_its_spelling(rows: list[Any]) -> None:
    """The quick count of names must never miss a repeat that a full parse finds: bodies
    of rows that hold every field (as validated rows do), with names also sent as values,
    escaped names, and `rows` as a field."""
    texts = []
    for parts in rows:
        present = {json.loads(name) for name, _ in parts}
        complete = parts + [(f'"{f}"', "1") for f in FIELDS if f not in present]
        texts.append("{" + ", ".join(f"{k}: {v}" for k, v in complete) + "}")
    body = ('{"rows": [' + ", ".join(texts) + "]}").encode()
    found = repeated_key(body, FIELDS, len(rows))
    assert (found is not None) == _has_repeat(body), (body, found)


def test_a_key_given_twice_is_named() -> None:
    body = b'{"amount": 1, "channel": "a", "channel": "b"}'
    assert repeated_key(body, FIELDS) == "'channel' is given twice in one object"
    assert repeated_key(b'{"amount": 1, "channel": "amount"}', FIELDS) is None  # a value
    assert repeated_key(b'{"amount": 1, "channel": "a", "ch\\u0061nnel": "b"}', FIELDS)


def test_the_places_of_errors_and_long_numbers_are_cut_short() -> None:
    (error,) = public_errors([{"type": "extra_forbidden", "loc": ["body", "k" * 10**5]}])
    assert len(json.dumps(error)) < 300 and error["loc"][0] == "body"
    (error,) = public_errors([{"type": "x", "loc": ["body", "rows", 3], "input": 10**4000 - 1}])
    assert error["input"] == "an integer of about 4,000 digits, cut"
    assert error["loc"] == ["body", "rows", 3]
    (error,) = public_errors([{"type": "x", "loc": ["body"], "input": 2**63}])
    assert error["input"] == 2**63  # an int64's range is shown as it is


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("at", "1740823200"),  # a Unix time in a string is still a Unix time
        ("at", "1740823200.5"),
        ("at", "0"),
        ("at", "-1"),
        ("day", "0"),  # 1970-01-01
        ("day", "86400"),  # 1970-01-02
        ("at", "2026-03-01T10:00:00.1234567Z"),  # finer than the microseconds kept
        ("at", "2026-03-01T10:00:00.123456789+01:00"),
    ],
)
def test_dates_and_times_are_calendar_text_kept_whole(field: str, value: str) -> None:
    model = request_model("m", KINDS)
    with pytest.raises(pydantic.ValidationError) as refused:
        model.model_validate_json(json.dumps({**GOOD, field: value}))
    (error,) = refused.value.errors()
    assert error["loc"] == (field,), error


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01T10:00:00Z",
        "2026-03-01T10:00:00+05:30",
        "2026-03-01 10:00:00Z",
        "2026-03-01T10:00Z",
        "2026-03-01T10:00:00.123456Z",
        "2026-03-01T10:00:00.123456000Z",  # nanoseconds that are whole microseconds
        "2026-03-01t10:00:00z",
    ],
)
def test_iso_8601_times_with_a_zone_are_accepted(value: str) -> None:
    row = request_model("m", KINDS).model_validate_json(json.dumps({**GOOD, "at": value}))
    assert row.at.tzinfo is not None  # type: ignore[attr-defined]
