"""'Did you mean' suggestions, shared by config validation, the CLI and plugin lookups."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice to `word`, or None when nothing is close enough to help."""
    options = sorted(set(choices))
    lowered = {c.lower(): c for c in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


def suggestion_text(word: str, choices: Iterable[str]) -> str:
    """A sentence for an error message: 'did you mean X?' or the list of valid choices."""
    options = sorted(set(choices))
    best = did_you_mean(word, options)
    if best is not None:
        return f"did you mean '{best}'?"
    if not options:
        return "there are no choices defined yet"
    return "valid choices: " + ", ".join(options)
