"""Incidents with hysteresis: one alert when a check goes bad, one when it is well again.

A monitor check (a model's feature drift, its performance) judges one window at a time and
says `ok`, `bad` or `undecided` (too few rows to tell). Alerting on every bad window would
page someone each day of a long incident, and alerting on every change would flap when a
check sits near its threshold. So outcomes feed a small state machine, one per check:

    no incident ── `raise_after` bad windows in a row ──► incident open   (alert "opened")
    incident open ── `clear_after` ok windows in a row ──► no incident    (alert "resolved")

- An `undecided` window is skipped: it neither opens nor clears, and it does not break a
  run of bad or ok windows either (a window with too few rows says nothing either way).
- A bad window while an incident is open, or an ok one while none is, sends nothing.
- A window is counted once: observing the last counted window again (a re-run of the same
  monitor) changes nothing. An `undecided` window is not counted, so once its labels land
  it may be observed again, decided, and then it counts.

The state (`IncidentState`) is plain data that the caller stores between runs as JSON;
`advance` is a pure function of the state, an observation, the policy and the time.

Incident ids are stable: the check's name and the window that opened the incident, hashed.
The same history gives the same ids, so a receiver that sees an alert twice (delivery is
at-least-once) can tell; `Alert.id` names one alert (the incident and its event).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, TypeAdapter, ValidationError

from weir.core.errors import MonitorError
from weir.core.hashing import fingerprint

Status = Literal["ok", "bad", "undecided"]
Event = Literal["opened", "resolved"]

STATE_VERSION = 1
"""Bumped when IncidentState's JSON changes shape; older states are refused with a fix."""

ALERT_SCHEMA = "weir.alert"
ALERT_SCHEMA_VERSION = 1
"""The JSON every sink writes (see `alert_json`); bumped on any change a receiver could see."""


@dataclass(frozen=True)
class AlertPolicy:
    """How many decided windows in a row open and clear an incident.

    `raise_after = 1`: the checks already decide a window against a false-alarm budget
    (5 % family-wise by default), so one bad window is evidence, and waiting for a second
    would delay every real alert by a whole window (a day of bad predictions, with daily
    windows). Raise it where a window's false alarms cost more than a window's delay:
    with independent windows, two in a row turn a 5 % false-alarm rate into 0.25 %.
    `clear_after = 2`: what stops flapping. A check near its threshold that swings bad, ok,
    bad, ok stays one open incident instead of an alert a day.
    """

    raise_after: int = 1
    clear_after: int = 2

    def __post_init__(self) -> None:
        if self.raise_after < 1 or self.clear_after < 1:
            raise MonitorError(
                f"alert policy: raise_after ({self.raise_after}) and clear_after "
                f"({self.clear_after}) count windows in a row",
                fix="set both to 1 or more",
            )


@dataclass(frozen=True)
class Finding:
    """One thing a check found wrong, and by how much: `amount` drifted with
    `wasserstein_iqr` 0.41 against a threshold of 0.12; or `auc` 0.71 below 0.80.
    Infinite and NaN figures are written to JSON as the strings "Infinity" and "NaN"."""

    __pydantic_config__ = ConfigDict(ser_json_inf_nan="strings")

    name: str
    value: float
    threshold: float
    statistic: str = ""

    def describe(self) -> str:
        what = f"{self.statistic} " if self.statistic else ""
        side = "vs"
        if self.value > self.threshold:
            side = ">"
        elif self.value < self.threshold:
            side = "<"
        elif self.value == self.threshold:
            side = "="
        return f"{self.name} ({what}{self.value:.4g} {side} {self.threshold:.4g})"


@dataclass(frozen=True)
class Observation:
    """One check's outcome on one window: what the monitor hands to `advance`."""

    check: str
    window: str
    status: Status
    summary: str
    details: tuple[Finding, ...] = ()
    report: str | None = None


