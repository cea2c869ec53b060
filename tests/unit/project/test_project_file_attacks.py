"""A hostile weir.yaml from a colleague: what merely validating it must survive.

Every case is refused as a problem of the file (with its place), never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.core.errors import ConfigError
from weir.project import load_project


def _problem(root: Path, text: str) -> str:
    (root / "weir.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    return str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "? [a, b]\n: 1\nname: x\n",  # a sequence as a key
        "? {a: 1}\n: 1\nname: x\n",  # a mapping as a key
        "name: x\nsources:\n  ? [s]\n  : {format: csv, path: a.csv}\n",
    ],
)
def test_a_key_that_is_not_a_plain_value_is_a_problem_of_the_file(
    tmp_path: Path, text: str
) -> None:
    message = _problem(tmp_path, text)
    assert "weir.yaml" in message and "key" in message


@pytest.mark.parametrize(
    ("key", "yaml"),
    [
        ("workspace", 'workspace: "ws\\0x"\n'),
        ("workspace", 'workspace: "ws\\nx"\n'),
        ("openlineage.file", 'openlineage: {file: "events\\0.ndjson"}\n'),
        ("sources.a.path", 'sources:\n  a: {format: csv, path: "data/a\\0.csv"}\n'),
        ("sources.a.path", 'sources:\n  a: {format: csv, path: "data/\\e[2Ja.csv"}\n'),
    ],
)
def test_a_path_with_control_characters_is_refused_with_its_key(
    tmp_path: Path, key: str, yaml: str
) -> None:
    message = _problem(tmp_path, "name: x\n" + yaml)
    assert key in message and "control character" in message, message
