"""Reading weir.yaml's YAML within limits: size, nesting depth, and what aliases expand to.

YAML anchors and aliases (`&defaults`, `*defaults`, `<<: *defaults`) are allowed, because
sharing settings between sources is a fair use of them. But an alias stands for a whole
subtree, and aliases of aliases multiply: a 1.5 KB "billion laughs" file stands for more
values than any machine holds, and everything that walks the loaded project (the ${ENV}
expansion, validation) walks every one. So the composed document is measured first, each
shared node counted once per use, with a memo so the measuring itself stays linear; a
document that stands for more than MAX_VALUES values is refused before it is loaded, naming
the line of the alias that weighs most. An alias inside its own anchor (a cycle) is refused
too. The file's size and nesting depth are capped, because PyYAML composes recursively.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000


@dataclass
class LimitError(Exception):
    """The YAML is beyond a limit; `line` is 1-based, None for the file as a whole."""

    message: str
    fix: str
    line: int | None = None


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting and remembers where each alias is used."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.aliases: list[tuple[yaml.Node, int]] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            line = self._next_line()
            node = super().compose_node(parent, index)
            if node is not None:
                self.aliases.append((node, line))
            return node
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LimitError(
                f"values are nested more than {MAX_DEPTH} levels deep",
                "flatten the structure; no Weir setting is nested that deep",
                self._next_line(),
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _next_line(self) -> int:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
        return event.start_mark.line + 1 if event.start_mark is not None else 0


def check_size(file: Path) -> None:
    """Refuse a project file too large to be one, before reading it."""
    size = file.stat().st_size
    if size > MAX_BYTES:
        raise LimitError(
            f"the file is {size:,} bytes; a project file may have at most {MAX_BYTES:,}",
            "check that this is the project file; move data out of it into files a source reads",
        )


def load_yaml(text: str, loader: type[yaml.SafeLoader]) -> tuple[yaml.Node | None, Any]:
    """(the composed document, its Python value), within the limits above.

    `loader` supplies the constructors (e.g. one that refuses duplicate keys); it is combined
    with the limits here. Raises LimitError, or yaml.MarkedYAMLError for bad syntax.
    """
    if len(text) > MAX_BYTES:
        raise LimitError(
            f"the text is {len(text):,} characters; a project file may have at most {MAX_BYTES:,}",
            "move data out of the project file into files a source reads",
        )
    limited = type("LimitedLoader", (_Loader, loader), {})
    reader = limited(text)
    try:
        root = reader.get_single_node()
        if root is None:
            return None, None
        _check_expansion(root, reader.aliases)
        return root, reader.construct_document(root)
    finally:
        reader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: yaml.Node, aliases: list[tuple[yaml.Node, int]]) -> None:
    """Count the values the document stands for, aliases expanded, without expanding them."""
    if not aliases:
        return  # without aliases the document is a tree, as small as its text
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    alias_lines = {id(node): line for node, line in reversed(aliases)}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[key] = min(total, MAX_VALUES + 1)  # saturate: the count stays small
            on_path.discard(key)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise LimitError(
                "an alias refers to the value that contains it, so it never ends",
                "remove the alias (*name) from inside its own anchor (&name)",
                alias_lines.get(key, node.start_mark.line + 1),
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    if sizes[id(root)] > MAX_VALUES:
        heaviest, line = max(aliases, key=lambda pair: sizes.get(id(pair[0]), 0))
        weight = sizes.get(id(heaviest), 0)
        alone = f"more than {MAX_VALUES:,}" if weight > MAX_VALUES else f"{weight:,}"
        raise LimitError(
            f"the aliases in this file expand to more than {MAX_VALUES:,} values; the one "
            f"used here alone stands for {alone}",
            "write the settings out, or use anchors (&name) and aliases (*name, <<: *name) "
            "only for a few shared settings, not aliases of aliases",
            line,
        )
