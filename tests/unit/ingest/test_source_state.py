"""A source's committed position: typed, versioned, migrated from today's JSON."""

from __future__ import annotations

import pytest

from weir.core.errors import SourceRefusedError
from weir.ingest.connector import MIGRATIONS
from weir.ingest.http_cursor import CursorFilter
from weir.ingest.state import CursorState, FilesState, dump_state, load_state

TODAY_FILES = {
    "files": {"data/a.csv": {"size": 10, "sha256": "ab"}},
    "load": "f00",
    "schema": 2,
}
TODAY_SQL = {"cursor": {"column": "id", "value": "12345678901234567890123", "decimal": True}}


def test_todays_unversioned_json_reads_as_version_1_and_writes_the_same_keys() -> None:
    files = load_state(FilesState, MIGRATIONS, "s", TODAY_FILES)
    assert files is not None and files.files["data/a.csv"].sha256 == "ab"
    assert files.schema_version == 2 and files.load == "f00"
    assert dump_state(files) == TODAY_FILES | {"state_version": 2}
    sql = load_state(CursorState, MIGRATIONS, "s", TODAY_SQL)
    assert sql is not None and sql.cursor is not None and sql.cursor.decimal
    assert dump_state(sql)["cursor"] == TODAY_SQL["cursor"]
    plain = load_state(CursorState, MIGRATIONS, "s", {"cursor": {"column": "id", "value": 3}})
    assert plain is not None and dump_state(plain)["cursor"] == {"column": "id", "value": 3}


def test_another_kinds_keys_are_dropped_when_a_source_changes_kind() -> None:
    sql = load_state(CursorState, MIGRATIONS, "s", TODAY_FILES)
    assert sql is not None and "files" not in dump_state(sql)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"state_version": 3}, "state version 3, written by a newer Weir"),
        ({"state_version": "2"}, "state_version is '2'"),
        ({"state_version": 0}, "state_version is 0"),
        ({"cursor": {"value": 3}}, "cursor.column: Field required"),
        ({"files": {"a.csv": {"size": "big"}}}, "files.a.csv"),
    ],
)
def test_a_position_that_cannot_be_read_names_the_source_and_the_fix(
    data: dict[str, object], said: str
) -> None:
    with pytest.raises(SourceRefusedError, match=said) as refused:
        load_state(FilesState if "files" in data else CursorState, MIGRATIONS, "orders", data)
    assert str(refused.value).startswith("source 'orders': ")
    assert "--full-refresh" in (refused.value.fix or "")


def test_a_missing_migration_is_an_error_not_a_guess() -> None:
    with pytest.raises(SourceRefusedError, match="no migration from state version 1"):
        load_state(CursorState, {}, "orders", {"cursor": None})


def test_an_http_cursor_compares_times_as_times_and_keeps_the_highest() -> None:
    admit = CursorFilter("api", "at", "2026-01-01T10:00:00+01:00")  # 09:00Z
    assert admit.admits({"at": "2026-01-01T09:30:00Z"}, "record 1")
    assert not admit.admits({"at": "2026-01-01T08:59:59Z"}, "record 2")
    assert not admit.admits({"at": "2026-01-01T09:00:00Z"}, "record 3")  # equal: loaded then
    assert admit.top == "2026-01-01T09:30:00Z"
    numbers = CursorFilter("api", "id", 9)
    assert numbers.admits({"id": 10}, "r") and not numbers.admits({"id": 9}, "r")
    assert numbers.admits({"id": 100}, "r") and numbers.top == 100  # not '100' < '9'


@pytest.mark.parametrize(
    ("record", "said"),
    [
        ({}, "'id' holds no value"),
        ({"id": True}, "'id' holds a bool"),
        ({"id": "x7"}, "holds text, where it held a number"),
    ],
)
def test_a_record_without_a_usable_cursor_refuses_the_load(
    record: dict[str, object], said: str
) -> None:
    with pytest.raises(SourceRefusedError, match=said) as refused:
        CursorFilter("api", "id", 3).admits(record, "page 2 record 5")
    assert "page 2 record 5" in str(refused.value)
