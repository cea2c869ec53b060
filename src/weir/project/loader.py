"""Loading weir.yaml: YAML → ${ENV} expansion → pydantic, with errors a person can act on.

Every problem is reported at once (not one per attempt), each with the file, the line, the
key path (e.g. `sources.transactions.path`) and a fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ValidationError

from weir.core.errors import ConfigError
from weir.core.secrets import LONG, Secrets
from weir.core.suggest import suggestion_text
from weir.project.model import ProjectConfig
from weir.project.sources import SOURCE_KINDS, SourceSettings, settings_model
from weir.project.yaml_read import LimitError, check_size, load_yaml

PROJECT_FILE = "weir.yaml"
_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the project file."""

    path: str
    message: str
    fix: str | None = None
    line: int | None = None

    def render(self, file: Path) -> str:
        where = f"{file}:{self.line}" if self.line else str(file)
        text = f"{where}: {self.path or '<root>'}: {self.message}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class ProjectFileError(ConfigError):
    """The project file has one or more problems; all are listed."""

    def __init__(self, file: Path, problems: Sequence[Problem]) -> None:
        self.file = file
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{file}: {count} problem{'s' if count != 1 else ''}"
        body = "\n".join("  " + p.render(file) for p in self.problems)
        super().__init__(f"{head}\n{body}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of letting the last one win."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *defaults`: merged keys may be overridden, that is its point
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "a key must be a plain value, not a list or mapping",
                key_node.start_mark,
            )
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key '{key}' (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def expand_env(
    value: Any, env: Mapping[str, str], path: str = "", used: dict[str, str] | None = None
) -> tuple[Any, list[Problem]]:
    """Replace ${VAR} and ${VAR:-default} in every string; `$$` stands for a literal `$`.
    `used`, when given, gains each variable's value -> name.

    In a URL (a key named `url` or ending in `_url`/`_uri` whose text starts with
    `scheme://`) each value is percent-encoded for the part of the URL it stands in, so a
    password with `@`, `/`, `#` or `%` stays one password rather than re-shaping the URL
    (and showing half of itself as a host or path in every message).
    """
    problems: list[Problem] = []

    def value_of(match: re.Match[str], where: str) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            if used is not None:
                used[env[name]] = name
            return env[name]
        if default is not None:
            return default
        problems.append(
            Problem(
                where,
                f"environment variable {name} is not set",
                fix=f"export {name}=... before running weir, or write ${{{name}:-default}}",
            )
        )
        return ""

    def expand_text(text: str, where: str) -> str:
        key = where.rsplit(".", 1)[-1]
        if _URL_TEMPLATE.match(text) and (key in ("url", "uri") or key.endswith(("_url", "_uri"))):
            return expand_url(text, lambda m: value_of(m, where))
        return _ENV.sub(lambda m: value_of(m, where), text)

    def walk(node: Any, where: str) -> Any:
        if isinstance(node, str):
            return expand_text(node, where)
        if isinstance(node, dict):
            return {k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{where}.{i}") for i, v in enumerate(node)]
        return node

    return walk(value, path), problems


_URL_TEMPLATE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_PATH_SAFE = "/:@!$&'()*+,;=~"


def expand_url(template: str, value_of: Callable[[re.Match[str]], str]) -> str:
    """Expand a URL template, each value percent-encoded for the part it stands in.

    The user and password take any character (a variable that is the whole user info, with
    no literal ':' beside it, may hold `user:password`); a query value takes any character;
    a path keeps its slashes. A variable in the host or port, or one that stands for query
    names, is put in as it is: it holds URL syntax, not a value.
    """
    values: list[str] = []

    def mark(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        values.append(value_of(match))
        return f"\x00{len(values) - 1}\x00"

    marked = _ENV.sub(mark, template)
    netloc_start = marked.index("://") + 3
    netloc_end = _first(marked, "/?#", netloc_start)
    at = marked.rfind("@", netloc_start, netloc_end)
    query_start = _first(marked, "?#", netloc_end)
    fragment_start = _first(marked, "#", netloc_end)
    userinfo = marked[netloc_start:at] if at >= 0 else ""
    whole_userinfo = ":" not in _MARK.sub("", userinfo)

    def encode(match: re.Match[str]) -> str:
        value, where = values[int(match.group(1))], match.start()
        if where < netloc_end:
            if where < at:
                return quote(value, safe=":" if whole_userinfo else "")
            return value
        if where < query_start or where > fragment_start:
            return quote(value, safe=_PATH_SAFE)
        pair_start = max(marked.rfind(c, query_start, where) for c in "?&;")
        return quote(value, safe="") if "=" in marked[pair_start:where] else value

    return _MARK.sub(encode, marked)


_MARK = re.compile("\x00(\\d+)\x00")


def _first(text: str, chars: str, start: int) -> int:
    """The index of the first of `chars` in `text` from `start` (len(text) if none)."""
    found = [i for c in chars if (i := text.find(c, start)) >= 0]
    return min(found, default=len(text))


def _line_of(root: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """The 1-based line of the deepest node on `loc` that exists in the YAML tree."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            # the last match: keys merged in by `<<:` come first, the mapping's own after
            found = [(k, v) for k, v in node.value if k.value == str(part)]
            if not found:
                return line
            key_node, node = found[-1]
            line = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _fields_at(model: type[BaseModel], loc: Sequence[str | int], data: Any) -> list[str] | None:
    """The keys allowed at `loc` (the parent of an unknown key), for 'did you mean'. `data`
    is the file's content: a source's model is the one its `kind` names there."""
    current: Any = model
    for part in loc:
        current = _child_type(current, part)
        data = _item(data, part)
        if current is None:
            return None
    current = _strip(current)
    if current is SourceSettings:
        current = settings_model(data)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def _item(data: Any, part: str | int) -> Any:
    if isinstance(data, dict):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and part < len(data):
        return data[part]
    return None


def _strip(tp: Any) -> Any:
    """Remove Annotated[...] and Optional[...] wrappers."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, UnionType) and type(None) in get_args(tp):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _child_type(tp: Any, part: str | int) -> Any:
    """The type found under key or index `part` of a value of type `tp`."""
    tp = _strip(tp)
    origin = get_origin(tp)
    if origin is dict:
        return get_args(tp)[1]
    if origin is list:
        return get_args(tp)[0]
    if origin in (Union, UnionType):
        # A discriminated union: pydantic puts the tag (e.g. 'not_null') in the location.
        for member in get_args(tp):
            member = _strip(member)
            fields = getattr(member, "model_fields", {})
            tag = fields.get("rule") or fields.get("kind")
            if tag is not None and part in get_args(tag.annotation):
                return member
        return None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(str(part))
        return field.annotation if field is not None else None
    return None


def _problems_from(error: ValidationError, root: yaml.Node | None, data: Any) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = list(item["loc"])
        path = ".".join(str(p) for p in loc)
        line = _line_of(root, loc)
        kind = item["type"]
        if kind == "extra_forbidden":
            allowed = _fields_at(ProjectConfig, loc[:-1], data) or []
            problems.append(
                Problem(
                    path, f"unknown key '{loc[-1]}'", suggestion_text(str(loc[-1]), allowed), line
                )
            )
        elif kind == "missing":
            problems.append(Problem(path, "required key is missing", f"add '{loc[-1]}'", line))
        elif kind == "source_kind":
            tag = str(item.get("ctx", {}).get("kind", ""))
            problems.append(
                Problem(
                    path,
                    f"unknown source kind '{tag}'",
                    suggestion_text(tag, SOURCE_KINDS.names()),
                    line,
                )
            )
        elif kind == "union_tag_invalid":
            tag = (
                str(item.get("input", {}).get("rule", ""))
                if isinstance(item.get("input"), dict)
                else ""
            )
            expected = str(item.get("ctx", {}).get("expected_tags", ""))
            choices = [t.strip(" '") for t in expected.split(",")]
            problems.append(
                Problem(path, f"unknown check rule '{tag}'", suggestion_text(tag, choices), line)
            )
        elif kind == "union_tag_not_found":
            problems.append(
                Problem(path, "a check needs a 'rule' key", "add e.g. 'rule: not_null'", line)
            )
        elif kind == "literal_error":
            expected = str(item.get("ctx", {}).get("expected", ""))
            choices = [t.strip(" '") for t in expected.replace(" or ", ",").split(",") if t.strip()]
            given = str(item.get("input"))
            problems.append(
                Problem(path, f"'{given}' is not allowed", suggestion_text(given, choices), line)
            )
        else:
            message = item["msg"].removeprefix("Value error, ")
            problems.append(Problem(path, message, None, line))
    return problems


def read_project_text(file: Path) -> str:
    """The project file's text; a file too large to be one is refused before it is read."""
    try:
        check_size(file)
    except LimitError as exc:
        raise ProjectFileError(file, [Problem("", exc.message, exc.fix)]) from None
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectFileError(
            file, [Problem("", f"not UTF-8 text (byte {exc.start})", "save the file as UTF-8")]
        ) from None


def parse_project_text(
    text: str, file: Path, env: Mapping[str, str] | None = None
) -> ProjectConfig:
    """Parse and validate project-file text; raise ProjectFileError listing every problem."""
    env = os.environ if env is None else env
    try:
        root, raw = load_yaml(text, _UniqueKeyLoader)
    except LimitError as exc:
        raise ProjectFileError(file, [Problem("", exc.message, exc.fix, exc.line)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ProjectFileError(
            file, [Problem("", f"not valid YAML: {exc.problem}", "fix the YAML syntax", line)]
        ) from None
    if raw is None:
        raise ProjectFileError(
            file, [Problem("", "the file is empty", "run 'weir init' for a template")]
        )
    if not isinstance(raw, dict):
        raise ProjectFileError(
            file, [Problem("", "the top level must be a mapping of keys", None, 1)]
        )
    used: dict[str, str] = {}
    expanded, problems = expand_env(raw, env, used=used)
    for problem in problems:
        object.__setattr__(problem, "line", _line_of(root, problem.path.split(".")))
    try:
        config = ProjectConfig.model_validate(expanded)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, root, expanded))
        raise ProjectFileError(file, _without_env(problems, used)) from None
    if problems:
        raise ProjectFileError(file, _without_env(problems, used))
    return config


def _without_env(problems: list[Problem], used: Mapping[str, str]) -> list[Problem]:
    """The problems with every value taken from the environment shown as `${NAME}`.

    Validation quotes what it refuses ('...' is not allowed, ... is not an origin), and the
    file is not valid yet, so which values are secrets cannot be told from their place: any
    of them may be. Values under four characters are left (hiding every '1' would garble
    the message); a URL's password is hidden by its place wherever a message is shown.
    """
    forms = sorted(
        ((form, f"${{{name}}}") for value, name in used.items() for form in _forms_of(value)),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )

    def hide(text: str | None) -> str | None:
        if text is None:
            return None
        for form, shown in forms:
            text = text.replace(form, shown)
        return text

    return [Problem(p.path, hide(p.message) or "", hide(p.fix), p.line) for p in problems]


def _forms_of(value: str) -> set[str]:
    return {f for f in Secrets.of([value]).forms() if len(f) >= LONG}
