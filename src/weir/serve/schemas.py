"""Request and response models generated from the model's serving spec, so the OpenAPI
document shows the real fields and bad requests are refused with the field's name."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, create_model


def _in_utc_range(value: datetime | None) -> datetime | None:
    """A time whose UTC moment leaves years 1 to 9999 (0001-01-01T00:00+01:00) cannot be
    computed with, nor logged: refused with a 422 instead of failing as a 500."""
    if value is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("in UTC this time falls outside years 1 to 9999") from None
    return value


_KINDS: dict[str, Any] = {
    "number": Annotated[
        float | None, Field(allow_inf_nan=False, description="a finite number, or null")
    ],
    "category": Annotated[str | None, Field(max_length=1000, description="a category, or null")],
    "text": Annotated[str | None, Field(max_length=100_000, description="free text, or null")],
    "date": Annotated[date | None, Field(description="YYYY-MM-DD, or null")],
    "timestamp": Annotated[
        AwareDatetime | None,
        AfterValidator(_in_utc_range),
        Field(description="ISO 8601 with a zone, or null"),
    ],
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def request_model(model: str, inputs: dict[str, str]) -> type[BaseModel]:
    """Every input is required (null allowed: the model imputes it); unknown fields are refused."""
    fields: dict[str, Any] = {name: (_KINDS[kind], ...) for name, kind in inputs.items()}
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
