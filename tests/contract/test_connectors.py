"""The connector contract: the same cases against every registered source kind.

Each kit (tests/contract/kits.py) is a small real source of one kind holding the same
rows. A case a connector cannot pass because it lacks a capability is skipped with the
reason the connector declares (`Connector.capabilities`), never hidden; a registered kind
without a kit fails the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.contract.kits import (
    FIRST,
    AppendLogKit,
    CsvKit,
    HttpKit,
    Kit,
    PostgresKit,
    SqliteKit,
)

from weir.core.errors import SourceRefusedError
from weir.engines.duckdb import DuckDBEngine
from weir.ingest.connector import Capability, Connector, SourceContext, load_position
from weir.ingest.connectors import CONNECTORS, connector_for
from weir.ingest.state import STATE_VERSION, SourceState, dump_state

KITS = ["file-csv", "sql-sqlite", "sql-postgresql", "http", "append_log"]


@pytest.fixture(params=KITS)
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kit]:
    if request.param == "file-csv":
        yield CsvKit(tmp_path)
    elif request.param == "sql-sqlite":
        yield SqliteKit(tmp_path)
    elif request.param == "sql-postgresql":
        yield PostgresKit(request.getfixturevalue("postgres_url"))
    elif request.param == "append_log":
        yield AppendLogKit(tmp_path)
    else:
        api = HttpKit()
        yield api
        api.close()


@pytest.fixture
def connector(kit: Kit, tmp_path: Path) -> Connector:
    engine = DuckDBEngine(threads=1, temp_directory=tmp_path / "tmp")
    return connector_for(SourceContext(engine, tmp_path, "orders"), kit.source())


class Load:
    """What one read gave, as the app would commit it."""

    def __init__(self, connector: Connector, prior: SourceState | None) -> None:
        with connector.read(prior, observation=connector.observe()) as read:
            self.nothing_new = read.nothing_new
            self.rows = None if read.nothing_new else read.batches.read_all()
            self.rejects = read.rejects()
            self.position = read.position
            self.incremental = read.incremental
        connector.after_commit(self.position)  # the rows are committed: acknowledge

    def ids(self) -> list[Any]:
        assert self.rows is not None
        return sorted(self.rows.column("id").to_pylist())


def test_every_registered_kind_has_a_kit() -> None:
    kinds = {kit.split("-")[0] for kit in KITS}
    assert set(CONNECTORS.names()) <= kinds, "a registered source kind has no contract kit"


def test_the_first_read_returns_every_row(connector: Connector) -> None:
    first = Load(connector, None)
    assert first.ids() == [1, 2, 3] and first.rejects.num_rows == 0
    assert first.rows is not None and first.rows.schema.field("score").type == pa.float64()
    assert first.incremental in (None, "full")


def test_a_second_read_with_the_committed_state_finds_nothing_new(connector: Connector) -> None:
    first = Load(connector, None)
    again = Load(connector, load_position(connector, dump_state(first.position)))
    if connector.capabilities.has(Capability.INCREMENTAL):
        assert again.nothing_new and again.incremental == "nothing new"
    else:  # every load reads the whole source: the same content
        assert again.ids() == first.ids()


def test_new_data_after_the_state_is_read_next(connector: Connector, kit: Kit) -> None:
    if not connector.capabilities.has(Capability.INCREMENTAL):
        pytest.skip(connector.capabilities.why_not(Capability.INCREMENTAL))
    first = Load(connector, None)
    kit.add([(4, "d", 3.5), (5, "e", 4.5)])
    after = Load(connector, load_position(connector, dump_state(first.position)))
    assert after.ids() == [4, 5] and after.incremental not in (None, "full")
    last = Load(connector, load_position(connector, dump_state(after.position)))
    assert last.nothing_new


def test_observe_is_stable_until_the_source_changes(connector: Connector, kit: Kit) -> None:
    if not connector.capabilities.has(Capability.CHEAP_OBSERVE):
        pytest.skip(connector.capabilities.why_not(Capability.CHEAP_OBSERVE))
    seen = connector.observe()
    assert seen.always is None and seen.inputs
    assert connector.observe().inputs == seen.inputs
    kit.add([(4, "d", 3.5)])
    assert connector.observe().inputs != seen.inputs


def test_a_source_that_cannot_observe_cheaply_says_it_must_be_read(
    connector: Connector, kit: Kit
) -> None:
    if connector.capabilities.has(Capability.CHEAP_OBSERVE):
        pytest.skip(f"{kit.kind} observes cheaply")
    seen = connector.observe()
    assert seen.always == f"a {kit.kind} source is read to find what is new"
    assert not seen.inputs


def test_the_state_round_trips_and_migrates_from_version_1(connector: Connector) -> None:
    position = Load(connector, None).position
    written = dump_state(position) | {"load": "abc", "schema": 3}  # as the app commits it
    assert written["state_version"] == STATE_VERSION
    read = load_position(connector, written)
    assert read is not None and dump_state(read) == written
    unversioned = {k: v for k, v in written.items() if k != "state_version"}  # today's JSON
    migrated = load_position(connector, unversioned)
    assert migrated is not None and dump_state(migrated) == written
    with pytest.raises(SourceRefusedError, match="state version 99, written by a newer Weir"):
        load_position(connector, written | {"state_version": 99})


def test_a_bad_row_is_set_aside_with_its_place(connector: Connector, kit: Kit) -> None:
    kit.add([(9, "bad", "not-a-number")])
    load = Load(connector, None)
    assert load.ids() == [1, 2, 3]
    rejects = load.rejects.to_pylist()
    assert len(rejects) == 1
    bad = rejects[0]
    place = f"{bad['file']} line {bad['line']}" if bad["line"] is not None else bad["key"]
    assert kit.bad_place in place and bad["column_name"] == "score"


def test_the_first_rows_are_the_same_for_every_kind(connector: Connector) -> None:
    rows = Load(connector, None).rows
    assert rows is not None
    got = sorted(zip(*(rows.column(c).to_pylist() for c in ("id", "name", "score")), strict=True))
    assert got == FIRST
