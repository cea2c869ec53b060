"""The one retry helper: only Transient errors are retried, waits grow, Retry-After wins."""

from __future__ import annotations

import pytest

import weir.catalog.failures as catalog_failures
import weir.lake.failures as lake_failures
from weir.core import errors
from weir.core.errors import (
    SourceError,
    SourceRefusedError,
    SourceUnavailableError,
    Terminal,
    Transient,
    WeirError,
    is_transient,
)
from weir.core.retry import RetryPolicy, retry


class Flaky:
    """Fails with the given errors in turn, then answers 'ok'."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def down(after: float | None = None) -> SourceUnavailableError:
    return SourceUnavailableError("orders", "connection refused", retry_after=after)


def test_transient_errors_are_retried_with_growing_capped_waits() -> None:
    waits: list[float] = []
    call = Flaky(down(), down(), down(), down())
    policy = RetryPolicy(attempts=5, backoff_seconds=1, max_delay_seconds=3, jitter=0)
    assert retry(call, policy, sleep=waits.append) == "ok"
    assert call.calls == 5 and waits == [1, 2, 3, 3]


def test_jitter_shortens_a_wait_by_at_most_its_fraction() -> None:
    policy = RetryPolicy(backoff_seconds=4, jitter=0.25)
    assert policy.delay(1, 0.0) == 4 and policy.delay(1, 0.999) > 3 and policy.delay(2, 1.0) == 6


def test_a_retry_after_is_waited_exactly_and_a_long_one_is_not_waited() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, backoff_seconds=0.01, max_retry_after_seconds=10)
    assert retry(Flaky(down(after=7)), policy, sleep=waits.append) == "ok"
    assert waits == [7]
    with pytest.raises(RuntimeError, match="asked 60"):
        retry(
            Flaky(down(after=60)),
            policy,
            too_long=lambda error, seconds: RuntimeError(f"asked {seconds:.0f}"),
            sleep=waits.append,
        )
    assert waits == [7]


@pytest.mark.parametrize(
    "error", [SourceRefusedError("orders", "wrong password"), ValueError("a bug"), WeirError("x")]
)
def test_anything_not_transient_is_raised_at_once_unchanged(error: Exception) -> None:
    call = Flaky(error)
    with pytest.raises(type(error)) as raised:
        retry(call, RetryPolicy(attempts=5), sleep=lambda _: None)
    assert raised.value is error and call.calls == 1


def test_when_attempts_run_out_the_caller_says_it() -> None:
    call = Flaky(down(), down(), down())
    with pytest.raises(SourceRefusedError, match="after 3 attempts"):
        retry(
            call,
            RetryPolicy.of_retries(2, 0),
            exhausted=lambda error, n: SourceRefusedError("orders", f"failed after {n} attempts"),
            sleep=lambda _: None,
        )
    assert call.calls == 3
    with pytest.raises(SourceUnavailableError):  # without words of its own: the last error
        retry(Flaky(down(), down()), RetryPolicy(attempts=2), sleep=lambda _: None)


def test_a_source_error_names_the_source_not_a_step() -> None:
    error = SourceRefusedError("orders", "the table is gone", fix="check sources.orders.table")
    assert str(error) == "source 'orders': the table is gone\n  fix: check sources.orders.table"
    assert error.source == "orders" and isinstance(error, SourceError)
    assert not is_transient(error) and is_transient(down())


def _classes(module: object) -> list[type]:
    return [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, WeirError)]


def test_no_error_class_is_both_terminal_and_transient() -> None:
    """CatalogUnavailableError was: CatalogError carried Terminal, and it added Transient."""
    found = _classes(errors) + _classes(catalog_failures) + _classes(lake_failures)
    assert catalog_failures.CatalogUnavailableError in found and SourceUnavailableError in found
    both = [c.__name__ for c in found if issubclass(c, Terminal) and issubclass(c, Transient)]
    assert both == []
    assert is_transient(catalog_failures.CatalogUnavailableError("locked"))
    assert not is_transient(catalog_failures.CatalogCorruptError("damaged"))
