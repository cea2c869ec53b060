"""The `-- weir:` block at the top of a SQL model: its docs, next to its SQL.

    -- weir:
    --   description: One row per customer with what features need.
    --   owner: data-team@example.com
    --   tags: [customers, features]
    --   column_descriptions:
    --     country: ISO 3166 code, upper case

The block is YAML in comment lines indented under `-- weir:`; it ends at the first line that
is not such a line (code, or an ordinary comment like `-- what this model does`).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import yaml
from pydantic import ValidationError

from weir.project.loader import Problem
from weir.project.model import ModelConfig

_START = re.compile(r"^\s*--\s*weir:\s*$")


def header_block(text: str) -> tuple[str, int] | None:
    """The YAML of a leading `-- weir:` block and the line it starts on, if there is one."""
    lines = text.splitlines()
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index == len(lines) or not _START.match(lines[index]):
        return None
    start = index + 1
    body = []
    for line in lines[start:]:
        stripped = line.lstrip()
        content = stripped[2:]
        if not stripped.startswith("--") or (content.strip() and not content.startswith("  ")):
            break
        body.append(content)
    return textwrap.dedent("\n".join(body)), start + 1


def model_docs(text: str, display_path: str) -> tuple[ModelConfig | None, list[Problem]]:
    """The header's settings as a ModelConfig, or the problems that stop it."""
    found = header_block(text)
    if found is None:
        return None, []
    block, line = found
    try:
        raw: Any = yaml.safe_load(block) if block.strip() else {}
    except yaml.YAMLError as exc:
        return None, [
            Problem(
                f"{display_path}:{line} (-- weir: block)",
                f"not valid YAML: {exc}",
                "indent the block under '-- weir:'",
            )
        ]
    if not isinstance(raw, dict):
        return None, [
            Problem(
                f"{display_path}:{line} (-- weir: block)",
                "must be a mapping of keys",
                "e.g. '--   description: ...'",
            )
        ]
    try:
        return ModelConfig.model_validate(raw), []
    except ValidationError as exc:
        return None, [
            Problem(
                f"{display_path}:{line} (-- weir: block) " + ".".join(str(p) for p in error["loc"]),
                error["msg"].removeprefix("Value error, "),
                "keys: description, owner, tags, column_descriptions, column_classes, materialized, incremental",
            )
            for error in exc.errors(include_url=False)
        ]


def merge_docs(
    from_file: ModelConfig | None, from_project: ModelConfig | None, name: str
) -> tuple[ModelConfig, list[Problem]]:
    """One ModelConfig from both places; a key set in both is a problem, not a silent choice."""
    if from_file is None or from_project is None:
        return from_file or from_project or ModelConfig(), []
    file_keys = from_file.model_dump(exclude_defaults=True)
    project_keys = from_project.model_dump(exclude_defaults=True)
    both = sorted(set(file_keys) & set(project_keys))
    if both:
        return from_project, [
            Problem(
                f"models.{name}",
                f"{', '.join(both)} set both here and in sql/{name}.sql's -- weir: block",
                "keep each setting in one place",
            )
        ]
    return ModelConfig.model_validate({**project_keys, **file_keys}), []
