"""One GET of an HTTP source: only where its credentials may go, bounded in time and size.

urllib's defaults are not fit for an API whose answers an outsider may control:
- its redirect handler copies every header, Authorization included, to whatever host a
  redirect names, and follows `ftp://` too; its opener reads `file://` and `data:` URLs;
- its timeout bounds each socket operation, so a server that sends a byte every few
  seconds holds a load forever;
- `read()` holds a body of any size in memory.

So the transport (weir.ingest.http_transport) has only HTTP and HTTPS handlers and no
redirect handler, and the fetcher here follows redirects itself. Every URL
requested, the first, a next link or a redirect's target, must be http(s) on the source's
own origin (scheme, host and port) or on one of its `allowed_origins`, and must carry no
user info; anything else refuses the load before a byte is sent. Credentials (bearer
token, headers, the user info of the source's URL as a Basic header) therefore go only
there. A timer closes the connection when `timeout_seconds` have passed since the request
began, and a body, compressed or not, larger than `max_response_bytes` refuses the load.
A failure that may pass (5xx, 429, a timeout, a broken body) is a SourceUnavailableError,
retried by weir.core.retry; anything else a SourceRefusedError, at once.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from weir.core.errors import SourceError, SourceRefusedError, SourceUnavailableError
from weir.core.retry import RetryPolicy, retry
from weir.core.secrets import Secrets, basic_credential, url_secrets
from weir.ingest.http_transport import (
    DeadlineTransport,
    HttpRequest,
    HttpResponse,
    Transport,
    TransportError,
    deadline_opener,
)
from weir.ingest.names import normalise
from weir.ingest.secrets import safe_url
from weir.project.sources import HttpSource

__all__ = ["Fetcher", "Origin", "RefusedURLError", "deadline_opener", "origin_of", "split_userinfo"]

USER_AGENT = "weir-ingest"
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
MAX_BACKOFF_SECONDS = 60.0  # a growing wait stops growing here (a Retry-After may ask more)
_DEFAULT_PORT = {"http": 80, "https": 443}
_URL_SAFE = "/:@!$&'()*+,;=~%?"


@dataclass(frozen=True)
class Origin:
    """scheme://host:port, with the host as the connection will name it."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


class RefusedURLError(Exception):
    """A URL the source may not request; the reason is fit for a message."""


def origin_of(url: str) -> Origin:
    """The origin of an http(s) URL; RefusedURLError for any other scheme, user info or a bad host.

    The host is compared as the connection will use it: lower case and, for a non-ASCII
    name, its IDNA form; so 'API.example.com' is the same origin as 'api.example.com', and
    a trailing dot, another port or an IP literal for the same machine is another origin.
    """
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError as exc:
        raise RefusedURLError(f"it is not a valid URL ({exc})") from None
    if scheme not in _DEFAULT_PORT:
        raise RefusedURLError(
            f"its scheme is {scheme or 'missing'}; only http and https are fetched"
        )
    if any(c.isspace() or ord(c) < 0x20 or c in "\\\x7f" for c in url):
        raise RefusedURLError("it holds whitespace, control characters or a backslash")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise RefusedURLError(
            "it carries user info (user:password@); links never carry credentials"
        )
    if not host:
        raise RefusedURLError("it has no host")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise RefusedURLError("its host is not a valid domain name") from None
    return Origin(scheme, host.lower(), port or _DEFAULT_PORT[scheme])


def request_url(url: str) -> str:
    """The URL as it is sent: the host as compared (IDNA), path and query %-encoded where
    they hold characters a request line cannot carry."""
    parts = urlsplit(url)
    origin = origin_of(url)
    host = f"[{origin.host}]" if ":" in origin.host else origin.host
    port = "" if origin.port == _DEFAULT_PORT[origin.scheme] else f":{origin.port}"
    path = quote(parts.path or "/", safe=_URL_SAFE)
    query = f"?{quote(parts.query, safe=_URL_SAFE)}" if parts.query else ""
    return f"{origin.scheme}://{host}{port}{path}{query}"


