"""One way to retry: only what says it may pass (Transient), with backoff and jitter.

Every connector that talks to another machine (an HTTP API, a database server) retries
through `retry`, so the rules are the same everywhere and written once:

- only an error that is `Transient` is retried; any other error (Terminal, or one that says
  nothing, and any exception that is not Weir's) is raised at once, unchanged;
- the n-th wait is `backoff_seconds * 2**(n-1)`, at most `max_delay_seconds`, less a random
  part of up to `jitter` of it, so many clients that failed together do not retry together;
- a wait the other side asked for (`Transient.retry_after`, an HTTP Retry-After) is waited
  exactly, without jitter; one longer than `max_retry_after_seconds` is not waited at all;
- after `attempts` tries, the last error is handed to `exhausted`, which says it in words.

`sleep` and `random` are parameters so that tests run in no time and decide the jitter.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from weir.core.errors import Transient, is_transient

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to try. `attempts` counts the first try (retries + 1)."""

    attempts: int = 5
    backoff_seconds: float = 0.5
    max_delay_seconds: float = 30.0
    jitter: float = 0.25
    max_retry_after_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy makes at least one attempt")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction of the wait, from 0 to 1")

    @classmethod
    def of_retries(
        cls, retries: int, backoff_seconds: float, *, max_retry_after_seconds: float = 120.0
    ) -> RetryPolicy:
        """From a source's settings, which count retries, not attempts."""
        return cls(
            attempts=retries + 1,
            backoff_seconds=backoff_seconds,
            max_retry_after_seconds=max_retry_after_seconds,
        )

    def delay(self, retry: int, draw: float) -> float:
        """The wait before retry number `retry` (1, 2, ...), `draw` a number in [0, 1)."""
        wait = min(self.max_delay_seconds, self.backoff_seconds * 2.0 ** (retry - 1))
        return wait * (1 - self.jitter * draw)


def retry(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    exhausted: Callable[[BaseException, int], BaseException] | None = None,
    too_long: Callable[[BaseException, float], BaseException] | None = None,
    sleep: Callable[[float], None] | None = None,
    random: Callable[[], float] | None = None,
) -> T:
    """`call()`, tried again after each Transient error as `policy` says.

    `exhausted(error, attempts)` makes the error raised when the attempts run out (default:
    the last error itself); `too_long(error, seconds)` the one raised when the other side
    asks for a wait beyond `policy.max_retry_after_seconds` (default: the error itself).
    """
    pause = sleep or time.sleep  # looked up now, so a test may patch time.sleep
    draw = random or _random.random
    tries = 0
    while True:
        tries += 1
        try:
            return call()
        except Exception as error:
            if not is_transient(error):
                raise
            if tries >= policy.attempts:
                if exhausted is None:
                    raise
                raise exhausted(error, tries) from None
            asked = error.retry_after if isinstance(error, Transient) else None
            if asked is not None and asked > policy.max_retry_after_seconds:
                if too_long is None:
                    raise
                raise too_long(error, asked) from None
            pause(asked if asked is not None else policy.delay(tries, draw()))