@dataclass(frozen=True)
class Incident:
    """An open incident: where it began, and the last bad window seen while it lasts."""

    id: str
    opened_at: datetime
    opened_window: str
    last_seen: datetime
    last_bad_window: str
    bad_windows: int = 1


@dataclass(frozen=True)
class IncidentState:
    """Everything `advance` needs to remember about one check between runs.

    `bad_run` counts bad windows in a row while no incident is open; `good_run` ok windows
    in a row while one is. `last_window` is the last window counted (repeats are skipped).
    """

    check: str
    incident: Incident | None = None
    bad_run: int = 0
    good_run: int = 0
    last_window: str | None = None
    version: int = STATE_VERSION

    def to_json(self) -> str:
        return _STATE.dump_json(self).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> IncidentState:
        """The state stored by `to_json`; a MonitorError (naming what is wrong) otherwise."""
        try:
            state = _STATE.validate_json(text)
        except ValidationError as exc:
            raise MonitorError(
                f"alert state: not a stored incident state ({_first_problem(exc)})",
                fix="delete the stored state of this check; the next window starts afresh",
            ) from None
        if state.version != STATE_VERSION:
            raise MonitorError(
                f"alert state of check '{state.check}' is version {state.version}; "
                f"this Weir reads version {STATE_VERSION}",
                fix="delete the stored state of this check, or use the Weir that wrote it",
            )
        return state


@dataclass(frozen=True)
class Alert:
    """What is delivered when an incident opens or resolves.

    `id` names this alert (unique: the incident and the event), `incident` the incident it
    belongs to (a resolved alert carries the id of the incident it closes). `summary`,
    `details` and `report` come from the window that caused the event; `opened_at` and
    `opened_window` say when the incident began (equal to `at` and `window` when opened).
    """

    id: str
    incident: str
    check: str
    event: Event
    at: datetime
    window: str
    summary: str
    details: tuple[Finding, ...] = ()
    report: str | None = None
    opened_at: datetime | None = None
    opened_window: str | None = None
    bad_windows: int = 0


_STATE = TypeAdapter(IncidentState)
_ALERT = TypeAdapter(Alert)


def advance(
    state: IncidentState | None, observation: Observation, policy: AlertPolicy, now: datetime
) -> tuple[IncidentState, Alert | None]:
    """The check's state after `observation`, and the alert it causes (at most one).

    `state` is None for a check never seen before. `now` (timezone-aware) is when the
    observation was judged; it stamps the alert and the incident.
    """
    if now.tzinfo is None:
        raise MonitorError(
            f"check '{observation.check}': the time given to advance has no time zone",
            fix="pass datetime.now(timezone.utc)",
        )
    current = state if state is not None else IncidentState(check=observation.check)
    if current.check != observation.check:
        raise MonitorError(
            f"alert state of check '{current.check}' was given an observation of "
            f"'{observation.check}'",
            fix="keep one stored state per check, keyed by the check's name",
        )
    if observation.status == "undecided" or observation.window == current.last_window:
        return current, None
    counted = replace(current, last_window=observation.window)
    if counted.incident is None:
        return _while_closed(counted, observation, policy, now)
    return _while_open(counted, counted.incident, observation, policy, now)


def _while_closed(
    state: IncidentState, observation: Observation, policy: AlertPolicy, now: datetime
) -> tuple[IncidentState, Alert | None]:
    if observation.status == "ok":
        return replace(state, bad_run=0, good_run=0), None
    run = state.bad_run + 1
    if run < policy.raise_after:
        return replace(state, bad_run=run), None
    incident = Incident(
        id=incident_id(observation.check, observation.window),
        opened_at=now,
        opened_window=observation.window,
        last_seen=now,
        last_bad_window=observation.window,
        bad_windows=run,
    )
    alert = Alert(
        id=f"{incident.id}.opened",
        incident=incident.id,
        check=observation.check,
        event="opened",
        at=now,
        window=observation.window,
        summary=observation.summary or describe(observation.details),
        details=observation.details,
        report=observation.report,
        opened_at=now,
        opened_window=observation.window,
        bad_windows=run,
    )
    return replace(state, incident=incident, bad_run=0, good_run=0), alert


