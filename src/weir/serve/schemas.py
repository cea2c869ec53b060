"""Request and response models generated from the model's serving spec, so the OpenAPI
document shows the real fields and bad requests are refused with the field's name."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
)
from pydantic_core import PydanticCustomError


def _in_utc_range(value: datetime | None) -> datetime | None:
    """A time whose UTC moment leaves years 1 to 9999 (0001-01-01T00:00+01:00) cannot be
    computed with, nor logged: refused with a 422 instead of failing as a 500."""
    if value is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("in UTC this time falls outside years 1 to 9999") from None
    return value


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FRACTION = re.compile(r"[.,](\d+)")


def _calendar_date(value: Any) -> Any:
    """Dates are JSON text YYYY-MM-DD (or null), checked before pydantic parses them:
    its parser also reads a string of digits as a Unix time ("86400" is 1970-01-02)."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value  # null, or (from Python, not JSON) a date
    if not isinstance(value, str):
        raise PydanticCustomError("date_type", "Input should be a date as text, YYYY-MM-DD")
    if not _DATE.fullmatch(value):
        raise PydanticCustomError("date_parsing", "Input should be a date as YYYY-MM-DD")
    return value


def _calendar_time(value: Any) -> Any:
    """Timestamps are JSON text that starts with a calendar date (not a Unix time in a
    string) and has no digits past the microsecond that are not zero: the model and the
    log keep microseconds, and would drop the rest silently."""
    if value is None or isinstance(value, datetime):
        return value  # null, or (from Python, not JSON) a date-time
    if not isinstance(value, str):
        raise PydanticCustomError("datetime_type", "Input should be a timestamp as text")
    if not (_DATE.match(value) and value[10:11] in ("T", "t", " ")):
        raise PydanticCustomError(
            "datetime_parsing", "Input should be ISO 8601: YYYY-MM-DDTHH:MM:SS and a zone"
        )
    fraction = _FRACTION.search(value, 19)
    if fraction and fraction.group(1)[6:].strip("0"):
        raise PydanticCustomError(
            "datetime_parsing", "Input is finer than a microsecond (what the model keeps)"
        )
    return value


FLOAT32_MAX = 3.4028234663852886e38  # the graph takes numbers as float32


def _in_float32_range(value: float | None) -> float | None:
    """A number the graph's float32 input cannot hold would reach the model as infinity."""
    if value is not None and abs(value) > FLOAT32_MAX:
        raise ValueError("beyond the model's number type (float32: at most 3.4e38 either way)")
    return value


# Strict: JSON's own types only, no number from a string ("80"), no number from true, no
# date or time from an integer (a Unix time) or from a string of digits, no date from a
# date-time, no time finer than the microsecond.
_KINDS: dict[str, Any] = {
    "number": Annotated[
        float | None,
        Field(
            strict=True,
            allow_inf_nan=False,
            description="a finite number (float32: at most 3.4e38 either way), or null",
            json_schema_extra={"minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX},
        ),
        AfterValidator(_in_float32_range),
    ],
    "category": Annotated[
        str | None, Field(strict=True, max_length=1000, description="a category, or null")
    ],
    "text": Annotated[
        str | None, Field(strict=True, max_length=100_000, description="free text, or null")
    ],
    # Dates and times: text only, checked by the before-validators (a before-validator
    # hands pydantic a Python str, which strict mode would refuse to parse).
    "date": Annotated[
        date | None,
        Field(description="YYYY-MM-DD, or null"),
        BeforeValidator(_calendar_date),
    ],
    "timestamp": Annotated[
        AwareDatetime | None,
        Field(description="ISO 8601 with a zone, to the microsecond, or null"),
        BeforeValidator(_calendar_time),
        AfterValidator(_in_utc_range),
    ],
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def request_model(
    model: str, inputs: dict[str, str], optional: dict[str, str] | None = None
) -> type[BaseModel]:
    """Every input is required (null allowed: the model imputes it); unknown fields are
    refused. `optional`: fields only a shadow's challenger takes (weir.serve.shadow), which
    a caller may leave out."""
    fields: dict[str, Any] = {name: (_KINDS[kind], ...) for name, kind in inputs.items()}
    for name, kind in (optional or {}).items():
        description = (
            f"{_KINDS[kind].__metadata__[0].description}; optional: only the challenger "
            "answering in the shadow takes it (not the model that answers)"
        )
        fields[name] = (Annotated[_KINDS[kind], Field(description=description)], None)
    return create_model(f"{_title(model)}Row", __base__=_Strict, **fields)


def batch_model(model: str, row: type[BaseModel], limit: int) -> type[BaseModel]:
    rows = Annotated[
        list[row], Field(min_length=1, max_length=limit, description=f"1 to {limit} rows")  # type: ignore[valid-type]
    ]
    return create_model(f"{_title(model)}Batch", __base__=_Strict, rows=(rows, ...))


def response_model(model: str, task: str, batch: bool) -> type[BaseModel]:
    answer: dict[str, Any]
    if task == "classification":
        answer = {
            "label": (Any, ...),
            "probability": (
                float | None,
                Field(default=None, description="of the positive class (two classes)"),
            ),
            "probabilities": (
                dict[str, float] | None,
                Field(default=None, description="per class (more classes)"),
            ),
        }
    elif task == "regression":
        answer = {"prediction": (float, ...)}
    else:
        answer = {"cluster": (int, ...)}
    common: dict[str, Any] = {"model": (str, ...), "version": (int, ...), "request_id": (str, ...)}
    if not batch:
        return create_model(f"{_title(model)}Prediction", **common, **answer)
    item = create_model(f"{_title(model)}Answer", **answer)
    return create_model(f"{_title(model)}Predictions", **common, predictions=(list[item], ...))  # type: ignore[valid-type]


class _RepeatedKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKeyError(key)
            seen.add(key)
    return found


def repeated_key(
    body: bytes, fields: tuple[str, ...], rows: int = 1, optional: tuple[str, ...] = ()
) -> str | None:
    """What is wrong if an object of `body` (already validated against a model of
    `fields`) gives a key twice, or None. JSON parsers, pydantic's too, keep the last of two equal keys,
    so a field sent twice would be answered from one copy while whatever read the other
    (a proxy's filter, an audit of the body) saw another request.

    Found without parsing again when it cannot be there: a validated body's objects hold
    only `fields` (and `rows`), each row all of them, so with no escapes in the text a
    repeated key makes its quoted name appear more than `rows` times (once for `rows`).
    Otherwise (a name also sent as a value, an escape) the body is parsed again with
    every object's pairs checked. A field in `optional` (of `fields`) may be left out of
    some rows, so in a batch its count proves nothing: a body that names one is parsed."""
    if (
        b"\\" not in body
        and body.count(b'"rows"') <= 1
        and all(body.count(f'"{name}"'.encode()) <= rows for name in fields)
        and (rows == 1 or not any(f'"{name}"'.encode() in body for name in optional))
    ):
        return None
    try:
        json.loads(body, object_pairs_hook=_once)
    except _RepeatedKeyError as repeated:
        return f"{repeated.key[:100]!r} is given twice in one object"
    except (ValueError, RecursionError):  # read by pydantic, not by Python: refused all the same
        return "the body could not be checked for fields given twice"
    return None