def split_userinfo(url: str) -> tuple[str, str | None]:
    """(the source URL without user info, the Basic credential it held, if any)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    bare = parts._replace(netloc=hostport).geturl()
    return bare, basic_credential(unquote(user), unquote(password))


class RetryableError(SourceUnavailableError):
    """A page that may come on the next try; `reason` is said again once retries run out."""

    def __init__(self, name: str, reason: str, wait: float | None = None) -> None:
        super().__init__(name, reason, retry_after=wait)
        self.reason = reason


@dataclass
class Fetcher:
    """GET with the source's credentials (only to trusted origins), rate limit, retries."""

    name: str
    source: HttpSource
    transport: Transport | None = None  # None: the real one (DeadlineTransport)
    sleep: Callable[[float], None] = time.sleep  # tests wait in no time
    extra_params: dict[str, str] = field(default_factory=dict)  # e.g. an incremental `since`
    last_request: float = 0.0
    requests: int = 0
    secrets: Secrets = field(default_factory=Secrets)
    url: str = ""
    trusted: frozenset[Origin] = frozenset()
    basic: str | None = None
    exact_columns: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        source = self.source
        if self.transport is None:
            self.transport = DeadlineTransport(source.timeout_seconds)
        # a number in a field declared decimal or string keeps the text it was written as:
        # as a float it would lose digits (0.12345678901234567890123) or its form (1e2)
        self.exact_columns = frozenset(
            c for c, t in (source.columns or {}).items() if t == "string" or "decimal" in t
        )
        self.url, self.basic = split_userinfo(source.url)
        self.secrets = Secrets.of(
            [*source.headers.values(), *source.params.values(), source.bearer_token, self.basic]
        ) | url_secrets(source.url)
        own = origin_of(self.url)
        self.trusted = frozenset([own, *(origin_of(o) for o in source.allowed_origins)])

    def exact(self, record: dict[str, Any]) -> dict[str, Any]:
        """`record` with the numbers of its declared decimal and string fields as written.

        Only the record's own fields: the declared names are the stored ones, so each key is
        compared after the source's normalise_names; an object nested in a field keeps its
        numbers, whatever its keys are called."""
        if not self.exact_columns:
            return record
        rule = self.source.normalise_names
        return {
            key: value.text
            if isinstance(value, _Written) and normalise(key, rule) in self.exact_columns
            else value
            for key, value in record.items()
        }

    def check(self, url: str, what: str) -> str:
        """`url` if the source may request it; else the load is refused, naming it."""
        try:
            found = origin_of(url)
        except RefusedURLError as exc:
            raise self.error(
                f"{what} leads to {self.shown(url)}, which is refused: {exc}",
                "report it to the API's owner; nothing was fetched from it and nothing was committed",
            ) from None
        if found not in self.trusted:
            raise self.error(
                f"{what} leads to another origin, {found} (the source's is {origin_of(self.url)}); "
                "it was not requested, so the source's credentials did not go there",
                f"if {found} is the API's own, add it to sources.{self.name}.allowed_origins "
                "(it will receive the credentials); nothing was committed",
            )
        return url

    def shown(self, url: str) -> str:
        return self.secrets.redact(safe_url(url) if "://" in url else url[:200])

    def headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
            **self.source.headers,
        }
        if self.basic:
            headers["Authorization"] = f"Basic {self.basic}"
        if self.source.bearer_token:
            headers["Authorization"] = f"Bearer {self.source.bearer_token}"
        return headers

    def json(self, url: str, page: int) -> Any:
        """The page's JSON body, retried (weir.core.retry) while the API answers 5xx or 429,
        times out, or sends a broken body; refused at once on anything retrying cannot cure."""
        source = self.source
        policy = RetryPolicy(
            attempts=source.retries + 1,
            backoff_seconds=source.backoff_seconds,
            max_delay_seconds=MAX_BACKOFF_SECONDS,
            max_retry_after_seconds=source.max_retry_after_seconds,
        )

        def exhausted(error: BaseException, attempts: int) -> SourceError:
            return self.unavailable(
                f"page {page} ({self.shown(url)}) failed after {attempts} attempts: "
                f"{_reason(error)}",
                "check that the API is up; raise retries or backoff_seconds if it is slow",
            )

        def too_long(error: BaseException, seconds: float) -> SourceError:
            return self.error(
                f"page {page}: the API asks to wait {seconds:.0f} s (Retry-After), more than "
                f"max_retry_after_seconds ({source.max_retry_after_seconds:.0f})",
                "run again later, or raise max_retry_after_seconds / lower rate_limit",
            )

        return retry(
            lambda: self._once(url, page),
            policy,
            exhausted=exhausted,
            too_long=too_long,
            sleep=self.sleep,
        )

    def _once(self, url: str, page: int) -> Any:
        """One attempt at a page, following redirects that stay where credentials may go."""
        if self.source.rate_limit:
            gap = 1.0 / self.source.rate_limit - (time.monotonic() - self.last_request)
            if gap > 0:
                self.sleep(gap)
        self.last_request = time.monotonic()
        current = self.check(url, f"page {page}")
        visited = {current}
        for _ in range(MAX_REDIRECTS + 1):
            self.requests += 1
            status, location, body = self._get(current, page)
            if status not in REDIRECTS:
                return self._parse(body, current, page)
            if not location:
                raise self.error(
                    f"page {page} ({self.shown(current)}): HTTP {status} without a Location",
                    "report it to the API's owner; nothing was committed",
                )
            target = self.check(
                urljoin(current, location), f"page {page}: a redirect (HTTP {status})"
            )
            if target in visited:
                raise self.error(
                    f"page {page}: redirects loop back to {self.shown(target)}",
                    "report it to the API's owner; nothing was committed",
                )
            visited.add(target)
            current = target
        raise self.error(
            f"page {page}: more than {MAX_REDIRECTS} redirects",
            "use the URL the API finally answers at; nothing was committed",
        )

    def _get(self, url: str, page: int) -> tuple[int, str | None, bytes]:
        """(status, Location, body) of one request through the transport, bounded in size."""
        request = HttpRequest(request_url(url), self.headers())
        try:
            assert self.transport is not None
            response = self.transport.handle(request)
        except TransportError as exc:
            raise self.retryable(str(exc)) from None
        try:
            if response.status in REDIRECTS:
                return response.status, response.headers.get("Location"), b""
            if not 200 <= response.status < 300:
                raise self._refused(response, url, page)
            return response.status, None, self._body(response, url, page)
        except TransportError as exc:
            raise self.retryable(str(exc)) from None
        finally:
            response.close()

    def _refused(self, response: HttpResponse, url: str, page: int) -> SourceError:
        status = response.status
        if status == 429:
            return self.retryable(
                "HTTP 429 Too Many Requests", _retry_after(response.headers.get("Retry-After"))
            )
        if status >= 500:
            return self.retryable(f"HTTP {status}")
        what = "authentication failed" if status in (401, 403) else "the request was refused"
        return self.error(
            f"page {page} ({self.shown(url)}): {what} (HTTP {status} {response.reason})",
            f"check sources.{self.name}.headers / bearer_token (from ${{ENV}}) and the URL",
        )

    def _body(self, response: HttpResponse, url: str, page: int) -> bytes:
        """The body, decompressed, at most max_response_bytes either way."""
        limit = self.source.max_response_bytes
        declared = response.headers.get("Content-Length") or ""
        if declared.strip().isdigit() and int(declared) > limit:
            raise self._too_large(page, url, f"it declares {int(declared):,} bytes")
        chunks, size = [], 0
        for chunk in response.body:
            size += len(chunk)
            if size > limit:
                raise self._too_large(page, url, "it sent more")
            chunks.append(chunk)
        return self._decoded(b"".join(chunks), response.headers, url, page)

    def _decoded(self, body: bytes, headers: Any, url: str, page: int) -> bytes:
        encoding = (headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding == "identity":
            return body
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise self.error(
                f"page {page} ({self.shown(url)}): the body is encoded as '{encoding[:40]}', "
                "which Weir does not decode",
                "ask the API for gzip or no encoding; nothing was committed",
            )
        limit = self.source.max_response_bytes
        # 32 + MAX_WBITS reads gzip and zlib alike; some servers send raw deflate (-MAX_WBITS)
        for wbits in (32 + zlib.MAX_WBITS, -zlib.MAX_WBITS):
            inflater = zlib.decompressobj(wbits)
            try:
                out = inflater.decompress(body, limit + 1)
            except zlib.error:
                continue
            if len(out) > limit or inflater.unconsumed_tail:
                raise self._too_large(page, url, "once decompressed")
            if not inflater.eof:
                raise self.retryable(f"the {encoding} body is incomplete")
            return out
        raise self.retryable(f"the body is not valid {encoding}")

    def _too_large(self, page: int, url: str, how: str) -> SourceRefusedError:
        return self.error(
            f"page {page} ({self.shown(url)}) is larger than max_response_bytes "
            f"({self.source.max_response_bytes:,}): {how}",
            f"ask for smaller pages (sources.{self.name}.pagination.size), or raise "
            f"sources.{self.name}.max_response_bytes; nothing was committed",
        )

    def _parse(self, body: bytes, url: str, page: int) -> Any:
        # every float remembers how it was written, for exact() to give the text back
        try:
            return json.loads(
                body,
                object_pairs_hook=_unique_keys,
                parse_constant=_no_constants,
                parse_float=_written if self.exact_columns else _finite,
            )
        except json.JSONDecodeError as exc:
            raise self.retryable(
                f"the body is not complete JSON (byte {exc.pos} of {len(body)}: {exc.msg})"
            ) from None
        except (ValueError, RecursionError) as exc:
            reason = "it is nested too deeply to read" if isinstance(exc, RecursionError) else exc
            raise self.error(
                f"page {page} ({self.shown(url)}): {reason}",
                "fix the API's output; nothing was committed",
            ) from None

    def error(self, message: str, fix: str) -> SourceRefusedError:
        """An error that retrying cannot cure, its secrets hidden."""
        return SourceRefusedError(self.name, self.secrets.redact(message), fix=fix)

    def unavailable(self, message: str, fix: str) -> SourceUnavailableError:
        """The API did not answer as it should after every retry, its secrets hidden."""
        return SourceUnavailableError(self.name, self.secrets.redact(message), fix=fix)

    def retryable(self, reason: str, wait: float | None = None) -> RetryableError:
        return RetryableError(self.name, self.secrets.redact(reason), wait)


def _reason(error: BaseException) -> str:
    return error.reason if isinstance(error, RetryableError) else str(error)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"an object has the key '{key}' twice")
        result[key] = value
    return result


class _Written(float):
    """A float that remembers how it was written."""

    text: str


def _written(text: str) -> float:
    value = _Written(_finite(text))
    value.text = text
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; send null for a missing number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is beyond the range of a float; send it as a string")
    return value


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number, or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
