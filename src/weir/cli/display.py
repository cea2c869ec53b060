"""How `weir run` shows its work: a live status line on a terminal, log lines elsewhere.

Off a terminal (CI, a log file) a spinner is noise, so each step's progress is printed as
a plain, time-stamped line at most every few seconds. `--quiet` prints only failures.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.status import Status
from rich.text import Text

from weir.cli import render
from weir.cli.common import console

PLAIN_EVERY_SECONDS = 5.0


class RunDisplay:
    def __init__(self, *, quiet: bool, plain: bool, explain: bool, debug: bool = False) -> None:
        self.quiet, self.plain, self.explain, self.debug = quiet, plain, explain, debug
        self.step = ""
        self.last_line = 0.0
        self.status: Status | None = None
        if not quiet and not plain:
            self.status = console.status("", spinner="dots")

    def __enter__(self) -> RunDisplay:
        if self.status is not None:
            self.status.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.status is not None:
            self.status.__exit__(kind, error, trace)

    def started(self, step: Any) -> None:
        self.step = step.name
        self.last_line = time.monotonic()
        if self.status is not None:
            self.status.update(f"running {render.safe(step.name)} ...")
        elif self.plain and not self.quiet:
            console.print(f"{_clock()} started {render.visible(step.name)}", markup=False)

    def progress(self, text: str) -> None:
        if self.status is not None:
            self.status.update(f"running {render.safe(self.step)} ... {render.safe(text)}")
        elif (
            self.plain
            and not self.quiet
            and time.monotonic() - self.last_line >= PLAIN_EVERY_SECONDS
        ):
            self.last_line = time.monotonic()
            console.print(
                f"{_clock()} {render.visible(self.step)}: {render.visible(text)}", markup=False
            )

    def notice(self, text: str) -> None:
        """What the run found before it began (a run that died before it): always shown."""
        console.print(Text(f"{_clock()} {text}", style="yellow"))

    def report(self, report: Any) -> None:
        if self.quiet and report.status not in ("failed", "blocked"):
            return
        console.print(render.step_line(report, self.explain))
        if self.debug and report.trace:
            console.print(report.trace, markup=False, highlight=False)


def _clock() -> str:
    return time.strftime("%H:%M:%S")
