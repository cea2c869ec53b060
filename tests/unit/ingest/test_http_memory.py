"""What an HTTP load holds in memory for each record an API sends.

A record's place ('page 3 record 7', or its key) names it in quarantine. Kept as one string
per record, a page of a million empty records (`[{}, {}, ...]`, 3 MB of JSON) cost about
80 MB that stayed for the whole load, and `max_total_bytes` of such pages hundreds of
times that. Places are kept per page now, and a keyed source keeps its keys.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from weir.ingest import http
from weir.ingest.http_fetch import Fetcher
from weir.project.sources import HttpSource

PAGES, PER_PAGE = 4, 50_000


def _source(**extra: Any) -> HttpSource:
    return HttpSource.model_validate(
        {"kind": "http", "url": "https://api.example.com/items", **extra}
    )


def _empty_pages(fetch: Fetcher) -> Iterator[tuple[int, list[dict[str, Any]], Any]]:
    empty: dict[str, Any] = {}
    for number in range(1, PAGES + 1):  # each page its own, or it would repeat the first
        yield number, [{"page": number}, *[empty] * (PER_PAGE - 1)], None


def test_a_million_empty_records_cost_no_string_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "_pages", _empty_pages)
    fetch = Fetcher("items", _source())
    tracemalloc.start()
    try:
        places, _, pages = http._spool(fetch, tmp_path / "spool.ndjson", None)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (len(places), pages) == (PAGES * PER_PAGE, PAGES)
    assert held < 1_000_000, held  # a string a record: ~15 MB
    assert places[0] == "page 1 record 1"
    assert places[PER_PAGE * 3 + 41] == "page 4 record 42"
    assert places[PAGES * PER_PAGE - 1] == f"page {PAGES} record {PER_PAGE}"


def test_a_keyed_source_names_records_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def keyed(fetch: Fetcher) -> Iterator[tuple[int, list[dict[str, Any]], Any]]:
        yield 1, [{"id": 1}, {"id": "b"}], None
        yield 2, [{"id": 3}], None

    monkeypatch.setattr(http, "_pages", keyed)
    places, _, _ = http._spool(Fetcher("items", _source(key="id")), tmp_path / "s.ndjson", None)
    assert [places[i] for i in range(len(places))] == ["id=1", "id=b", "id=3"]
