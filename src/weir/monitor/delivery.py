"""Delivering alerts: to the terminal, a log file and webhooks, none lost on the way.

`deliver_all(alerts, sinks, outbox)` is the one entry point. It keeps an *outbox*, a
JSON-lines file of (sink, alert) pairs not yet delivered, and works like this:

1. the outbox is read, and the new alerts are added to it for every sink, and written
   (atomically, fsync'd) before anything is sent: a run that dies midway loses nothing;
2. each sink is given its queue in order, the oldest first. A sink that fails with a
   Transient error (a webhook down or slow, after its own retries) keeps that alert and
   every later one for the next delivery, so a receiver sees alerts in the order they
   arose. A sink that refuses an alert for good (a Terminal error: an HTTP 400, a bad
   token) has it reported and dropped, so one bad alert cannot block the rest forever;
3. what is left is written back; the report says what went where, what waits, and why.

Delivery is at-least-once: an alert whose delivery failed after the receiver had acted on
it, or whose run died before the outbox was written back, is sent again. Every alert
carries its `id`; receivers deduplicate on it (the webhook also sends it as X-Weir-Alert-Id).

Time is bounded: each sink bounds one delivery (a webhook: attempts x timeout plus waits),
and once `budget_seconds` have passed, what is not yet tried waits for the next delivery.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from weir.core.errors import WRITE_FIXES, ConfigError, DeliveryError, WeirError, is_transient
from weir.monitor.alerts import Alert, alert_from_json, alert_json

OUTBOX_VERSION = 1
LOCK_WAIT_SECONDS = 30.0


class Sink(Protocol):
    """Where alerts go. `deliver` returns when the alert has arrived; it raises a WeirError
    that is Transient when trying again later may succeed, any other WeirError when not."""

    @property
    def name(self) -> str: ...

    def deliver(self, alert: Alert) -> None: ...


def terminal_lines(alert: Alert) -> list[str]:
    """The alert as lines for a person: what happened, what was found, where the report is."""
    head = "ALERT" if alert.event == "opened" else "RESOLVED"
    lines = [f"{head} {alert.check} [{alert.incident}] window {alert.window}: {alert.summary}"]
    lines += [f"  {finding.describe()}" for finding in alert.details]
    if alert.report:
        lines.append(f"  report: {alert.report}")
    return lines


@dataclass
class TerminalSink:
    """Keeps the lines the CLI prints (printing is the CLI's business, not the monitor's)."""

    name: str = "terminal"
    lines: list[str] = field(default_factory=list)

    def deliver(self, alert: Alert) -> None:
        self.lines.extend(terminal_lines(alert))


class LogSink:
    """Appends each alert as one JSON line (`alerts.alert_json`) to `path`, fsync'd, so the
    log holds every alert that was reported delivered even if the machine stops next."""

    def __init__(self, path: Path, *, name: str = "log") -> None:
        self.path = path
        self.name = name

    def deliver(self, alert: Alert) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as out:
                out.write(alert_json(alert) + b"\n")
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise DeliveryError(
                f"alert log {self.path}: cannot append: {exc.strerror or exc}",
                fix=WRITE_FIXES.get(exc.errno or -1, f"check that {self.path} can be written"),
            ) from None


@dataclass(frozen=True)
class Outcome:
    """What became of one alert at one sink. `message` and `fix` say why, in words."""

    sink: str
    alert: str
    status: Literal["delivered", "queued", "refused"]
    message: str = ""
    fix: str | None = None


_VERBS = {"delivered": "delivered to", "queued": "queued for", "refused": "refused by"}


@dataclass(frozen=True)
class DeliveryReport:
    """What went where, what waits in the outbox (`waiting`, after this delivery), and any
    problem with the outbox itself (`notes`)."""

    outcomes: tuple[Outcome, ...]
    outbox: Path
    waiting: int
    notes: tuple[str, ...] = ()

    def of(self, status: str) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        """Everything was delivered and nothing waits or was refused."""
        return self.waiting == 0 and not self.notes and not self.of("refused")

    def lines(self) -> list[str]:
        """The report in words, for the CLI and the run's log."""
        lines = [
            f"{_VERBS[o.status]} {o.sink}: alert {o.alert}"
            + (f": {o.message}" if o.message else "")
            for o in self.outcomes
        ]
        fixes = dict.fromkeys(o.fix for o in self.outcomes if o.fix and o.status != "delivered")
        lines += [f"  fix: {fix}" for fix in fixes if fix]
        if self.waiting:
            lines.append(
                f"{self.waiting} alert deliver{'ies' if self.waiting > 1 else 'y'} wait in "
                f"{self.outbox}; they are sent first at the next delivery"
            )
        return lines + list(self.notes)


