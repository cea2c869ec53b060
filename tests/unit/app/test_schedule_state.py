"""The scheduler's state and history on disk: round trip, damage, recovery, the lock."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from weir.app.schedule_lock import SchedulerRunningError, lock_holder, scheduler_lock
from weir.app.schedule_state import (
    HISTORY_FILE,
    STATE_FILE,
    FiringRecord,
    InFlight,
    JobState,
    LastOutcome,
    append_history,
    firing_log_path,
    load_state,
    save_state,
)
from weir.core.errors import WeirError

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def a_state() -> dict[str, JobState]:
    return {
        "nightly": JobState(
            cron="0 2 * * *",
            timezone="Europe/Paris",
            settled=datetime(2024, 5, 1, 0, 0, tzinfo=UTC),
            last=LastOutcome(
                scheduled_for=datetime(2024, 5, 1, 0, 0, tzinfo=UTC),
                status="succeeded",
                finished=datetime(2024, 5, 1, 0, 3, tzinfo=UTC),
            ),
        ),
        "watch": JobState(
            cron="*/15 * * * *",
            timezone="Europe/Paris",
            settled=datetime(2024, 5, 1, 11, 45, tzinfo=UTC),
            running=InFlight(
                scheduled_for=datetime(2024, 5, 1, 11, 45, tzinfo=UTC),
                started=datetime(2024, 5, 1, 11, 45, 1, tzinfo=UTC),
                pid=4242,
                log=".weir/logs/schedule/watch/20240501T114500Z.log",
            ),
        ),
    }


def test_the_state_survives_a_round_trip_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    save_state(tmp_path, a_state())
    loaded = load_state(tmp_path, NOW)
    assert loaded.jobs == a_state()
    assert loaded.notice is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]


def test_no_state_and_no_history_is_a_first_start(tmp_path: Path) -> None:
    loaded = load_state(tmp_path, NOW)
    assert loaded.jobs == {} and loaded.notice is None


def history(tmp_path: Path, *lines: str) -> None:
    path = tmp_path / HISTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


@pytest.mark.parametrize(
    "damage",
    [
        "{not json",
        "",
        '{"format": 1, "jobs": {"nightly": {"cron": "0 2 * * *"}}}',  # a key missing
        '{"format": 2, "jobs": {}}',  # a format this Weir does not know
        '{"format": 1, "jobs": {"n": {"cron": "x", "timezone": "UTC", "settled": "2024-05-01T00:00:00"}}}',
    ],
)
def test_an_unreadable_state_is_kept_aside_and_the_history_stands_in(
    tmp_path: Path, damage: str
) -> None:
    (tmp_path / STATE_FILE).write_text(damage)
    record = FiringRecord("nightly", "succeeded", datetime(2024, 4, 30, 0, 0, tzinfo=UTC))
    append_history(tmp_path, record)
    later = FiringRecord("nightly", "skipped", datetime(2024, 5, 1, 0, 0, tzinfo=UTC))
    append_history(tmp_path, later)
    with (tmp_path / HISTORY_FILE).open("a") as handle:
        handle.write('{"job": "nightly", "scheduled_for": "2024-05-0')  # a line cut short
    loaded = load_state(tmp_path, NOW)
    assert loaded.jobs["nightly"].settled == datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
    assert loaded.jobs["nightly"].cron is None  # unknown: the history does not say
    assert loaded.notice is not None and "cannot be read" in loaded.notice
    aside = tmp_path / f"{STATE_FILE}.unreadable-20240501T120000Z"
    assert f"kept as {aside}" in loaded.notice and "from the history" in loaded.notice
    assert aside.read_text() == damage
    assert not (tmp_path / STATE_FILE).exists()


def test_a_look_at_an_unreadable_state_leaves_it_where_it_is(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{not json")
    loaded = load_state(tmp_path, NOW, keep_aside=False)
    assert loaded.notice is not None and "afresh (no history either)" in loaded.notice
    assert loaded.jobs == {}
    assert (tmp_path / STATE_FILE).read_text() == "{not json"


def test_a_deleted_state_is_recovered_from_the_history(tmp_path: Path) -> None:
    history(
        tmp_path,
        json.dumps({"job": "a", "scheduled_for": "2024-05-01T10:00:00+00:00"}),
        json.dumps({"job": "a", "scheduled_for": "2024-05-01T09:00:00+00:00"}),
        json.dumps({"job": "b", "scheduled_for": "2024-05-01T11:00:00+02:00"}),
        json.dumps({"job": "c", "scheduled_for": "2024-05-01T11:00:00"}),  # no zone: passed over
        "garbage",
    )
    loaded = load_state(tmp_path, NOW)
    assert {name: job.settled for name, job in loaded.jobs.items()} == {
        "a": datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
        "b": datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
    }
    assert loaded.notice is not None and "missing" in loaded.notice


def test_history_lines_are_json_with_every_field(tmp_path: Path) -> None:
    record = FiringRecord(
        job="nightly",
        status="failed",
        scheduled_for=datetime(2024, 5, 1, 2, 0, tzinfo=UTC),
        started=datetime(2024, 5, 1, 2, 0, 1, tzinfo=UTC),
        finished=datetime(2024, 5, 1, 2, 0, 9, tzinfo=UTC),
        exit_code=1,
        log=".weir/logs/schedule/nightly/20240501T020000Z.log",
        reason="error: boom",
    )
    append_history(tmp_path, record)
    append_history(tmp_path, record)
    lines = (tmp_path / HISTORY_FILE).read_text().splitlines()
    assert len(lines) == 2
    item = json.loads(lines[0])
    assert item["scheduled_for"] == "2024-05-01T02:00:00+00:00"
    assert (item["status"], item["exit_code"], item["reason"]) == ("failed", 1, "error: boom")
    assert item["count"] == 1 and item["caught_up"] is False


def test_each_firing_gets_a_log_file_of_its_own(tmp_path: Path) -> None:
    when = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)
    first = firing_log_path(tmp_path, "nightly", when)
    assert first == tmp_path / "logs" / "schedule" / "nightly" / "20240501T040000Z.log"
    first.write_text("")
    assert firing_log_path(tmp_path, "nightly", when).name == "20240501T040000Z-2.log"


def test_a_second_scheduler_is_refused_naming_the_first(tmp_path: Path) -> None:
    assert lock_holder(tmp_path) is None
    with scheduler_lock(tmp_path, NOW):
        holder = lock_holder(tmp_path)
        assert holder is not None and holder.pid == os.getpid() and holder.since == NOW
        with pytest.raises(SchedulerRunningError) as refused, scheduler_lock(tmp_path, NOW):
            pass
        assert f"pid {os.getpid()}" in refused.value.message
        assert "since 2024-05-01 12:00:00 UTC" in refused.value.message
        assert refused.value.fix is not None and f"kill -TERM {os.getpid()}" in refused.value.fix
    assert lock_holder(tmp_path) is None  # a clean stop leaves no holder named
    with scheduler_lock(tmp_path, NOW):  # and the lock is free again
        pass


def test_a_lock_file_that_is_a_link_is_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("mine\n")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "schedule.lock").symlink_to(outside)
    with pytest.raises(WeirError, match="symbolic link"), scheduler_lock(workspace, NOW):
        pass
    assert outside.read_text() == "mine\n"


def test_a_history_or_state_that_cannot_be_written_is_a_weir_error(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file where the logs folder goes")
    record = FiringRecord("j", "succeeded", NOW)
    with pytest.raises(WeirError, match=r"the scheduler cannot write .*schedule\.jsonl"):
        append_history(tmp_path, record)
    (tmp_path / STATE_FILE).mkdir()  # a folder where the state file goes
    with pytest.raises(
        WeirError, match=r"the scheduler cannot write .*schedule_state\.json"
    ) as caught:
        save_state(tmp_path, a_state())
    assert caught.value.fix
