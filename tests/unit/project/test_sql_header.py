from __future__ import annotations

from pathlib import Path

import pytest

from weir.project import ProjectFileError, load_project
from weir.project.sql_header import header_block, model_docs

HEADER = """\

-- weir:
--   description: One row per customer.
--   owner: data-team@example.com
--   tags: [customers, features]
--   column_descriptions:
--     country: ISO 3166 code
SELECT 1 AS country
"""


def test_the_block_is_yaml_in_leading_comment_lines() -> None:
    found = header_block(HEADER)
    assert found is not None and found[1] == 3
    docs, problems = model_docs(HEADER, "sql/m.sql")
    assert problems == [] and docs is not None
    assert docs.docs() == {
        "description": "One row per customer.",
        "owner": "data-team@example.com",
        "tags": ["customers", "features"],
        "columns": {"country": "ISO 3166 code"},
        "classes": {},
    }


def test_an_ordinary_comment_after_the_block_ends_it() -> None:
    text = "-- weir:\n--   owner: a\n-- What this model does: it counts.\nSELECT 1"
    docs, problems = model_docs(text, "sql/m.sql")
    assert problems == [] and docs is not None and docs.owner == "a"


def test_no_block_and_ordinary_comments_are_left_alone() -> None:
    assert header_block("-- just a comment\nSELECT 1") is None
    assert model_docs("SELECT 1", "sql/m.sql") == (None, [])


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("--   owner: [unclosed", "not valid YAML"),
        ("--   - a list", "mapping"),
        ("--   ownr: x", "ownr"),
    ],
)
def test_bad_blocks_name_the_file_and_line(block: str, message: str) -> None:
    _, problems = model_docs(f"-- weir:\n{block}\nSELECT 1", "sql/m.sql")
    assert (
        problems
        and problems[0].path.startswith("sql/m.sql:2 ")
        and message in problems[0].message + problems[0].path
    )


def test_settings_merge_with_weir_yaml_but_never_twice(tmp_path: Path) -> None:
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "m.sql").write_text(
        "-- weir:\n--   description: from the file\nSELECT 1 AS x"
    )
    (tmp_path / "weir.yaml").write_text("name: p\nmodels:\n  m: {owner: team-a}\n")
    project = load_project(tmp_path)
    assert (
        project.docs("m")["description"] == "from the file"
        and project.docs("m")["owner"] == "team-a"
    )
    (tmp_path / "weir.yaml").write_text("name: p\nmodels:\n  m: {description: from yaml}\n")
    with pytest.raises(ProjectFileError, match=r"description set both here and in sql/m\.sql"):
        load_project(tmp_path)