@dataclass
class _Entry:
    """One alert owed to one sink, as the outbox stores it."""

    sink: str
    alert: Alert
    queued_at: str
    last_error: str = ""


def deliver_all(
    alerts: Sequence[Alert],
    sinks: Sequence[Sink],
    outbox: Path,
    *,
    budget_seconds: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> DeliveryReport:
    """Deliver what the outbox holds, then `alerts`, to every sink, in order (see the module
    docstring). Raises ConfigError for two sinks of one name; never loses an alert."""
    names = [sink.name for sink in sinks]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"alert delivery: two sinks are named alike ({', '.join(names)})",
            fix="give every webhook its own name",
        )
    with _locked(outbox):
        entries, notes = _read(outbox)
        entries += _new_entries(entries, alerts, names)
        _write(outbox, entries)  # before sending anything: a run that dies midway loses nothing
        deadline = clock() + budget_seconds
        outcomes: list[Outcome] = []
        for sink in sinks:
            outcomes += _drain(sink, [e for e in entries if e.sink == sink.name], deadline, clock)
        delivered = {(o.sink, o.alert) for o in outcomes if o.status != "queued"}
        left = [e for e in entries if (e.sink, e.alert.id) not in delivered]
        notes += _orphans(left, names, outbox)
        if (problem := _write(outbox, left)) is not None:
            notes.append(
                f"{problem}; it may send delivered alerts again, and the {len(left)} not "
                "delivered may not be kept"
            )
    return DeliveryReport(tuple(outcomes), outbox, len(left), tuple(notes))


def _new_entries(owed: list[_Entry], alerts: Sequence[Alert], names: list[str]) -> list[_Entry]:
    """An entry per new alert and sink, unless the outbox already owes it (a re-delivery)."""
    known = {(e.sink, e.alert.id) for e in owed}
    now = datetime.now(UTC).isoformat()
    return [
        _Entry(name, alert, now)
        for alert in alerts
        for name in names
        if (name, alert.id) not in known
    ]


def _drain(
    sink: Sink, queue: list[_Entry], deadline: float, clock: Callable[[], float]
) -> list[Outcome]:
    """Deliver the sink's queue in order until one must wait; the rest wait behind it."""
    outcomes: list[Outcome] = []
    held: str | None = None
    for entry in queue:
        if held is None and clock() >= deadline:
            held = "not tried: the delivery's time budget was spent"
        if held is not None:
            outcomes.append(Outcome(sink.name, entry.alert.id, "queued", held))
            continue
        try:
            sink.deliver(entry.alert)
        except WeirError as exc:
            if not is_transient(exc):
                outcomes.append(Outcome(sink.name, entry.alert.id, "refused", exc.message, exc.fix))
                continue
            entry.last_error = exc.message
            outcomes.append(Outcome(sink.name, entry.alert.id, "queued", exc.message, exc.fix))
            held = f"not tried: alert {entry.alert.id} waits before it (order is kept)"
            continue
        outcomes.append(Outcome(sink.name, entry.alert.id, "delivered"))
    return outcomes


