"""When jobs fire: zones, daylight saving, and windows of firings counted backwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.app import schedule_cron
from weir.app.schedule_cron import Cron


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def forward(cron: Cron, after: datetime, until: datetime) -> list[datetime]:
    found, moment = [], cron.next_after(after)
    while moment <= until:
        found.append(moment)
        moment = cron.next_after(moment)
    return found


def test_next_and_latest_in_utc() -> None:
    cron = Cron("0 2 * * *", "UTC")
    assert cron.next_after(utc(2024, 1, 1, 2, 0)) == utc(2024, 1, 2, 2, 0)  # strictly after
    assert cron.next_after(utc(2024, 1, 1, 1, 59, 59)) == utc(2024, 1, 1, 2, 0)
    assert cron.latest_until(utc(2024, 1, 1, 2, 0)) == utc(2024, 1, 1, 2, 0)  # at or before
    assert cron.latest_until(utc(2024, 1, 1, 1, 59)) == utc(2023, 12, 31, 2, 0)


def test_the_expression_is_read_in_the_schedules_zone() -> None:
    cron = Cron("0 2 * * *", "Europe/Paris")
    assert cron.next_after(utc(2024, 1, 10)) == utc(2024, 1, 10, 1, 0)  # CET, +01:00
    assert cron.next_after(utc(2024, 7, 9, 23)) == utc(2024, 7, 10, 0, 0)  # CEST, +02:00
    assert Cron("30 9 * * *", "Asia/Kolkata").next_after(utc(2024, 1, 1)) == utc(2024, 1, 1, 4, 0)


def test_a_time_the_clocks_skip_fires_once_as_soon_as_they_have_moved() -> None:
    # Paris, 2024-03-31: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 never happens
    daily = Cron("30 2 * * *", "Europe/Paris")
    assert daily.next_after(utc(2024, 3, 30, 23)) == utc(2024, 3, 31, 1, 0)  # 03:00 CEST
    assert daily.next_after(utc(2024, 3, 31, 1, 0)) == utc(2024, 4, 1, 0, 30)
    half_hourly = Cron("*/30 * * * *", "Europe/Paris")
    assert forward(half_hourly, utc(2024, 3, 31, 0, 0), utc(2024, 3, 31, 1, 30)) == [
        utc(2024, 3, 31, 0, 30),  # 01:30 CET
        utc(2024, 3, 31, 1, 0),  # 03:00 CEST: 30 minutes later, as the clock says
        utc(2024, 3, 31, 1, 30),
    ]


def test_a_time_the_clocks_repeat_fires_once_for_a_fixed_time_job() -> None:
    # Paris, 2024-10-27: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 happens twice
    daily = Cron("30 2 * * *", "Europe/Paris")
    assert forward(daily, utc(2024, 10, 26, 12), utc(2024, 10, 28, 12)) == [
        utc(2024, 10, 27, 0, 30),  # 02:30 CEST; not again at 02:30 CET
        utc(2024, 10, 28, 1, 30),
    ]
    assert daily.latest_until(utc(2024, 10, 27, 3)) == utc(2024, 10, 27, 0, 30)
    assert daily.window(utc(2024, 10, 26, 12), utc(2024, 10, 28, 12)).total == 2


def test_a_wildcard_job_fires_at_each_occurrence_of_a_repeated_hour() -> None:
    hourly = Cron("0 * * * *", "Europe/Paris")
    assert forward(hourly, utc(2024, 10, 26, 23, 30), utc(2024, 10, 27, 2, 30)) == [
        utc(2024, 10, 27, 0, 0),  # 02:00 CEST
        utc(2024, 10, 27, 1, 0),  # 02:00 CET, an hour later
        utc(2024, 10, 27, 2, 0),
    ]
    quarter = Cron("*/15 2 * * *", "Europe/Paris")  # minute wildcard: by elapsed time
    assert len(forward(quarter, utc(2024, 10, 26, 22), utc(2024, 10, 27, 3))) == 8


def test_a_window_counts_and_keeps_the_latest() -> None:
    cron = Cron("* * * * *", "UTC")
    window = cron.window(utc(2024, 1, 1, 0, 0), utc(2024, 1, 1, 1, 0), keep=2)
    assert window.total == 60
    assert window.latest == (utc(2024, 1, 1, 0, 59), utc(2024, 1, 1, 1, 0))
    assert window.first == utc(2024, 1, 1, 0, 1)  # (after, until]: not 00:00
    assert cron.window(utc(2024, 1, 1, 1, 0), utc(2024, 1, 1, 1, 0)).empty
    assert cron.window(utc(2024, 1, 1, 1, 0, 30), utc(2024, 1, 1, 1, 0, 59)).total == 0


def test_a_window_longer_than_the_count_limit_is_not_counted_to_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schedule_cron, "COUNT_LIMIT", 100)
    cron = Cron("* * * * * *", "UTC")  # every second, for a day
    window = cron.window(utc(2024, 1, 1), utc(2024, 1, 2), keep=3)
    assert window.total is None
    assert window.latest == (
        utc(2024, 1, 1, 23, 59, 58),
        utc(2024, 1, 1, 23, 59, 59),
        utc(2024, 1, 2),
    )
    assert window.first == utc(2024, 1, 1, 0, 0, 1)


EXPRESSIONS = [
    "*/15 * * * *",
    "0 * * * *",
    "30 2 * * *",
    "0 */2 * * *",
    "15,45 1-3 * * *",
    "@daily",
]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
TRANSITIONS = [utc(2024, 3, 10, 6), utc(2024, 3, 31, 1), utc(2024, 10, 27, 1), utc(2024, 4, 6, 15)]


@settings(max_examples=200, deadline=None)
@given(
    expression=st.sampled_from(EXPRESSIONS),
    zone=st.sampled_from(ZONES),
    near=st.sampled_from(TRANSITIONS),
    start=st.integers(min_value=-48 * 60, max_value=24 * 60),
    length=st.integers(min_value=0, max_value=72 * 60),
)
def test_counting_backwards_finds_what_counting_forwards_finds(
    expression: str, zone: str, near: datetime, start: int, length: int
) -> None:
    """The window (counted backwards from its end) and next_after (forwards from its start)
    are two paths through croniter; across daylight-saving changes they must agree."""
    cron = Cron(expression, zone)
    after = near + timedelta(minutes=start)
    until = after + timedelta(minutes=length)
    expected = forward(cron, after, until)
    window = cron.window(after, until, keep=10_000)
    assert list(window.latest) == expected
    assert window.total == len(expected)
    assert window.first == (expected[0] if expected else None)
    assert cron.latest_until(until) == (expected[-1] if expected else cron.latest_until(after))
