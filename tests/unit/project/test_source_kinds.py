"""Source kinds are a registry: a connector module brings its kind's settings model, and
weir.yaml, its errors and its JSON schema know the kind (here: append_log, weir.ingest's)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from weir.project import ProjectConfig, ProjectFileError, load_project, parse_project_text
from weir.project.sources import SOURCE_KINDS, FileSource

FILE = Path("weir.yaml")
LOG = """\
name: p
sources:
  events:
    kind: append_log
    path: logs/app.log
    columns: {id: int64}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ProjectFileError) as info:
        parse_project_text(text, FILE, {})
    return [p.render(FILE) for p in info.value.problems]


def test_a_kind_a_connector_registered_is_read_by_its_own_model() -> None:
    source = parse_project_text(LOG, FILE, {}).sources["events"]
    assert type(source).__name__ == "AppendLogSource" and source.kind == "append_log"
    assert SOURCE_KINDS.get("append_log") is type(source)
    assert source.local_paths() == {"path": "logs/app.log"}


def test_a_source_without_kind_is_still_a_file_source() -> None:
    text = "name: p\nsources:\n  o:\n    format: csv\n    path: a.csv\n"
    assert isinstance(parse_project_text(text, FILE, {}).sources["o"], FileSource)


def test_an_unknown_kind_suggests_among_every_registered_kind() -> None:
    [message] = problems(LOG.replace("append_log", "append_lg"))
    assert message.startswith("weir.yaml:3: sources.events: unknown source kind 'append_lg'")
    assert "did you mean 'append_log'?" in message


def test_the_errors_of_a_registered_kind_name_the_key_line_and_suggest() -> None:
    found = problems(LOG.replace("    path:", "    pth:"))
    assert "weir.yaml:5: sources.events.pth: unknown key 'pth'" in found[1]
    assert "did you mean 'path'?" in found[1]
    assert found[0].startswith("weir.yaml:3: sources.events.path: required key is missing")
    [glob] = problems(LOG.replace("logs/app.log", "logs/*.log"))
    assert "sources.events.path: names one file" in glob


def test_a_registered_kinds_path_cannot_leave_the_project(tmp_path: Path) -> None:
    (tmp_path / "weir.yaml").write_text(LOG.replace("logs/app.log", "../app.log"))
    with pytest.raises(
        ProjectFileError, match=re.escape("sources.events.path: '../app.log' leaves")
    ):
        load_project(tmp_path)


def test_the_json_schema_of_weir_yaml_lists_every_registered_kind() -> None:
    kinds = ProjectConfig.model_json_schema()["properties"]["sources"]["additionalProperties"]
    consts = {member["properties"]["kind"]["const"] for member in kinds["oneOf"]}
    assert consts == {"file", "sql", "http", "append_log"} == set(SOURCE_KINDS.names())


def test_a_fresh_interpreter_imports_the_connectors_only_for_a_kind_it_does_not_hold(
    tmp_path: Path,
) -> None:
    """The registration happens before the project file is read, whoever reads it first:
    weir.project imports the connectors (declared by weir/__init__.py) on a kind it lacks."""
    (tmp_path / "only_files.yaml").write_text(
        "name: p\nsources:\n  o:\n    format: csv\n    path: a.csv\n"
    )
    (tmp_path / "log.yaml").write_text(LOG)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from weir.project import parse_project_text as parse\n"
        "parse(Path('only_files.yaml').read_text(), Path('only_files.yaml'), {})\n"
        "print('weir.ingest' in sys.modules)\n"
        "config = parse(Path('log.yaml').read_text(), Path('log.yaml'), {})\n"
        "print(type(config.sources['events']).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "AppendLogSource"]
