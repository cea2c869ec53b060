"""Name → implementation registries (algorithms, check rules, source formats).

A plain dict with a helpful miss: an unknown name raises ConfigError with a suggestion.

A registry may be filled from a higher layer than its own: the project file's source kinds
are registered in weir.project, and a connector in weir.ingest brings its own kind's
settings. The lower layer must not import the higher one, yet must know every kind before
it reads a project file. So a registry can name a `group`, and the package above every
layer (weir/__init__.py, the distribution's composition) declares which modules fill that
group (`provide`), much as an entry point in pyproject would. The registry imports them the
first time it is asked for a name it does not hold, or for all its names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from weir.core.errors import ConfigError
from weir.core.suggest import suggestion_text

T = TypeVar("T")

_PROVIDERS: dict[str, list[str]] = {}


def provide(group: str, module: str) -> None:
    """Declare that importing `module` fills the registries of `group`."""
    _PROVIDERS.setdefault(group, []).append(module)


class Registry(Generic[T]):
    """Named implementations of one kind of thing; `group`: see the module docstring."""

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`."""

        def decorate(item: T) -> T:
            return self.add(name, item)

        return decorate

    def get(self, name: str) -> T:
        if name not in self:
            raise ConfigError(
                f"unknown {self.kind} '{name}'",
                fix=suggestion_text(name, self.names()),
            )
        return self._items[name]

    def find(self, name: str) -> T | None:
        """The item registered as `name`, or None."""
        return self._items[name] if name in self else None

    def names(self) -> list[str]:
        self._provided()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            self._provided()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _provided(self) -> None:
        """Import the modules declared to fill this registry's group (once)."""
        if self.group is None:
            return
        while _PROVIDERS.get(self.group):
            importlib.import_module(_PROVIDERS[self.group].pop(0))
