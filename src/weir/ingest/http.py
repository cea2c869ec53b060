"""HTTP JSON API sources: pages fetched with retries, checked, then typed by DuckDB.

The load is all-or-nothing: every page is fetched and checked (complete JSON, no duplicate
keys, no NaN, no page repeated, no record key seen twice, the stated total reached) before
the first row is handed on, so a run that fails part-way commits nothing. Pages are spooled
to a local NDJSON file rather than kept in memory, and DuckDB types the whole of it at once:
inferring types page by page would let page 7 disagree with page 1.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import duckdb
import pyarrow as pa

from weir.core.errors import SourceError
from weir.engines.duckdb import BATCH_ROWS, DuckDBEngine
from weir.engines.split import Diverted, is_helper
from weir.ingest.base import Progress, SourceRead, counted
from weir.ingest.conform import Typing
from weir.ingest.http_cursor import CursorFilter
from weir.ingest.http_fetch import Fetcher
from weir.ingest.http_transport import Transport
from weir.ingest.json_read import JsonRead, json_sql
from weir.ingest.names import check_names
from weir.ingest.state import Cursor, CursorState
from weir.ingest.typed_stream import typed_stream
from weir.project.sources import HttpSource


def _at(body: Any, path: str | None) -> Any:
    if not path:
        return body
    for part in path.split("."):
        if not isinstance(body, dict) or part not in body:
            return None
        body = body[part]
    return body


def _with_params(url: str, params: dict[str, str]) -> str:
    """`url` with `params` set; its own parameters kept, repeated ones too (`tag=a&tag=b`)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*kept, *params.items()])))


def _pages(fetch: Fetcher) -> Iterator[tuple[int, list[dict[str, Any]], Any]]:
    """(page number, records, body) until the API says there is no more."""
    source, paging = fetch.source, fetch.source.pagination
    params = {**source.params, **fetch.extra_params}
    if paging.size_param:
        params[paging.size_param] = str(paging.size)
    url, number, position = fetch.url, 1, paging.start if paging.kind == "page" else 0
    seen_links: set[str] = set()
    while True:
        if number > paging.max_pages:
            raise fetch.error(
                f"more than {paging.max_pages} pages; the pagination may not end",
                f"raise sources.{fetch.name}.pagination.max_pages, or check the pagination settings",
            )
        page_params = dict(params)
        if paging.kind in ("page", "offset") or (paging.kind == "cursor" and number > 1):
            page_params[paging.parameter] = str(position)
        target = (
            _with_params(url, page_params) if paging.kind != "next_link" or number == 1 else url
        )
        body = fetch.json(target, number)
        records = _at(body, source.records)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            where = f"'{source.records}'" if source.records else "the body"
            raise fetch.error(
                f"page {number}: {where} is not a list of records",
                f"set sources.{fetch.name}.records to the path of the list, e.g. data.items",
            )
        yield number, [fetch.exact(r) for r in records], body
        if paging.kind == "none":
            return
        if paging.kind in ("page", "offset"):
            if len(records) < paging.size:  # a short or empty page is the last
                return
            position += 1 if paging.kind == "page" else len(records)
        else:  # an empty page that links on is not the end: its link is followed
            following = _at(
                body, paging.cursor_path if paging.kind == "cursor" else paging.next_path
            )
            if following in (None, ""):
                return
            link = (
                str(following)
                if paging.kind == "cursor"
                else fetch.check(urljoin(target, str(following)), f"page {number}: the next link")
            )
            if link in seen_links:
                raise fetch.error(
                    f"page {number}: the API sends a {paging.kind} already followed; "
                    "its pages loop",
                    "report it to the API's owner; nothing was committed",
                )
            seen_links.add(link)
            if paging.kind == "cursor":
                position = link  # type: ignore[assignment]
            else:
                url = link
        number += 1


@contextmanager
def read_http(
    engine: DuckDBEngine,
    name: str,
    source: HttpSource,
    *,
    prior: CursorState | None = None,
    progress: Progress | None = None,
    transport: Transport | None = None,
) -> Iterator[SourceRead]:
    """Fetch every page, spool and check it, then stream the records typed; `transport`
    carries the requests (None: the real one; tests pass a MockTransport). With
    `incremental`, only records above `prior`'s cursor are loaded (weir.ingest.http_cursor)."""
    fetch = Fetcher(name, source, transport)
    admit = _cursor_filter(name, source, prior)
    since = source.incremental.since_param if source.incremental else None
    if admit is not None and admit.after is not None and since:
        fetch.extra_params[since] = str(admit.after)
    # in the engine's own directory (the workspace's tmp/): the records are raw data
    with tempfile.TemporaryDirectory(prefix="weir-http-", dir=engine.scratch()) as spool_dir:
        spool = Path(spool_dir) / "records.ndjson"
        places, total_bytes, page_count = _spool(fetch, spool, progress, admit)
        detail: dict[str, Any] = {"pages": page_count, "requests": fetch.requests}
        if not places:  # an incremental load with nothing above the cursor
            yield SourceRead(
                name,
                pa.RecordBatchReader.from_batches(pa.schema([]), iter(())),
                position=prior or CursorState(),
                nothing_new=True,
                detail=detail,
                incremental="nothing new",
            )
            return
        append = admit is not None and admit.after is not None
        connection = engine.connect()
        try:
            sql, params = json_sql(
                connection,
                # declared types are applied by typed_stream, as for a database's rows
                JsonRead(
                    [str(spool)],
                    "newline_delimited",
                    "none",
                    None,
                    "reject",
                    filename=False,
                    source=name,
                    shown="the records",
                ),
            )
            stream = connection.sql(sql, params=params).to_arrow_reader(BATCH_ROWS)
        except SourceError:
            connection.close()
            raise
        except duckdb.Error as exc:
            connection.close()
            raise fetch.error(
                f"the records cannot be typed: {exc}", f"declare sources.{name}.columns"
            ) from None
        try:
            read = SourceRead(
                name,
                stream,
                position=_position(prior, admit),
                detail=detail | {"append": append},
                incremental=None
                if admit is None
                else ("records above the cursor" if append else "full"),
            )
            read.bytes = total_bytes
            fields = [n for n in stream.schema.names if not is_helper(n)]
            stored = check_names(fields, source.normalise_names, name, "the records' fields")
            diverted = Diverted("CAST")
            read.diverted.append(diverted)
            typed = typed_stream(
                stream,
                stored,
                Typing(name, columns=dict(source.columns or {}), rule=source.time_rule),
                noun="records",
                place=lambda batch, index, row: places[row],
                diverted=diverted,
                coerced=read.coerced,
            )
            read.batches = pa.RecordBatchReader.from_batches(
                typed.schema, counted(typed, read, None)
            )
            yield read
        finally:
            connection.close()


