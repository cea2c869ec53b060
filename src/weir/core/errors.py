"""Weir's one exception root, and how an error tells the user what to do next.

    WeirError                  every error Weir raises on purpose; has .message and .fix
    ├── ConfigError            the project file (or a CLI argument) is wrong; names file + key path
    ├── NotFoundError          a table, version, run or model that does not exist
    ├── LakeError              a Delta table cannot be read or written
    ├── CatalogError           the metadata store cannot be opened or is of another schema
    │                          (weir.catalog: CatalogUnavailableError is Transient, the rest Terminal)
    ├── StepError              a pipeline step failed; names the step
    └── SourceError            a source cannot be read; names the source ("source 'orders': ...")
        ├── SourceRefusedError      Terminal: its data, settings or credentials are wrong
        └── SourceUnavailableError  Transient: connection refused, timeout, HTTP 5xx or 429

Mixins decide what `weir.core.retry` may retry:

    Terminal                   retrying cannot help (bad config, auth failure, bad data)
    Transient                  retrying may help (connection refused, timeout)

A class carries at most one of them (tests/unit/core checks every class Weir defines). A
family whose members differ (SourceError, CatalogError) carries none on its base: an
error without a mixin is treated as Terminal, and only a Transient one is ever retried.
Connectors raise SourceError, never StepError: they do not know the app's step names; the
runner reports which step failed.
"""

from __future__ import annotations

import errno


class WeirError(Exception):
    """Root of every error Weir raises on purpose.

    `message` says what went wrong and where; `fix` says what the user can do about it.
    Both are plain text so the CLI, logs and the catalog can show them unchanged.
    """

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}\n  fix: {self.fix}"
        return self.message


class Terminal:
    """Marks an error that retrying cannot cure."""


class Transient:
    """Marks an error that a retry with backoff may cure. `retry_after`: the seconds the
    other side asked to wait (an HTTP Retry-After), which the retry honours."""

    retry_after: float | None = None


class ConfigError(WeirError, Terminal):
    """The project file or a command-line argument is wrong."""


class NotFoundError(WeirError, Terminal):
    """Something named by the user does not exist."""


class LakeError(WeirError, Terminal):
    """A lake table cannot be read or written."""


class CatalogError(WeirError):
    """The catalog database cannot be used (Terminal unless a subclass says Transient)."""


class StepError(WeirError, Terminal):
    """A pipeline step failed for a reason the step understood."""

    def __init__(self, step: str, message: str, *, fix: str | None = None) -> None:
        super().__init__(f"step {step}: {message}", fix=fix)
        self.step = step


class SourceError(WeirError):
    """A source cannot be read. The message starts with the source's name, which every
    connector knows (the step that loads it is the runner's business); `source` keeps it.
    Raise a subclass: SourceRefusedError or SourceUnavailableError say whether a retry may help."""

    def __init__(self, source: str, message: str, *, fix: str | None = None) -> None:
        super().__init__(f"source '{source}': {message}", fix=fix)
        self.source = source


class SourceRefusedError(SourceError, Terminal):
    """The source's data, settings or credentials are wrong: retrying cannot help."""


class SourceUnavailableError(SourceError, Transient):
    """The source did not answer (refused connection, timeout, HTTP 5xx or 429); it may
    answer later. `retry_after`: what the source asked to wait, if it said."""

    def __init__(
        self,
        source: str,
        message: str,
        *,
        fix: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(source, message, fix=fix)
        self.retry_after = retry_after


class MonitorError(WeirError, Terminal):
    """A monitor cannot judge what it was given: a reference and current data that do not
    match (a column missing, a type changed), labels that do not join, an empty window."""


class DeliveryError(WeirError, Transient):
    """An alert could not be delivered (a webhook down, slow or refusing); retried, then
    kept to deliver again rather than lost."""


def is_transient(error: BaseException) -> bool:
    """True when a retry may succeed: the error says so (Transient); anything else is not."""
    return isinstance(error, Transient)


# What to do when the OS refuses a write of Weir's state (the lake, artifacts), by errno.
WRITE_FIXES: dict[int, str] = {
    errno.ENOSPC: "free space on the disk that holds the workspace, then run again",
    errno.EDQUOT: "free space within your disk quota, then run again",
    errno.EFBIG: "a file-size limit stopped the write ('ulimit -f'); raise it, then run again",
    errno.EACCES: "check that you may write to the workspace folder",
    errno.EPERM: "check that you may write to the workspace folder",
    errno.EROFS: "the workspace is on a read-only file system; put it on a writable one",
}
