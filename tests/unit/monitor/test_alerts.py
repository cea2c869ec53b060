"""Incidents with hysteresis: when an alert opens, when it resolves, and what it carries."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.core.errors import MonitorError
from weir.monitor.alerts import (
    Alert,
    AlertPolicy,
    Finding,
    Incident,
    IncidentState,
    Observation,
    Status,
    advance,
    alert_from_json,
    alert_json,
    incident_id,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)
DRIFT = (
    Finding("amount", 0.41, 0.12, "wasserstein_iqr"),
    Finding("merchant_category", 0.3, 0.05, "jensen_shannon"),
)


def observe(i: int, status: Status, check: str = "fraud/drift") -> Observation:
    window = f"2026-12-{i + 1:02d}..2026-12-{i + 2:02d}"
    details = DRIFT if status == "bad" else ()
    return Observation(check, window, status, f"{status} on day {i}", details, f"reports/{i}.html")


def run(
    statuses: Iterable[Status], policy: AlertPolicy, state: IncidentState | None = None
) -> tuple[IncidentState | None, list[tuple[int, Alert]]]:
    """Advance through `statuses` (window i on day i); the alerts with their window index."""
    alerts: list[tuple[int, Alert]] = []
    for i, status in enumerate(statuses):
        state, alert = advance(state, observe(i, status), policy, T0 + timedelta(days=i))
        if alert is not None:
            alerts.append((i, alert))
    return state, alerts


def events(alerts: Sequence[tuple[int, Alert]]) -> list[tuple[int, str]]:
    return [(i, a.event) for i, a in alerts]


def test_opens_on_the_first_bad_window_by_default_and_names_what_drifted() -> None:
    state, alerts = run(["ok", "ok", "bad"], AlertPolicy())
    assert events(alerts) == [(2, "opened")]
    alert = alerts[0][1]
    assert alert.check == "fraud/drift" and alert.window == "2026-12-03..2026-12-04"
    assert alert.details == DRIFT and alert.report == "reports/2.html"
    assert alert.at == T0 + timedelta(days=2) == alert.opened_at
    assert alert.id == f"{alert.incident}.opened"
    assert state is not None and state.incident is not None
    assert state.incident.id == alert.incident == incident_id("fraud/drift", alert.window)


def test_opens_only_after_raise_after_bad_windows_in_a_row() -> None:
    policy = AlertPolicy(raise_after=3)
    _, alerts = run(["bad", "bad", "ok", "bad", "bad", "bad", "bad"], policy)
    assert events(alerts) == [(5, "opened")]
    assert alerts[0][1].bad_windows == 3


def test_resolves_only_after_clear_after_ok_windows_in_a_row() -> None:
    policy = AlertPolicy(raise_after=1, clear_after=3)
    _, alerts = run(["bad", "ok", "ok", "bad", "ok", "ok", "ok", "ok"], policy)
    assert events(alerts) == [(0, "opened"), (6, "resolved")]
    opened, resolved = alerts[0][1], alerts[1][1]
    assert resolved.incident == opened.incident and resolved.id == f"{opened.incident}.resolved"
    assert resolved.opened_at == opened.at and resolved.opened_window == opened.window
    assert resolved.bad_windows == 2
    assert "opened on window 2026-12-01" in resolved.summary
    assert "last bad 2026-12-04" in resolved.summary


def test_alternating_bad_and_ok_does_not_flap() -> None:
    _, alerts = run(["bad", "ok"] * 20, AlertPolicy())
    assert events(alerts) == [(0, "opened")]


def test_alternating_never_opens_when_two_bad_windows_are_needed() -> None:
    _, alerts = run(["bad", "ok"] * 20, AlertPolicy(raise_after=2))
    assert alerts == []


def test_undecided_windows_neither_open_nor_clear_nor_break_a_run() -> None:
    policy = AlertPolicy(raise_after=2, clear_after=2)
    statuses: list[Status] = ["bad", "undecided", "bad", "ok", "undecided", "undecided", "ok"]
    _, alerts = run(statuses, policy)
    assert events(alerts) == [(2, "opened"), (6, "resolved")]
    _, none = run(["undecided"] * 5, policy)
    assert none == []


def test_a_new_incident_after_resolution_has_a_new_id() -> None:
    _, alerts = run(["bad", "ok", "ok", "bad"], AlertPolicy())
    assert events(alerts) == [(0, "opened"), (2, "resolved"), (3, "opened")]
    assert alerts[0][1].incident != alerts[2][1].incident


def test_the_same_history_gives_the_same_ids() -> None:
    statuses: list[Status] = ["bad", "ok", "ok", "bad", "bad", "ok", "ok"]
    _, first = run(statuses, AlertPolicy())
    _, again = run(statuses, AlertPolicy())
    assert [a.id for _, a in first] == [a.id for _, a in again]
    assert len({a.id for _, a in first}) == len(first)


def test_observing_the_last_counted_window_again_changes_nothing() -> None:
    policy = AlertPolicy(raise_after=2)
    state, _ = advance(None, observe(0, "bad"), policy, T0)
    again, alert = advance(state, observe(0, "bad"), policy, T0)
    assert alert is None and again == state and again.bad_run == 1


def test_an_undecided_window_counts_once_its_labels_have_landed() -> None:
    state, _ = advance(None, observe(0, "undecided"), AlertPolicy(), T0)
    state, alert = advance(state, observe(0, "bad"), AlertPolicy(), T0)
    assert alert is not None and alert.event == "opened"


def test_a_bad_window_while_open_updates_the_incident_without_an_alert() -> None:
    state, _ = run(["bad", "bad", "bad"], AlertPolicy())
    assert state is not None and state.incident is not None
    assert state.incident.bad_windows == 3
    assert state.incident.last_bad_window == observe(2, "bad").window
    assert state.incident.last_seen == T0 + timedelta(days=2)
    assert state.incident.opened_at == T0


def test_an_observation_of_another_check_is_refused() -> None:
    state, _ = advance(None, observe(0, "bad"), AlertPolicy(), T0)
    with pytest.raises(MonitorError, match="fraud/performance"):
        advance(state, observe(1, "bad", check="fraud/performance"), AlertPolicy(), T0)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(MonitorError, match="time zone"):
        advance(None, observe(0, "bad"), AlertPolicy(), datetime(2026, 12, 1))


@pytest.mark.parametrize(("raise_after", "clear_after"), [(0, 2), (1, 0), (-1, -1)])
def test_a_policy_counts_at_least_one_window(raise_after: int, clear_after: int) -> None:
    with pytest.raises(MonitorError, match="1 or more"):
        AlertPolicy(raise_after=raise_after, clear_after=clear_after)


def test_a_summary_is_made_from_the_details_when_the_check_gave_none() -> None:
    quiet = Observation("fraud/drift", "w1", "bad", "", DRIFT, None)
    _, alert = advance(None, quiet, AlertPolicy(), T0)
    assert alert is not None
    assert alert.summary == (
        "2 findings: amount (wasserstein_iqr 0.41 > 0.12), "
        "merchant_category (jensen_shannon 0.3 > 0.05)"
    )


def test_state_round_trips_through_json_midway_through_an_incident() -> None:
    policy = AlertPolicy(raise_after=2, clear_after=2)
    state, _ = run(["bad", "bad", "bad", "ok"], policy)
    assert state is not None and state.incident is not None and state.good_run == 1
    text = state.to_json()
    assert IncidentState.from_json(text) == state
    assert json.loads(text)["incident"]["opened_window"] == observe(1, "bad").window
    # the stored state carries on exactly as the live one would
    _, live = advance(state, observe(4, "ok"), policy, T0)
    _, stored = advance(IncidentState.from_json(text), observe(4, "ok"), policy, T0)
    assert live == stored and live is not None and live.event == "resolved"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not a stored incident state"),
        ('{"check": "c", "bad_run": "many"}', "bad_run"),
        ('{"check": "c", "version": 99}', "version 99"),
    ],
)
def test_a_damaged_or_foreign_state_is_refused_with_a_fix(text: str, problem: str) -> None:
    with pytest.raises(MonitorError, match=problem) as caught:
        IncidentState.from_json(text)
    assert caught.value.fix and "delete the stored state" in caught.value.fix


def test_an_alert_round_trips_through_its_json_with_schema_and_odd_numbers() -> None:
    odd = (Finding("x", float("inf"), 0.1, "psi"), Finding("y", 0.5, 0.1))
    at = datetime(2026, 12, 1, 6, tzinfo=timezone(timedelta(hours=2)))
    alert = Alert("i.opened", "i", "fraud/drift", "opened", at, "w", "s", odd, None, at, "w", 1)
    body = alert_json(alert)
    assert b"\n" not in body
    fields = json.loads(body)
    assert fields["schema"] == "weir.alert" and fields["schema_version"] == 1
    assert fields["details"][0] == {
        "name": "x",
        "statistic": "psi",
        "value": "Infinity",
        "threshold": 0.1,
    }
    assert fields["at"] == "2026-12-01T06:00:00+02:00"
    assert alert_from_json(body) == alert


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"not json", "not JSON"),
        (b'{"id": "x"}', "schema"),
        (b'{"schema": "weir.alert", "schema_version": 7}', "schema_version 7"),
        (b'{"schema": "weir.alert", "schema_version": 1, "id": "x"}', "incident"),
    ],
)
def test_a_damaged_alert_is_refused(text: bytes, problem: str) -> None:
    with pytest.raises(MonitorError, match=problem):
        alert_from_json(text)


# Property tests: random sequences of outcomes under random policies.

statuses = st.lists(st.sampled_from(["ok", "bad", "undecided"]), max_size=60)
policies = st.builds(AlertPolicy, st.integers(1, 4), st.integers(1, 4))


def runs(sequence: Sequence[Status]) -> list[tuple[str, int]]:
    """The decided windows as runs: [("bad", 3), ("ok", 1), ...] (undecided ones dropped)."""
    decided = [s for s in sequence if s != "undecided"]
    return [(kind, len(list(group))) for kind, group in itertools.groupby(decided)]


@settings(max_examples=300, deadline=None)
@given(statuses, policies)
def test_alerts_alternate_opened_resolved_starting_with_opened(
    sequence: list[Status], policy: AlertPolicy
) -> None:
    _, alerts = run(sequence, policy)
    kinds = [a.event for _, a in alerts]
    assert kinds == ["opened", "resolved"] * (len(kinds) // 2) + ["opened"] * (len(kinds) % 2)
    for (_, opened), (_, resolved) in zip(alerts[::2], alerts[1::2], strict=False):
        assert resolved.incident == opened.incident
    assert len({a.id for _, a in alerts}) == len(alerts)


@settings(max_examples=300, deadline=None)
@given(statuses, policies)
def test_incidents_follow_the_runs_of_decided_windows(
    sequence: list[Status], policy: AlertPolicy
) -> None:
    """Counted from the runs of decided windows: an incident opens on a bad run at least
    raise_after long while none is open, and resolves on an ok run at least clear_after long."""
    _, alerts = run(sequence, policy)
    opened = sum(1 for _, a in alerts if a.event == "opened")
    resolved = sum(1 for _, a in alerts if a.event == "resolved")
    long_bad = sum(1 for kind, n in runs(sequence) if kind == "bad" and n >= policy.raise_after)
    assert opened <= long_bad
    expected_open = expected_resolved = 0
    is_open = False
    for kind, n in runs(sequence):
        if not is_open and kind == "bad" and n >= policy.raise_after:
            is_open, expected_open = True, expected_open + 1
        elif is_open and kind == "ok" and n >= policy.clear_after:
            is_open, expected_resolved = False, expected_resolved + 1
    assert (opened, resolved) == (expected_open, expected_resolved)


@settings(max_examples=200, deadline=None)
@given(statuses, policies)
def test_an_alert_fires_only_on_a_decided_window_that_completes_its_run(
    sequence: list[Status], policy: AlertPolicy
) -> None:
    _, alerts = run(sequence, policy)
    for i, alert in alerts:
        decided = [s for s in sequence[: i + 1] if s != "undecided"]
        needed = policy.raise_after if alert.event == "opened" else policy.clear_after
        wanted = "bad" if alert.event == "opened" else "ok"
        assert sequence[i] == wanted
        assert decided[-needed:] == [wanted] * needed


@settings(max_examples=200, deadline=None)
@given(statuses, policies)
def test_storing_the_state_between_every_window_changes_nothing(
    sequence: list[Status], policy: AlertPolicy
) -> None:
    live: IncidentState | None = None
    stored: IncidentState | None = None
    for i, status in enumerate(sequence):
        now = T0 + timedelta(days=i)
        live, live_alert = advance(live, observe(i, status), policy, now)
        text = stored.to_json() if stored is not None else None
        restored = IncidentState.from_json(text) if text is not None else None
        stored, stored_alert = advance(restored, observe(i, status), policy, now)
        assert live == stored and live_alert == stored_alert
        if live_alert is not None:
            assert alert_from_json(alert_json(live_alert)) == live_alert


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=1, max_size=30),
    st.text(max_size=30),
    st.integers(0, 5),
    st.integers(0, 5),
    st.booleans(),
)
def test_any_state_round_trips_through_json(
    check: str, window: str, bad_run: int, good_run: int, with_incident: bool
) -> None:
    incident = Incident(incident_id(check, window), T0, window, T0, window, 2)
    state = IncidentState(check, incident if with_incident else None, bad_run, good_run, window)
    assert IncidentState.from_json(state.to_json()) == state
    assert incident.id.rsplit("-", 1)[1].isalnum()
