"""Column names as a source delivers them, made safe to store by a declared rule.

A name is never changed silently: the rule is declared per source, and any two names that
the rule makes equal (or that are equal already, or empty) refuse the load, because picking
one of them would lose the other's data without anyone noticing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

from weir.core.errors import SourceRefusedError
from weir.engines.split import RESERVED_PREFIX

NameRule = Literal["keep", "snake_case", "lower"]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[^0-9a-zA-Z]+")


def normalise(name: str, rule: NameRule) -> str:
    """'Order ID' -> 'order_id', 'customerId' -> 'customer_id', 'Prix (€)' -> 'prix'."""
    if rule == "keep":
        return name
    if rule == "lower":
        return name.strip().lower()
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = _NOT_WORD.sub("_", _CAMEL.sub("_", ascii_name.strip())).strip("_").lower()
    if words and words[0].isdigit():
        words = "_" + words
    return words


def check_names(names: Sequence[str], rule: NameRule, source: str, where: str) -> list[str]:
    """The stored names for `names`, or a SourceRefusedError naming every empty, duplicate or colliding
    name and the fix; `where` says where the names came from (a file's header, a query)."""
    stored = [normalise(n, rule) for n in names]
    problems: list[str] = []
    for position, (raw, name) in enumerate(zip(names, stored, strict=True), start=1):
        if not raw.strip() or not name:
            problems.append(f"column {position} has an empty name" + (f" ('{raw}')" if raw else ""))
    for raw, name in zip(names, stored, strict=True):
        if name.lower().startswith(RESERVED_PREFIX):
            problems.append(
                f"column '{raw}' starts with '{RESERVED_PREFIX}', which Weir reserves for "
                "its own columns"
            )
    seen: dict[str, list[str]] = {}
    for raw, name in zip(names, stored, strict=True):
        if name:
            seen.setdefault(name.lower(), []).append(raw)
    for group in seen.values():
        if len(group) > 1:
            shown = ", ".join(f"'{g}'" for g in group)
            problems.append(
                f"columns {shown} have the same name"
                + ("" if rule == "keep" else f" under {rule}")
                + (" (names that differ only by case collide)" if len(set(group)) > 1 else "")
            )
    if problems:
        raise SourceRefusedError(
            source,
            f"{where}: {'; '.join(problems)}; nothing was committed",
            fix="rename the columns at the source so that every name is distinct and not empty "
            f"(names are compared after sources.{source}.normalise_names, ignoring case)",
        )
    return stored
