"""Cache keys: a step is skipped when nothing that could change its output has changed.

key = hash(definition, code, settings, every input's content fingerprint)

Each part is hashed on its own and kept with the step run, so a later run can say *which*
part changed, not only that the key differs (Hamilton's design, with explanations).
Inputs enter by content fingerprint, not version number: an upstream step that re-runs and
makes the same rows does not force its dependents to re-run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weir.core.hashing import fingerprint, short

INPUT_PREFIX = "input:"


@dataclass(frozen=True)
class InputState:
    """What a step reads, as it is now: a content fingerprint and a label for people."""

    fingerprint: str
    label: str = ""


@dataclass(frozen=True)
class CacheKey:
    digest: str
    parts: Mapping[str, str]
    labels: Mapping[str, str]

    def as_record(self) -> dict[str, Any]:
        return {"parts": dict(self.parts), "labels": dict(self.labels)}


def cache_key(
    *,
    definition: Mapping[str, Any],
    code: str,
    settings: Mapping[str, Any],
    inputs: Mapping[str, InputState],
) -> CacheKey:
    parts = {
        "definition": fingerprint(definition),
        "code": fingerprint(code),
        "settings": fingerprint(settings),
    }
    for name, state in inputs.items():
        parts[INPUT_PREFIX + name] = state.fingerprint
    labels = {INPUT_PREFIX + name: state.label for name, state in inputs.items() if state.label}
    return CacheKey(digest=fingerprint(parts), parts=parts, labels=labels)


def explain_change(previous: Mapping[str, Any], current: CacheKey) -> list[str]:
    """Why `current` differs from a previous key record (as made by CacheKey.as_record)."""
    old_parts: Mapping[str, str] = previous.get("parts", {})
    old_labels: Mapping[str, str] = previous.get("labels", {})
    reasons: list[str] = []
    for part in ("definition", "code", "settings"):
        if old_parts.get(part) != current.parts[part]:
            reasons.append(f"{part} changed")
    for part, value in current.parts.items():
        if not part.startswith(INPUT_PREFIX):
            continue
        name = part.removeprefix(INPUT_PREFIX)
        if part not in old_parts:
            reasons.append(f"new input {name}")
        elif old_parts[part] != value:
            before = old_labels.get(part) or short(old_parts[part])
            after = current.labels.get(part) or short(value)
            reasons.append(f"input {name} changed ({before} -> {after})")
    for part in old_parts:
        if part.startswith(INPUT_PREFIX) and part not in current.parts:
            reasons.append(f"input {part.removeprefix(INPUT_PREFIX)} removed")
    return reasons
