"""Data is shown as data: rich markup and terminal control sequences in values, column
names, docs, errors and check details are printed visibly, never obeyed by the terminal.

The commands run with colours forced on, as on a terminal, so rich would turn
`[link=...]` into an OSC 8 hyperlink if it took the value for markup.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

LINK = "[link=https://evil.example]x[/link]"
BOLD = "[bold red]alarm"
OSC8 = "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07"
CLEAR = "\x1b[2J"
VALUES = [LINK, BOLD, OSC8, CLEAR, "over\rwrite", "back\bspace", "rtl\u202egnp.exe"]
RAW_CONTROLS = ("\x1b]8;", "\x1b[2J", "\x07", "\r", "\x08", "\u202e")

STEP = """
import pyarrow as pa


def explode(items: pa.Table) -> pa.Table:
    raise RuntimeError("bad value [link=https://evil.example]boom[/link] \\x1b[2J here")
"""


def weir_tty(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """weir with colours forced on, as a terminal would have them."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env |= {"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "400"}
    return subprocess.run(
        [sys.executable, "-m", "weir", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("escaping")
    lines = ["id,name,[bold]note[/bold]"]
    for number, value in enumerate(VALUES, start=1):
        quoted = '"' + value.replace('"', '""') + '"'
        lines.append(f"{number},{quoted},{quoted}")
    (root / "items.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "steps").mkdir()
    (root / "steps" / "explode.py").write_text(STEP)
    config = {
        "name": "t",
        "sources": {
            "items": {
                "path": "items.csv",
                "format": "csv",
                "description": f"docs {LINK} {CLEAR}",
                "owner": BOLD,
                "column_descriptions": {"name": f"the {LINK}"},
            }
        },
        "checks": {
            "items": [
                {"rule": "accepted_values", "column": "name", "values": ["a"], "severity": "warn"}
            ]
        },
        "steps": {"boom": {"function": "steps/explode.py:explode", "inputs": ["items"]}},
    }
    (root / "weir.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run = weir_tty("run", cwd=root)
    assert run.returncode == 1, run.stdout + run.stderr  # the Python step fails, on purpose
    return root


def assert_shown_not_obeyed(text: str) -> None:
    for control in RAW_CONTROLS:  # an OSC 8 link (rich's or the data's), clear screen, ...
        assert control not in text, (control, text)
    assert "\x1b[1;31malarm" not in text  # '[bold red]alarm' was not taken for markup


@pytest.mark.parametrize(
    ("command", "literal"),
    [
        (["show", "items"], LINK),
        (["profile", "items"], "[bold]note[/bold]"),
        (["describe", "items"], f"docs {LINK}"),
        (["catalog"], BOLD),
        (["tables"], f"docs {LINK}"),
        (["runs", "1"], "[link=https://evil.example]boom[/link]"),
        (["checks"], "accepted_values"),
        (["lineage", "items.[bold]note[/bold]"], "items.[bold]note[/bold]"),
    ],
)
def test_commands_print_data_visibly(project: Path, command: list[str], literal: str) -> None:
    result = weir_tty(*command, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_shown_not_obeyed(result.stdout + result.stderr)
    assert literal in result.stdout


def test_show_prints_each_value_as_written_with_controls_as_escapes(project: Path) -> None:
    out = weir_tty("show", "items", cwd=project).stdout
    assert LINK in out and BOLD in out and "[bold]note[/bold]" in out
    assert "\\x1b]8;;http://evil.example\\x07click" in out and "\\x1b[2J" in out
    assert "over\\rwrite" in out and "back\\x08space" in out and "rtl\\u202egnp.exe" in out


def test_the_run_prints_an_error_with_markup_and_escapes_visibly(project: Path) -> None:
    result = weir_tty("run", cwd=project)
    assert "[link=https://evil.example]boom[/link]" in result.stdout
    assert "\\x1b[2J" in result.stdout
    assert_shown_not_obeyed(result.stdout + result.stderr)
