"""The outbox: order kept, nothing lost, refusals reported; the terminal and log sinks;
webhook settings checked before any request. (Real HTTP: tests/integration/test_alert_delivery.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from weir.core.errors import ConfigError, DeliveryError, MonitorError, Terminal, WeirError
from weir.monitor.alerts import Alert, Finding, alert_from_json
from weir.monitor.delivery import LogSink, TerminalSink, deliver_all, terminal_lines
from weir.monitor.webhook import WebhookRefusedError, WebhookSink, sign, verify_signature

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def alert(n: int, event: str = "opened") -> Alert:
    return Alert(
        id=f"fraud-drift-{n:04d}.{event}",
        incident=f"fraud-drift-{n:04d}",
        check="fraud/drift",
        event="opened" if event == "opened" else "resolved",
        at=T0 + timedelta(days=n),
        window=f"day {n}",
        summary=f"1 of 3 features drifted on day {n}",
        details=(Finding("amount", 0.41, 0.12, "wasserstein_iqr"),),
        report=f"reports/{n}.html",
    )


class RefusedError(WeirError, Terminal):
    pass


@dataclass
class Memory:
    """A sink in memory: `fail(alert)` returns the error to raise, or None to accept."""

    name: str = "memory"
    fail: Callable[[Alert], WeirError | None] = lambda _: None
    got: list[str] = field(default_factory=list)
    tries: list[str] = field(default_factory=list)

    def deliver(self, alert: Alert) -> None:
        self.tries.append(alert.id)
        error = self.fail(alert)
        if error is not None:
            raise error
        self.got.append(alert.id)


def outbox_ids(outbox: Path) -> list[tuple[str, str]]:
    lines = outbox.read_text().splitlines()
    return [(json.loads(x)["sink"], json.loads(x)["alert"]["id"]) for x in lines]


def test_everything_delivered_leaves_an_empty_outbox(tmp_path: Path) -> None:
    sink, outbox = Memory(), tmp_path / "outbox.jsonl"
    report = deliver_all([alert(1), alert(2)], [sink], outbox)
    assert sink.got == [alert(1).id, alert(2).id]
    assert report.ok and report.waiting == 0 and outbox.read_text() == ""
    assert [o.status for o in report.outcomes] == ["delivered", "delivered"]


def test_a_transient_failure_keeps_that_alert_and_the_later_ones_in_order(
    tmp_path: Path,
) -> None:
    down = True
    sink = Memory(fail=lambda _: DeliveryError("webhook down") if down else None)
    outbox = tmp_path / "outbox.jsonl"
    first = deliver_all([alert(1), alert(2)], [sink], outbox)
    assert sink.tries == [alert(1).id]  # the second waits behind the first, untried
    assert [o.status for o in first.outcomes] == ["queued", "queued"]
    assert "webhook down" in first.outcomes[0].message
    assert "order is kept" in first.outcomes[1].message
    assert outbox_ids(outbox) == [("memory", alert(1).id), ("memory", alert(2).id)]
    assert not first.ok and first.waiting == 2 and "next delivery" in "\n".join(first.lines())
    stored = json.loads(outbox.read_text().splitlines()[0])
    assert stored["last_error"] == "webhook down"
    down = False
    second = deliver_all([alert(3)], [sink], outbox)
    assert sink.got == [alert(1).id, alert(2).id, alert(3).id]
    assert second.ok and outbox_ids(outbox) == []


def test_a_refused_alert_is_reported_and_does_not_block_the_others(tmp_path: Path) -> None:
    sink = Memory(
        fail=lambda a: (
            RefusedError("HTTP 400", fix="check the URL") if a.id == alert(1).id else None
        )
    )
    report = deliver_all([alert(1), alert(2)], [sink], tmp_path / "outbox.jsonl")
    assert [o.status for o in report.outcomes] == ["refused", "delivered"]
    assert sink.got == [alert(2).id] and report.waiting == 0 and not report.ok
    assert "refused by memory: alert fraud-drift-0001.opened: HTTP 400" in report.lines()
    assert "  fix: check the URL" in report.lines()


def test_each_sink_has_its_own_queue(tmp_path: Path) -> None:
    good, bad = Memory("log"), Memory("hook", fail=lambda _: DeliveryError("down"))
    outbox = tmp_path / "outbox.jsonl"
    deliver_all([alert(1)], [good, bad], outbox)
    assert good.got == [alert(1).id] and outbox_ids(outbox) == [("hook", alert(1).id)]
    deliver_all([alert(2)], [good, bad], outbox)
    assert good.got == [alert(1).id, alert(2).id]  # the log is not sent alert 1 again
    assert outbox_ids(outbox) == [("hook", alert(1).id), ("hook", alert(2).id)]


def test_an_alert_already_owed_is_not_queued_twice(tmp_path: Path) -> None:
    sink, outbox = Memory(fail=lambda _: DeliveryError("down")), tmp_path / "o.jsonl"
    deliver_all([alert(1)], [sink], outbox)
    deliver_all([alert(1)], [sink], outbox)
    assert outbox_ids(outbox) == [("memory", alert(1).id)]


def test_alerts_for_a_sink_no_longer_configured_are_kept_and_reported(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    deliver_all([alert(1)], [Memory("old", fail=lambda _: DeliveryError("down"))], outbox)
    report = deliver_all([alert(2)], [Memory("new")], outbox)
    assert outbox_ids(outbox) == [("old", alert(1).id)]
    assert report.waiting == 1
    assert any("sink 'old', which is not configured now" in note for note in report.notes)


def test_once_the_time_budget_is_spent_the_rest_waits_untried(tmp_path: Path) -> None:
    ticks = iter(range(100))
    sink, outbox = Memory(), tmp_path / "outbox.jsonl"
    report = deliver_all(
        [alert(1), alert(2), alert(3)],
        [sink],
        outbox,
        budget_seconds=2,
        clock=lambda: float(next(ticks)),
    )
    assert sink.tries == [alert(1).id]
    assert [o.status for o in report.outcomes] == ["delivered", "queued", "queued"]
    assert "time budget" in report.outcomes[1].message
    assert outbox_ids(outbox) == [("memory", alert(2).id), ("memory", alert(3).id)]


def test_a_sink_that_crashes_loses_nothing(tmp_path: Path) -> None:
    def crash(_: Alert) -> WeirError | None:
        raise RuntimeError("bug in a sink")

    outbox = tmp_path / "outbox.jsonl"
    with pytest.raises(RuntimeError):
        deliver_all([alert(1)], [Memory(fail=crash)], outbox)
    assert outbox_ids(outbox) == [("memory", alert(1).id)]  # written before anything was sent


def test_a_damaged_outbox_is_set_aside_and_what_can_be_read_is_delivered(
    tmp_path: Path,
) -> None:
    outbox = tmp_path / "outbox.jsonl"
    deliver_all([alert(1)], [Memory(fail=lambda _: DeliveryError("down"))], outbox)
    outbox.write_text(outbox.read_text() + '{"version": 1, "sink": "memory", "alert": {}}\n{x\n')
    sink = Memory()
    report = deliver_all([alert(2)], [sink], outbox)
    assert sink.got == [alert(1).id, alert(2).id]
    kept = list(tmp_path.glob("outbox.jsonl.unreadable-*"))
    assert len(kept) == 1 and "{x" in kept[0].read_text()
    assert any("line 2, 3 cannot be read" in n and str(kept[0]) in n for n in report.notes)


def test_two_sinks_of_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="named alike"):
        deliver_all([alert(1)], [Memory("a"), Memory("a")], tmp_path / "o.jsonl")


def test_terminal_lines_name_what_drifted_by_how_much_and_the_report() -> None:
    sink = TerminalSink()
    sink.deliver(alert(1))
    assert (
        sink.lines
        == terminal_lines(alert(1))
        == [
            "ALERT fraud/drift [fraud-drift-0001] window day 1: 1 of 3 features drifted on day 1",
            "  amount (wasserstein_iqr 0.41 > 0.12)",
            "  report: reports/1.html",
        ]
    )
    assert terminal_lines(alert(1, "resolved"))[0].startswith("RESOLVED fraud/drift")


def test_the_log_sink_appends_one_parsable_line_per_alert(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "alerts.jsonl"
    report = deliver_all([alert(1), alert(2, "resolved")], [LogSink(log)], tmp_path / "o.jsonl")
    deliver_all([alert(3)], [LogSink(log)], tmp_path / "o.jsonl")
    assert report.ok
    lines = log.read_text().splitlines()
    assert [alert_from_json(line) for line in lines] == [alert(1), alert(2, "resolved"), alert(3)]


def test_a_log_that_cannot_be_written_queues_its_alerts(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    report = deliver_all([alert(1)], [LogSink(blocker / "alerts.jsonl")], tmp_path / "o.jsonl")
    assert report.outcomes[0].status == "queued" and "cannot append" in report.outcomes[0].message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("file:///etc/passwd", "'file:'"),
        ("ftp://host/x", "'ftp:'"),
        ("javascript:alert(1)", "'javascript:'"),
        ("localhost:8080/hook", "'localhost:'"),
        ("//host/hook", "no scheme"),
        ("http:///nohost", "not valid"),
        ("http://host:99999/x", "not valid"),
        ("http://ho st/x", "not valid"),
    ],
)
def test_a_webhook_url_that_is_not_http_is_refused(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        WebhookSink(url)


def test_webhook_headers_and_numbers_are_checked() -> None:
    with pytest.raises(ConfigError, match="line break") as caught:
        WebhookSink("http://h/x", {"X-Token": "abc\r\nX-Evil: 1"})
    assert "abc" not in str(caught.value)
    with pytest.raises(ConfigError, match="header name"):
        WebhookSink("http://h/x", {"Bad Name": "v"})
    with pytest.raises(ConfigError, match="timeout_seconds"):
        WebhookSink("http://h/x", timeout_seconds=0)
    with pytest.raises(ConfigError, match="attempts"):
        WebhookSink("http://h/x", attempts=0)


def test_the_webhook_is_shown_by_its_origin_only() -> None:
    sink = WebhookSink("https://u:pw@hooks.example.com:8443/services/T0/B0/xyz?code=abc123")
    assert sink.shown == "https://hooks.example.com:8443"


def test_the_signature_is_github_style_hmac_sha256() -> None:
    body = b'{"id":"x"}'
    signature = sign(body, "s3cret")
    # the value of `echo -n '{"id":"x"}' | openssl dgst -sha256 -hmac s3cret`
    assert signature == ("sha256=9f0beccf514841d21c56dba276089c2345c12d5d2deb19b4d22c873371e5e8b6")
    assert verify_signature(body, "s3cret", signature)
    assert not verify_signature(body + b" ", "s3cret", signature)
    assert not verify_signature(body, "other", signature)
    assert not verify_signature(body, "s3cret", None)


def test_the_longest_delivery_is_bounded_by_the_settings() -> None:
    sink = WebhookSink("http://h/x", timeout_seconds=2, attempts=3, max_retry_after_seconds=5)
    assert sink.max_seconds == 3 * 2 + 2 * 5


def test_monitor_errors_are_weir_errors() -> None:
    assert issubclass(WebhookRefusedError, WeirError) and issubclass(MonitorError, WeirError)
