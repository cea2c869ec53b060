"""HTTP JSON API sources: pages fetched with retries, checked, then typed by DuckDB.

The load is all-or-nothing: every page is fetched and checked (complete JSON, no duplicate
keys, no NaN, no page repeated, no record key seen twice, the stated total reached) before
the first row is handed on, so a run that fails part-way commits nothing. Pages are spooled
to a local NDJSON file rather than kept in memory, and DuckDB types the whole of it at once:
inferring types page by page would let page 7 disagree with page 1.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import duckdb
import pyarrow as pa

from weir.core.errors import StepError
from weir.engines.duckdb import BATCH_ROWS, DuckDBEngine
from weir.engines.split import Diverted, is_helper
from weir.ingest.base import Progress, SourceRead, counted
from weir.ingest.conform import Typing
from weir.ingest.json_read import JsonRead, json_sql
from weir.ingest.names import check_names
from weir.ingest.secrets import redact, safe_url
from weir.ingest.typed_stream import typed_stream
from weir.project.sources import HttpSource

USER_AGENT = "weir-ingest"


class _RetryableError(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


@dataclass
class _Fetcher:
    """GET with the source's headers, rate limit, retries and backoff."""

    name: str
    source: HttpSource
    last_request: float = 0.0
    requests: int = 0
    secrets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        source = self.source
        self.secrets = [*source.headers.values(), *source.params.values()]
        if source.bearer_token:
            self.secrets.append(source.bearer_token)

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **self.source.headers}
        if self.source.bearer_token:
            headers["Authorization"] = f"Bearer {self.source.bearer_token}"
        return headers

    def json(self, url: str, page: int) -> Any:
        source = self.source
        attempt = 0
        while True:
            try:
                return self._once(url, page)
            except _RetryableError as retry:
                if attempt >= source.retries:
                    raise self.error(
                        f"page {page} ({safe_url(url)}) failed after {attempt + 1} attempts: "
                        f"{retry}",
                        "check that the API is up; raise retries or backoff_seconds if it is slow",
                    ) from None
                wait = retry.wait if retry.wait is not None else source.backoff_seconds * 2**attempt
                if wait > source.max_retry_after_seconds:
                    raise self.error(
                        f"page {page}: the API asks to wait {wait:.0f} s (Retry-After), more than "
                        f"max_retry_after_seconds ({source.max_retry_after_seconds:.0f})",
                        "run again later, or raise max_retry_after_seconds / lower rate_limit",
                    ) from None
                time.sleep(wait)
                attempt += 1

    def _once(self, url: str, page: int) -> Any:
        if self.source.rate_limit:
            gap = 1.0 / self.source.rate_limit - (time.monotonic() - self.last_request)
            if gap > 0:
                time.sleep(gap)
        self.last_request = time.monotonic()
        self.requests += 1
        request = urllib.request.Request(url, headers=self.headers())
        try:
            with urllib.request.urlopen(request, timeout=self.source.timeout_seconds) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                raise _RetryableError(
                    "HTTP 429 Too Many Requests", _retry_after(exc.headers)
                ) from None
            if exc.code >= 500:
                raise _RetryableError(f"HTTP {exc.code}") from None
            what = "authentication failed" if exc.code in (401, 403) else "the request was refused"
            raise self.error(
                f"page {page} ({safe_url(url)}): {what} (HTTP {exc.code} {exc.reason})",
                f"check sources.{self.name}.headers / bearer_token (from ${{ENV}}) and the URL",
            ) from None
        except (
            urllib.error.URLError,
            TimeoutError,
            ConnectionError,
            http.client.HTTPException,
        ) as exc:
            reason = getattr(exc, "reason", exc)
            raise _RetryableError(redact(f"{type(exc).__name__}: {reason}", self.secrets)) from None
        try:
            return json.loads(body, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
        except json.JSONDecodeError as exc:
            raise _RetryableError(
                f"the body is not complete JSON (byte {exc.pos} of {len(body)}: {exc.msg})"
            ) from None
        except ValueError as exc:
            raise self.error(
                f"page {page} ({safe_url(url)}): {exc}",
                "fix the API's output; nothing was committed",
            ) from None

    def error(self, message: str, fix: str) -> StepError:
        return StepError(f"source:{self.name}", redact(message, self.secrets), fix=fix)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"an object has the key '{key}' twice")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; send null for a missing number")


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _at(body: Any, path: str | None) -> Any:
    if not path:
        return body
    for part in path.split("."):
        if not isinstance(body, dict) or part not in body:
            return None
        body = body[part]
    return body


def _with_params(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) | params
    return urlunsplit(parts._replace(query=urlencode(query)))


def _pages(fetch: _Fetcher) -> Iterator[tuple[int, list[dict[str, Any]], Any]]:
    """(page number, records, body) until the API says there is no more."""
    source, paging = fetch.source, fetch.source.pagination
    params = dict(source.params)
    if paging.size_param:
        params[paging.size_param] = str(paging.size)
    url, number, position = source.url, 1, paging.start if paging.kind == "page" else 0
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
        yield number, records, body
        if paging.kind == "none" or not records:
            return
        if paging.kind in ("page", "offset"):
            if len(records) < paging.size:
                return
            position += 1 if paging.kind == "page" else len(records)
        else:
            following = _at(
                body, paging.cursor_path if paging.kind == "cursor" else paging.next_path
            )
            if following in (None, ""):
                return
            link = str(following) if paging.kind == "cursor" else urljoin(target, str(following))
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
    progress: Progress | None = None,
) -> Iterator[SourceRead]:
    fetch = _Fetcher(name, source)
    with tempfile.TemporaryDirectory(prefix="weir-http-") as spool_dir:
        spool = Path(spool_dir) / "records.ndjson"
        places, total_bytes, page_count = _spool(fetch, spool, progress)
        connection = engine.connect()
        try:
            sql, params = json_sql(
                connection,
                # declared types are applied by typed_stream, as for a database's rows
                JsonRead([str(spool)], "newline_delimited", "none", None, "reject", False),
            )
            stream = connection.sql(sql, params=params).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as exc:
            connection.close()
            raise fetch.error(
                f"the records cannot be typed: {exc}", f"declare sources.{name}.columns"
            ) from None
        try:
            read = SourceRead(
                name, stream, detail={"pages": page_count, "requests": fetch.requests}
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


def _spool(fetch: _Fetcher, spool: Path, progress: Progress | None) -> tuple[list[str], int, int]:
    """Write every record to `spool`; return each record's place ('page 3 record 7' or key)."""
    source = fetch.source
    places: list[str] = []
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
            for index, record in enumerate(records, start=1):
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
                    places.append(f"{source.key}={key}")
                else:
                    places.append(f"page {number} record {index}")
                line = json.dumps(record, ensure_ascii=False)
                written += len(line) + 1
                out.write(line + "\n")
            if progress is not None:
                progress(len(places), written)
    if source.pagination.total_path and stated != len(places):
        raise fetch.error(
            f"the API states {stated} records but the pages held {len(places)}; "
            "pages were skipped or repeated",
            "check the pagination settings (page size, start, parameter names)",
        )
    if not places:
        raise fetch.error(
            "the API returned no records; nothing was committed",
            "check the URL and parameters; an empty load is refused so it cannot empty the table",
        )
    return places, written, page_count
