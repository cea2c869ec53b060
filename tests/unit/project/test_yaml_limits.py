"""weir.yaml within limits: alias bombs, cycles, depth and size are refused with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.project import ProjectFileError, load_project
from weir.project.loader import parse_project_text
from weir.project.yaml_read import MAX_BYTES, MAX_DEPTH


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level is ten aliases of the one before (10**9 values at 9 levels)."""
    lines = [
        "name: t",
        'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def refused(text: str, tmp_path: Path) -> str:
    with pytest.raises(ProjectFileError) as caught:
        parse_project_text(text, tmp_path / "weir.yaml", {})
    return str(caught.value)


def test_a_billion_laughs_file_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    text = billion_laughs()
    assert len(text) < 1500
    message = refused(text, tmp_path)
    # the line of the first alias that alone is too heavy is named (*l4, 10**5 values)
    assert "weir.yaml:7:" in message and "stands for more than 100,000" in message
    assert "expand to more than 100,000 values" in message and "aliases of aliases" in message


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    message = refused("name: t\nloop: &a [1, *a]\n", tmp_path)
    assert "weir.yaml:2:" in message and "refers to the value that contains it" in message


def test_merge_keys_reach_the_sources(tmp_path: Path) -> None:
    text = """
name: t
sources:
  a: &api {kind: http, url: "https://api.example.com/a", retries: 2, timeout_seconds: 5}
  b:
    <<: *api
    url: https://api.example.com/b
    retries: 7
"""
    config = parse_project_text(text, tmp_path / "weir.yaml", {})
    a, b = config.sources["a"], config.sources["b"]
    assert (a.retries, b.retries, b.timeout_seconds) == (2, 7, 5)  # type: ignore[union-attr]
    assert b.url == "https://api.example.com/b"  # type: ignore[union-attr]
    # a key written twice in one mapping is still an error; a merged key is not
    message = refused(text.replace("    retries: 7", "    retries: 7\n    retries: 8"), tmp_path)
    assert "duplicate key 'retries'" in message
    # a problem in a merging mapping names the mapping's own line, not the anchor's
    message = refused(text.replace("    retries: 7", "    retries: -1"), tmp_path)
    assert "weir.yaml:8: sources.b.retries" in message


def test_deep_nesting_is_refused_with_its_line(tmp_path: Path) -> None:
    deep = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    message = refused(f"name: t\nx: {deep}\n", tmp_path)
    assert "weir.yaml:2:" in message and f"more than {MAX_DEPTH} levels" in message
    # far deeper than Python's recursion limit: still a refusal, not a RecursionError
    very = "[" * 50_000 + "]" * 50_000
    assert f"more than {MAX_DEPTH} levels" in refused(f"name: t\nx: {very}\n", tmp_path)


def test_an_oversized_project_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    (tmp_path / "weir.yaml").write_text("name: t\n# " + "x" * MAX_BYTES + "\n")
    with pytest.raises(ProjectFileError) as caught:
        load_project(tmp_path)
    assert "a project file may have at most 1,048,576" in str(caught.value)
