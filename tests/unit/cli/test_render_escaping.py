"""Text from data printed by the CLI: markup never read, controls never sent raw."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st
from rich.text import Text

from weir.cli.render import safe, visible


@given(st.text(max_size=60))
def test_safe_text_reads_back_as_the_visible_text_whatever_it_holds(value: str) -> None:
    # what the user sees is exactly the value, with controls spelled out: markup in it
    # (or a trailing backslash before our own closing tag) changes nothing
    assert Text.from_markup(f"[red]{safe(value)}[/]").plain == visible(value)


@given(st.text(max_size=60))
def test_visible_text_holds_no_control_or_invisible_format_character(value: str) -> None:
    shown = visible(value)
    assert not any(unicodedata.category(c) == "Cc" for c in shown)
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in shown)


def test_controls_are_spelled_out_and_messages_keep_their_lines() -> None:
    assert visible("a\x1b[2Jb\rc\x07\u202e") == "a\\x1b[2Jb\\rc\\x07\\u202e"
    assert visible("one\ntwo\tthree") == "one\\ntwo\\tthree"
    assert visible("one\ntwo\tthree", lines=True) == "one\ntwo\tthree"
    assert safe("[link=https://evil]x[/link]") == "\\[link=https://evil]x\\[/link]"


def test_backslashes_before_brackets_and_at_the_end_are_shown_as_written() -> None:
    # rich reads a backslash before any '[' as an escape, and one before our own closing tag
    # as escaping it: each is data here and must show as written
    for value in ["\\[", "x\\[y", "\\\\[", "a\\\\", "a\\", "\\[red]", "\\\\[red]x[/]", "[\\]"]:
        assert Text.from_markup(f"[red]{safe(value)}[/]").plain == value, value
        # whatever follows in the caller's markup: text, the end, or another tag
        assert Text.from_markup(f"{safe(value)} tail").plain == value + " tail", value
        assert Text.from_markup(f"{safe(value)}[dim]x[/dim]").plain == value + "x", value
        assert Text.from_markup(safe(value)).plain == value, value


@given(
    st.text(alphabet="\\[]/ared#@ x", max_size=14),
    st.sampled_from(["", " tail", "[dim]x[/dim]"]),
)
def test_markup_characters_read_back_exactly_before_anything(value: str, after: str) -> None:
    shown = Text.from_markup(f"{safe(value)}{after}").plain
    assert shown == visible(value) + Text.from_markup(after).plain