class Places:
    """Each spooled record's place, for quarantine: 'page 3 record 7', or its key ('id=42').

    Kept per page (where each page's records start), not as a string per record: a page of
    a million empty records (3 MB of JSON) would otherwise hold 80 MB for the whole load.
    A keyed source keeps each record's key (it must, to refuse a key seen twice)."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.starts: list[int] = []
        self.pages: list[int] = []
        self.keys: list[Any] = []
        self.count = 0

    def page(self, number: int) -> None:
        self.starts.append(self.count)
        self.pages.append(number)

    def add(self, key: Any = None) -> None:
        if self.key is not None:
            self.keys.append(key)
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, row: int) -> str:
        if self.key is not None:
            return f"{self.key}={self.keys[row]}"
        index = bisect.bisect_right(self.starts, row) - 1
        return f"page {self.pages[index]} record {row - self.starts[index] + 1}"


def _cursor_filter(name: str, source: HttpSource, prior: CursorState | None) -> CursorFilter | None:
    """The filter of an incremental source: above the committed cursor, if it is of the
    same field (another field's value says nothing about this one: all is loaded again)."""
    if source.incremental is None:
        return None
    field = source.incremental.cursor
    committed = prior.cursor if prior is not None else None
    after = committed.value if committed is not None and committed.column == field else None
    return CursorFilter(name, field, after)


def _position(prior: CursorState | None, admit: CursorFilter | None) -> CursorState:
    """The position after this load: the highest cursor read (as the API wrote it)."""
    state = prior if prior is not None else CursorState()
    if admit is None:
        return state.model_copy(update={"cursor": None})
    return state.model_copy(update={"cursor": Cursor(column=admit.field, value=admit.top)})


def _spool(
    fetch: Fetcher, spool: Path, progress: Progress | None, admit: CursorFilter | None = None
) -> tuple[Places, int, int]:
    """Write every record (above the cursor, if `admit`) to `spool`; return each record's
    place ('page 3 record 7' or key). An incremental load may find nothing new (no places);
    any other load that finds no records is refused."""
    source = fetch.source
    received = 0
    places = Places(source.key)
    keys: dict[Any, int] = {}
    pages: dict[str, int] = {}
    written = 0
    stated: Any = None
    page_count = 0
    with spool.open("w", encoding="utf-8") as out:
        for number, records, body in _pages(fetch):
            if stated is None and source.pagination.total_path:
                stated = _at(body, source.pagination.total_path)
            digest = hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()
            if records and digest in pages:
                raise fetch.error(
                    f"page {number} repeats page {pages[digest]}; the pagination is not stable",
                    "check the pagination settings, or ask the API for a stable sort order",
                )
            page_count = number
            pages[digest] = number
            places.page(number)
            for index, record in enumerate(records, start=1):
                key: Any = None
                if source.key is not None:
                    key = record.get(source.key)
                    if key is None:
                        raise fetch.error(
                            f"page {number} record {index} has no '{source.key}'",
                            f"check sources.{fetch.name}.key",
                        )
                    if key in keys:
                        raise fetch.error(
                            f"{source.key}={key} comes twice (pages {keys[key]} and {number}); "
                            "pages overlap",
                            "check the pagination settings; nothing was committed",
                        )
                    keys[key] = number
                received += 1
                if admit is not None and not admit.admits(record, f"page {number} record {index}"):
                    continue
                places.add(key)
                line = json.dumps(record, ensure_ascii=False)
                written += len(line.encode()) + 1
                if written > source.max_total_bytes:
                    raise fetch.error(
                        f"page {number}: the records pass max_total_bytes "
                        f"({source.max_total_bytes:,}) in all; the pagination may not end",
                        f"raise sources.{fetch.name}.max_total_bytes if the API is this large, "
                        "or load less per run (incremental parameters); nothing was committed",
                    )
                out.write(line + "\n")
            if progress is not None:
                progress(len(places), written)
    if source.pagination.total_path and stated != received:
        raise fetch.error(
            f"the API states {stated} records but the pages held {received}; "
            "pages were skipped or repeated",
            "check the pagination settings (page size, start, parameter names)",
        )
    if not places and (admit is None or admit.after is None):
        raise fetch.error(
            "the API returned no records; nothing was committed",
            "check the URL and parameters; an empty load is refused so it cannot empty the table",
        )
    return places, written, page_count
