"""What a 422 may repeat of the request: the first errors, each input cut short.

A refused request's error names each bad field and shows what was sent there, which helps
a caller fix it. It must not grow with the request: a batch of a thousand bad rows, or one
huge value, would otherwise come back whole (a 48 MB body once made a 48 MB answer).
"""

from __future__ import annotations

import math
from typing import Any

SHOWN_ERRORS = 20  # errors listed; the rest are counted
SHOWN_CHARACTERS = 100  # of a text input
SHOWN_BYTES = 200  # of any other input, as JSON


def public_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first SHOWN_ERRORS errors with their inputs and the names in their places cut
    short (and NaN or Infinity as text), then one entry saying how many more there were."""
    shown = [_with_short_input(error) for error in errors[:SHOWN_ERRORS]]
    if len(errors) > SHOWN_ERRORS:
        shown.append(
            {
                "type": "more_errors",
                "loc": ["body"],
                "msg": f"{len(errors) - SHOWN_ERRORS} more errors not listed: fix these first",
            }
        )
    return shown


def _with_short_input(error: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in error.items() if k != "input"}
    if "input" in error:
        shown["input"] = short(error["input"])
    if "loc" in error:  # an unknown field's name is the caller's text too
        shown["loc"] = [short(part) if isinstance(part, str) else part for part in error["loc"]]
    return shown


def short(value: Any) -> Any:
    """`value` if it is small; otherwise text saying what it was, with its beginning. Never
    walks more of `value` than it could show."""
    if isinstance(value, str):
        if len(value) <= SHOWN_CHARACTERS:
            return value
        return f"{value[:SHOWN_CHARACTERS]}... ({len(value):,} characters, cut)"
    if isinstance(value, (dict, list)):
        budget = [SHOWN_BYTES]
        copied = _bounded(value, budget)
        if budget[0] >= 0:
            return copied
        kind = "an object" if isinstance(value, dict) else f"a list of {len(value):,} items"
        return f"{kind}, too large to repeat"
    return _finite(value)


def _bounded(value: Any, budget: list[int]) -> Any:
    """A JSON-safe copy of `value` (NaN and Infinity as text), charging each part's
    length to `budget`; stops as soon as the budget is spent (budget < 0)."""
    if budget[0] < 0:
        return None
    if isinstance(value, dict):
        budget[0] -= 2
        copied = {}
        for key, item in value.items():
            budget[0] -= len(str(key)) + 4
            copied[str(key)] = _bounded(item, budget)
            if budget[0] < 0:
                return None
        return copied
    if isinstance(value, list):
        budget[0] -= 2
        items = []
        for item in value:
            items.append(_bounded(item, budget))
            if budget[0] < 0:
                return None
        return items
    finite = _finite(value)
    budget[0] -= len(str(finite)) + 2
    return finite


def _finite(value: Any) -> Any:
    """NaN and Infinity as text; an integer too long to show, described (JSON numbers may
    have thousands of digits)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and value.bit_length() > _LONGEST_INTEGER_BITS:
        return f"an integer of about {value.bit_length() * math.log10(2):,.0f} digits, cut"
    return value


_LONGEST_INTEGER_BITS = 128  # 39 digits, beyond any int64 or UUID
