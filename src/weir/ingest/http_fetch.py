"""One GET of an HTTP source: only where its credentials may go, bounded in time and size.

urllib's defaults are not fit for an API whose answers an outsider may control:
- its redirect handler copies every header, Authorization included, to whatever host a
  redirect names, and follows `ftp://` too; its opener reads `file://` and `data:` URLs;
- its timeout bounds each socket operation, so a server that sends a byte every few
  seconds holds a load forever;
- `read()` holds a body of any size in memory.

So the opener here has only HTTP and HTTPS handlers and no redirect handler. Every URL
requested, the first, a next link or a redirect's target, must be http(s) on the source's
own origin (scheme, host and port) or on one of its `allowed_origins`, and must carry no
user info; anything else refuses the load before a byte is sent. Credentials (bearer
token, headers, the user info of the source's URL as a Basic header) therefore go only
there. A timer closes the connection when `timeout_seconds` have passed since the request
began, and a body, compressed or not, larger than `max_response_bytes` refuses the load.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import http.client
import json
import math
import socket
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from weir.core.errors import SourceRefusedError
from weir.core.secrets import Secrets, basic_credential, url_secrets
from weir.ingest.names import normalise
from weir.ingest.secrets import safe_url
from weir.project.sources import HttpSource

USER_AGENT = "weir-ingest"
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024
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


class RetryableError(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class _Deadline:
    """Closes a request's connection when its time is up, whatever the socket is doing."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        super().connect()
        self.deadline.watch(self.sock)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        super().connect()
        self.deadline.watch(self.sock)


class _Handler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPConnection, deadline=self.deadline), req)


class _SecureHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPSConnection, deadline=self.deadline), req)


@contextlib.contextmanager
def deadline_opener(seconds: float) -> Iterator[tuple[urllib.request.OpenerDirector, _Deadline]]:
    """An opener for one request bounded in all (connecting, sending, the answer's headers
    and body): its connections are shut when `seconds` have passed, whatever the socket is
    doing; `deadline.expired` then says so. HTTP and HTTPS only, no redirects."""
    with _Deadline(seconds) as deadline:
        yield _opener(deadline), deadline


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """HTTP and HTTPS (through the environment's proxies), no redirects, no other scheme."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _Handler(deadline),
        _SecureHandler(deadline),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


@dataclass
class Fetcher:
    """GET with the source's credentials (only to trusted origins), rate limit, retries."""

    name: str
    source: HttpSource
    last_request: float = 0.0
    requests: int = 0
    secrets: Secrets = field(default_factory=Secrets)
    url: str = ""
    trusted: frozenset[Origin] = frozenset()
    basic: str | None = None
    exact_columns: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        source = self.source
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
        source = self.source
        attempt = 0
        while True:
            try:
                return self._once(url, page)
            except RetryableError as retry:
                if attempt >= source.retries:
                    raise self.error(
                        f"page {page} ({self.shown(url)}) failed after {attempt + 1} attempts: "
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
        """One attempt at a page, following redirects that stay where credentials may go."""
        if self.source.rate_limit:
            gap = 1.0 / self.source.rate_limit - (time.monotonic() - self.last_request)
            if gap > 0:
                time.sleep(gap)
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
        """(status, Location, body) of one request, bounded in time and size."""
        source = self.source
        request = urllib.request.Request(request_url(url), headers=self.headers())
        with _Deadline(source.timeout_seconds) as deadline:
            try:
                with _opener(deadline).open(request, timeout=source.timeout_seconds) as response:
                    return response.status, None, self._body(response, url, page, deadline)
            except urllib.error.HTTPError as exc:
                exc.close()
                return self._refused(exc, url, page)
            except (
                urllib.error.URLError,
                TimeoutError,
                ConnectionError,
                OSError,
                http.client.HTTPException,
            ) as exc:
                if deadline.expired:
                    raise RetryableError(
                        f"no complete answer within timeout_seconds ({source.timeout_seconds:g} s)"
                    ) from None
                reason = getattr(exc, "reason", exc)
                raise RetryableError(
                    self.secrets.redact(f"{type(exc).__name__}: {reason}")
                ) from None

    def _refused(
        self, exc: urllib.error.HTTPError, url: str, page: int
    ) -> tuple[int, str | None, bytes]:
        if exc.code in REDIRECTS:
            return exc.code, exc.headers.get("Location"), b""
        if exc.code == 429:
            raise RetryableError("HTTP 429 Too Many Requests", _retry_after(exc.headers)) from None
        if exc.code >= 500:
            raise RetryableError(f"HTTP {exc.code}") from None
        what = "authentication failed" if exc.code in (401, 403) else "the request was refused"
        raise self.error(
            f"page {page} ({self.shown(url)}): {what} (HTTP {exc.code} {exc.reason})",
            f"check sources.{self.name}.headers / bearer_token (from ${{ENV}}) and the URL",
        ) from None

    def _body(self, response: Any, url: str, page: int, deadline: _Deadline) -> bytes:
        """The body, decompressed, at most max_response_bytes either way."""
        limit = self.source.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > limit:
            raise self._too_large(page, url, f"it declares {int(declared):,} bytes")
        chunks, size = [], 0
        while chunk := response.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise self._too_large(page, url, "it sent more")
            chunks.append(chunk)
        if deadline.expired:
            raise RetryableError(
                f"no complete answer within timeout_seconds ({self.source.timeout_seconds:g} s)"
            )
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
                raise RetryableError(f"the {encoding} body is incomplete")
            return out
        raise RetryableError(f"the body is not valid {encoding}")

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
            raise RetryableError(
                f"the body is not complete JSON (byte {exc.pos} of {len(body)}: {exc.msg})"
            ) from None
        except (ValueError, RecursionError) as exc:
            reason = "it is nested too deeply to read" if isinstance(exc, RecursionError) else exc
            raise self.error(
                f"page {page} ({self.shown(url)}): {reason}",
                "fix the API's output; nothing was committed",
            ) from None

    def error(self, message: str, fix: str) -> SourceRefusedError:
        return SourceRefusedError(self.name, self.secrets.redact(message), fix=fix)


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