def _orphans(left: list[_Entry], names: list[str], outbox: Path) -> list[str]:
    """Words for alerts owed to sinks that are no longer configured: kept, not dropped."""
    counts: dict[str, int] = {}
    for entry in left:
        if entry.sink not in names:
            counts[entry.sink] = counts.get(entry.sink, 0) + 1
    return [
        f"{count} alert{'s' if count > 1 else ''} in {outbox} wait for sink '{sink}', which is "
        f"not configured now; configure it again to deliver them, or delete them from the outbox"
        for sink, count in sorted(counts.items())
    ]


def _read(outbox: Path) -> tuple[list[_Entry], list[str]]:
    """The outbox's entries; a damaged file is moved aside (kept, reported) and what could be
    read of it is delivered."""
    try:
        text = outbox.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as exc:
        return [], [_set_aside(outbox, f"it cannot be read ({exc})")]
    entries: list[_Entry] = []
    damaged: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                entries.append(_parse(line))
            except (WeirError, ValueError, KeyError, TypeError):
                damaged.append(number)
    if not damaged:
        return entries, []
    shown = ", ".join(str(n) for n in damaged[:5]) + (", ..." if len(damaged) > 5 else "")
    return entries, [_set_aside(outbox, f"line {shown} cannot be read")]


def _parse(line: str) -> _Entry:
    record = json.loads(line)
    if record["version"] != OUTBOX_VERSION:
        raise ValueError(f"outbox version {record['version']}")
    return _Entry(
        sink=str(record["sink"]),
        alert=alert_from_json(json.dumps(record["alert"])),
        queued_at=str(record["queued_at"]),
        last_error=str(record.get("last_error", "")),
    )


def _set_aside(outbox: Path, problem: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    kept = outbox.with_name(f"{outbox.name}.unreadable-{stamp}")
    try:
        outbox.replace(kept)
    except OSError as exc:
        return f"alert outbox {outbox}: {problem}, and it could not be moved aside ({exc})"
    return (
        f"alert outbox {outbox}: {problem}; the file is kept as {kept} and what could be "
        "read of it was delivered"
    )


def _write(outbox: Path, entries: list[_Entry]) -> str | None:
    """Replace the outbox with `entries`, whole or not at all (temporary file, fsync, rename);
    the problem in words when it cannot be written (the delivery goes on: an alert that
    reaches the terminal and the webhook is better than none)."""
    lines = [_line(entry) for entry in entries]
    temporary: str | None = None
    try:
        outbox.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=outbox.parent, prefix=f".{outbox.name}.")
        with os.fdopen(handle, "wb") as out:
            out.write(b"".join(line + b"\n" for line in lines))
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(outbox)
        temporary = None
        _sync_folder(outbox.parent)
    except OSError as exc:
        fix = WRITE_FIXES.get(exc.errno or -1, f"check that {outbox.parent} can be written")
        return f"alert outbox {outbox}: cannot be written ({exc.strerror or exc}); fix: {fix}"
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
    return None


def _line(entry: _Entry) -> bytes:
    record = {
        "version": OUTBOX_VERSION,
        "sink": entry.sink,
        "queued_at": entry.queued_at,
        "last_error": entry.last_error,
        "alert": json.loads(alert_json(entry.alert)),
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX: fsync the directory)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@contextlib.contextmanager
def _locked(outbox: Path) -> Iterator[None]:
    """One delivery at a time per outbox (a scheduled run and a manual `weir monitor`)."""
    lock = outbox.with_name(f"{outbox.name}.lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = lock.open("a")
    except OSError as exc:
        raise DeliveryError(
            f"alert outbox {outbox}: cannot open its lock {lock} ({exc.strerror or exc})",
            fix=WRITE_FIXES.get(exc.errno or -1, f"check that {lock.parent} can be written"),
        ) from None
    with handle:
        waited = 0.0
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited >= LOCK_WAIT_SECONDS:
                    raise DeliveryError(
                        f"alert outbox {outbox}: another delivery has held it for "
                        f"{LOCK_WAIT_SECONDS:.0f} s; the alerts of this run were not delivered",
                        fix="let the other delivery finish (a scheduled run?), then run again",
                    ) from None
                time.sleep(0.1)
                waited += 0.1
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
