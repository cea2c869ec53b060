"""Names an outsider chooses, printed by `weir run --explain`.

A glob source reads whatever files are dropped into its directory, and the cache key names
each file (`input:file data/in/NAME`), with its size as a label. `--explain` printed those
parts as markup and with their control characters: a file named with `[link=...]` became a
clickable link, one with ESC sequences cleared the screen.
"""

from __future__ import annotations

from rich.text import Text

from weir.cli.render import step_line
from weir.dag import Step
from weir.dag.cache import CacheKey
from weir.dag.runner import StepReport

NAME = "data/in/a[link=https://evil.example]b[/link]\x1b[2J\u202ec.csv"


def test_explain_shows_file_names_in_key_parts_as_text() -> None:
    part = f"input:file {NAME}"
    key = CacheKey(digest="d" * 64, parts={part: "e" * 64}, labels={part: "12 bytes [bold]"})
    report = StepReport(
        Step(name="source:in", kind="source", target="in"), "succeeded", "first run", key=key
    )
    line = Text.from_markup(step_line(report, explain=True))
    assert "a[link=https://evil.example]b[/link]\\x1b[2J\\u202ec.csv" in line.plain
    assert "12 bytes [bold]" in line.plain
    assert "\x1b" not in line.plain and "\u202e" not in line.plain
    assert not [span for span in line.spans if "link" in str(span.style)]