def _while_open(
    state: IncidentState,
    incident: Incident,
    observation: Observation,
    policy: AlertPolicy,
    now: datetime,
) -> tuple[IncidentState, Alert | None]:
    if observation.status == "bad":
        seen = replace(
            incident,
            last_seen=now,
            last_bad_window=observation.window,
            bad_windows=incident.bad_windows + 1,
        )
        return replace(state, incident=seen, good_run=0), None
    run = state.good_run + 1
    if run < policy.clear_after:
        return replace(state, good_run=run), None
    alert = Alert(
        id=f"{incident.id}.resolved",
        incident=incident.id,
        check=observation.check,
        event="resolved",
        at=now,
        window=observation.window,
        summary=(
            f"resolved after {run} ok window{'s' if run > 1 else ''} in a row "
            f"(opened on window {incident.opened_window}, last bad {incident.last_bad_window}, "
            f"{incident.bad_windows} bad window{'s' if incident.bad_windows > 1 else ''})"
            + (f": {observation.summary}" if observation.summary else "")
        ),
        details=observation.details,
        report=observation.report,
        opened_at=incident.opened_at,
        opened_window=incident.opened_window,
        bad_windows=incident.bad_windows,
    )
    return replace(state, incident=None, bad_run=0, good_run=0), alert


def incident_id(check: str, window: str) -> str:
    """`<check as a slug>-<12 hex>`: readable in a pager, unique per check and opening window."""
    slug = re.sub(r"[^a-z0-9]+", "-", check.lower()).strip("-")[:40] or "check"
    return f"{slug}-{fingerprint({'check': check, 'window': window})[:12]}"


def describe(findings: Sequence[Finding]) -> str:
    """'2 findings: amount (wasserstein_iqr 0.41 > 0.12), ...' — for observations without words."""
    if not findings:
        return "no details"
    shown = ", ".join(f.describe() for f in findings[:10])
    more = f", and {len(findings) - 10} more" if len(findings) > 10 else ""
    return f"{len(findings)} finding{'s' if len(findings) > 1 else ''}: {shown}{more}"


def alert_json(alert: Alert) -> bytes:
    """The alert as every sink writes it: one JSON object, keys sorted, no newlines.

    Fields: `schema` ("weir.alert") and `schema_version` (1); `id` (unique per alert: a
    receiver deduplicates on it, as delivery is at-least-once); `incident`; `check`;
    `event` ("opened" or "resolved"); `at`, `opened_at` (ISO 8601 with offset); `window`,
    `opened_window`; `summary` (words); `details` (list of {name, statistic, value,
    threshold}); `report` (a link or path, or null); `bad_windows` (bad windows so far).
    """
    body = json.loads(_ALERT.dump_json(alert))
    body.update(schema=ALERT_SCHEMA, schema_version=ALERT_SCHEMA_VERSION)
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def alert_from_json(text: str | bytes) -> Alert:
    """The alert written by `alert_json` (the outbox reads its queue back with it)."""
    fix = "move the file aside; it was not written by this Weir"
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise MonitorError(f"not a stored alert (not JSON: {exc})", fix=fix) from None
    if not isinstance(body, dict) or body.get("schema") != ALERT_SCHEMA:
        raise MonitorError(f'not a stored alert (no "schema": "{ALERT_SCHEMA}")', fix=fix)
    if body.get("schema_version") != ALERT_SCHEMA_VERSION:
        raise MonitorError(
            f"a stored alert of schema_version {body.get('schema_version')!r}; "
            f"this Weir reads {ALERT_SCHEMA_VERSION}",
            fix="deliver it with the Weir that wrote it, or move the file aside",
        )
    try:
        return _ALERT.validate_python(body)
    except ValidationError as exc:
        raise MonitorError(f"not a stored alert ({_first_problem(exc)})", fix=fix) from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "the text"
    return f"{where}: {error['msg']}"
