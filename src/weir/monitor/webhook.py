"""Alerts to a webhook: an HTTP POST of the alert's JSON, signed, bounded in time, retried.

What a receiver gets (one request per alert):

    POST <url>
    Content-Type: application/json
    User-Agent: weir/<version>
    X-Weir-Alert-Id: <alert id>               the same id on every re-send
    X-Weir-Event: opened | resolved
    X-Weir-Signature-256: sha256=<hex>        with a secret: HMAC-SHA256 of the body's bytes
    <the headers the project declares>

    {"schema": "weir.alert", "schema_version": 1, "id": ..., ...}   (see alerts.alert_json)

Any 2xx is delivered. 408, 429 and 5xx, a refused connection, a reset or no complete answer
within `timeout_seconds` are Transient (`DeliveryError`): retried through weir.core.retry
with backoff, a Retry-After honoured up to `max_retry_after_seconds`. Any other answer (a
redirect, which is not followed lest the body and its headers go elsewhere; 4xx) is a
`WebhookRefusedError`: retrying cannot cure a wrong URL or a wrong token.

Delivery is at-least-once (a receiver that answered too late is sent the alert again):
receivers deduplicate on the alert id. The signature lets them check the body came from
whoever holds the secret; verify it over the raw bytes, with a constant-time comparison
(`verify_signature`).

Secrets: header values, the URL's password and query values, and the HMAC secret never
appear in an error. The URL is shown as its origin only (scheme, host, port): the path of a
Slack, Teams or Discord webhook is itself the credential.

Each request runs in a worker thread that the caller waits for at most `timeout_seconds`;
when the time is up the request's socket is shut, so name lookup, connecting, TLS, sending
and a receiver that trickles its answer are all bounded together. (weir.ingest's
DeadlineTransport bounds requests the same way; a stage package may not import another.)
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import hashlib
import hmac
import http.client
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from weir.core.errors import ConfigError, DeliveryError, Terminal, WeirError
from weir.core.retry import RetryPolicy, retry
from weir.core.secrets import CREDENTIAL_NAME, LONG, Secrets, basic_credential, url_secrets
from weir.core.version import __version__
from weir.monitor.alerts import Alert, alert_json

SIGNATURE_HEADER = "X-Weir-Signature-256"
USER_AGENT = f"weir/{__version__}"
RETRIED_STATUSES = frozenset({408, 429})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FORBIDDEN_VALUE = re.compile(r"[\r\n\x00]")


class WebhookRefusedError(WeirError, Terminal):
    """The receiver refused the alert (a 4xx other than 408/429, a redirect): retrying
    the same request cannot help, so it is reported and not kept to send again."""


def sign(body: bytes, secret: str) -> str:
    """The X-Weir-Signature-256 value of `body`: 'sha256=' and the HMAC-SHA256 in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """For receivers: whether `header` is the signature of `body` under `secret`."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


@dataclass(frozen=True)
class _Target:
    """The URL as requested (no user info, no fragment) and the Basic credential it held."""

    url: str
    origin: str
    basic: str | None


class WebhookSink:
    """Delivers each alert by HTTP POST to `url`; see the module docstring for the wire format.

    `headers` (values may be secrets, e.g. Authorization), `secret` (signs each body),
    `timeout_seconds` (bounds one request in all), `attempts` (counts the first try),
    `backoff_seconds` (the first wait between tries; it doubles), `max_retry_after_seconds`
    (the longest Retry-After honoured). `sleep` is a parameter so tests need not wait.
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        secret: str | None = None,
        timeout_seconds: float = 5.0,
        attempts: int = 3,
        *,
        name: str = "webhook",
        backoff_seconds: float = 0.5,
        max_retry_after_seconds: float = 10.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.name = name
        given = dict(headers or {})
        self.secrets = _secrets_of(url, given, secret)
        self._target = _target(name, url, self.secrets)
        _check_headers(name, given)
        _check_numbers(name, timeout_seconds, attempts, backoff_seconds)
        self._headers = given
        self._secret = secret
        self.timeout_seconds = timeout_seconds
        self.policy = RetryPolicy(
            attempts=attempts,
            backoff_seconds=backoff_seconds,
            max_delay_seconds=max(backoff_seconds, max_retry_after_seconds),
            max_retry_after_seconds=max_retry_after_seconds,
        )
        self._sleep = sleep

    @property
    def shown(self) -> str:
        """The receiver as messages show it: its origin, no credential, no path."""
        return self._target.origin

    @property
    def max_seconds(self) -> float:
        """The longest one `deliver` can take: every attempt timing out, every wait at most."""
        waits = sum(
            max(self.policy.delay(n, 0.0), self.policy.max_retry_after_seconds)
            for n in range(1, self.policy.attempts)
        )
        return self.policy.attempts * self.timeout_seconds + waits

    def deliver(self, alert: Alert) -> None:
        """POST the alert, retrying what may pass; raises DeliveryError (Transient) when it
        could not be delivered, WebhookRefusedError when the receiver refused it."""
        body = alert_json(alert)
        headers = self.request_headers(alert, body)

        def exhausted(error: BaseException, attempts: int) -> WeirError:
            return self._error(
                DeliveryError,
                f"alert {alert.id} not delivered after {attempts} "
                f"attempt{'s' if attempts > 1 else ''}: {_words(error)}",
                f"check that the receiver at {self.shown} is up and answers within "
                f"{self.timeout_seconds:g} s",
            )

        def too_long(error: BaseException, seconds: float) -> WeirError:
            return self._error(
                DeliveryError,
                f"the receiver asks to wait {seconds:.0f} s (Retry-After), more than "
                f"max_retry_after_seconds ({self.policy.max_retry_after_seconds:g})",
                "the alert is sent again at the next delivery; or raise max_retry_after_seconds",
            )

        retry(
            lambda: self._once(alert, headers, body),
            self.policy,
            exhausted=exhausted,
            too_long=too_long,
            sleep=self._sleep,
        )

    def request_headers(self, alert: Alert, body: bytes) -> dict[str, str]:
        """The headers sent with `body`: the project's, then Weir's (which win)."""
        headers = dict(self._headers)
        if self._target.basic and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = f"Basic {self._target.basic}"
        headers.update(
            {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Weir-Alert-Id": alert.id,
                "X-Weir-Event": alert.event,
            }
        )
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(body, self._secret)
        return headers

    def _once(self, alert: Alert, headers: Mapping[str, str], body: bytes) -> None:
        status, reason, retry_after = _post(self._target.url, headers, body, self.timeout_seconds)
        if 200 <= status < 300:
            return
        answer = self.secrets.redact(f"HTTP {status} {reason}".strip())
        if status in RETRIED_STATUSES or status >= 500:
            error = DeliveryError(answer)
            error.retry_after = _seconds(retry_after)
            raise error
        what = "a redirect, which is not followed" if 300 <= status < 400 else "refused"
        raise self._error(
            WebhookRefusedError,
            f"alert {alert.id} {what} ({answer})",
            _refusal_fix(status, self.name),
        )

    def _error(self, kind: type[WeirError], text: str, fix: str) -> WeirError:
        """An error naming this webhook by its origin, every secret it knows hidden."""
        return kind(
            self.secrets.redact(f"webhook '{self.name}' ({self.shown}): {text}"),
            fix=self.secrets.redact(fix),
        )


def _refusal_fix(status: int, name: str) -> str:
    if status in (401, 403):
        return f"check the credentials of webhook '{name}' (its headers or the URL)"
    if 300 <= status < 400:
        return f"set webhook '{name}' to the URL the receiver redirects to"
    return f"check the URL of webhook '{name}' and what its receiver accepts"


def _words(error: BaseException) -> str:
    return error.message if isinstance(error, WeirError) else type(error).__name__


def _seconds(retry_after: str | None) -> float | None:
    """A Retry-After's wait in seconds: a number, or an HTTP date."""
    if not retry_after:
        return None
    text = retry_after.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _secrets_of(url: str, headers: Mapping[str, str], secret: str | None) -> Secrets:
    """Every value that may be a secret: header values, the URL's password and query values
    (a webhook's `?code=` is a credential whatever its name; long path segments, as Slack's,
    too), the signing secret. Short values not named like credentials are left out: hiding
    every '1' would garble the messages, which never show header values anyway."""
    values: list[str] = [secret or ""]
    values += [v for k, v in headers.items() if CREDENTIAL_NAME.search(k) or len(v) >= LONG]
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        query = [v for _, _, v in (p.partition("=") for p in re.split("[&;]", parts.query))]
        values += [f for v in query for f in (v, unquote(v)) if len(v) >= LONG]
        values += [unquote(s) for s in parts.path.split("/") if len(s) >= 16]
    return Secrets.of(values) | url_secrets(url)


def _target(name: str, url: str, secrets: Secrets) -> _Target:
    """The URL checked (http or https, a host, no spaces), split for the request."""
    fix = f"give webhook '{name}' an http:// or https:// URL"
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        host = parts.hostname or ""
    except ValueError as exc:
        raise ConfigError(f"webhook '{name}': the URL is not valid ({exc})", fix=fix) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"'{scheme}:'" if scheme else "no scheme"
        raise ConfigError(f"webhook '{name}': the URL has {shown}; only http and https", fix=fix)
    if not host or re.search(r"\s|[\x00-\x1f]", url):
        raise ConfigError(
            secrets.redact(f"webhook '{name}': the URL {scheme}://{host or '?'}/... is not valid"),
            fix=f"{fix}, with a host and no spaces",
        )
    host = f"[{host}]" if ":" in host else host
    origin = f"{scheme}://{host}{port}"
    basic = None
    if parts.username is not None or parts.password is not None:
        basic = basic_credential(unquote(parts.username or ""), unquote(parts.password or ""))
    request = urlunsplit((scheme, f"{host}{port}", parts.path or "/", parts.query, ""))
    return _Target(request, origin, basic)


def _check_headers(name: str, headers: Mapping[str, str]) -> None:
    for key, value in headers.items():
        if not _TOKEN.match(key):
            raise ConfigError(
                f"webhook '{name}': the header name {key!r} is not a valid HTTP header name",
                fix="use letters, digits and '-' in header names",
            )
        if _FORBIDDEN_VALUE.search(value):
            raise ConfigError(
                f"webhook '{name}': the value of header {key} holds a line break",
                fix=f"remove line breaks from the value of header {key}",
            )


def _check_numbers(name: str, timeout: float, attempts: int, backoff: float) -> None:
    if not timeout > 0 or attempts < 1 or backoff < 0:
        raise ConfigError(
            f"webhook '{name}': timeout_seconds ({timeout}) must be above 0, attempts "
            f"({attempts}) at least 1 and backoff_seconds ({backoff}) not negative",
            fix="fix the webhook's settings",
        )


def _post(
    url: str, headers: Mapping[str, str], body: bytes, seconds: float
) -> tuple[int, str, str | None]:
    """(status, reason, Retry-After) of one POST, bounded in all by `seconds`; raises
    DeliveryError when no status came (refused, reset, no answer in time)."""
    exchange = _Exchange()
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    worker = threading.Thread(
        target=exchange.run, args=(request, seconds), name="weir-webhook", daemon=True
    )
    started = time.monotonic()
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        exchange.expire()
        raise DeliveryError(f"no answer within timeout_seconds ({seconds:g} s)")
    if exchange.error is not None:
        late = time.monotonic() - started >= seconds
        raise DeliveryError(
            f"no answer within timeout_seconds ({seconds:g} s)" if late else exchange.error
        )
    assert exchange.answer is not None
    return exchange.answer


class _Exchange:
    """One request in a worker thread: its answer or its error, and its sockets, which
    `expire` shuts so that the worker ends soon after the caller stopped waiting."""

    def __init__(self) -> None:
        self.answer: tuple[int, str, str | None] | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False

    def run(self, request: urllib.request.Request, seconds: float) -> None:
        try:
            self.answer = self._exchange(request, seconds)
        except Exception as exc:  # refused, reset, TLS, a broken answer: all end up as words
            reason = getattr(exc, "reason", None) or exc
            self.error = f"{type(exc).__name__}: {reason}"

    def _exchange(
        self, request: urllib.request.Request, seconds: float
    ) -> tuple[int, str, str | None]:
        try:
            answer: Any = _opener(self).open(request, timeout=seconds)
        except urllib.error.HTTPError as exc:  # any status but 2xx: no redirect handler
            answer = exc
        try:
            status = answer.code if isinstance(answer, urllib.error.HTTPError) else answer.status
            # The status decides; the answer's body is not read (a receiver that trickles it
            # would hold the request), and the connection is not reused.
            return int(status), str(answer.reason or ""), answer.headers.get("Retry-After")
        finally:
            with contextlib.suppress(OSError, http.client.HTTPException):
                answer.close()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self._expired:
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, exchange: _Exchange, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exchange = exchange

    def connect(self) -> None:
        super().connect()
        self.exchange.watch(self.sock)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, exchange: _Exchange, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exchange = exchange

    def connect(self) -> None:
        super().connect()
        self.exchange.watch(self.sock)


class _Handler(urllib.request.HTTPHandler):
    def __init__(self, exchange: _Exchange) -> None:
        super().__init__()
        self.exchange = exchange

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPConnection, exchange=self.exchange), req)


class _SecureHandler(urllib.request.HTTPSHandler):
    def __init__(self, exchange: _Exchange) -> None:
        super().__init__()
        self.exchange = exchange

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPSConnection, exchange=self.exchange), req)


def _opener(exchange: _Exchange) -> urllib.request.OpenerDirector:
    """HTTP and HTTPS (through the environment's proxies), no redirects, no other scheme."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _Handler(exchange),
        _SecureHandler(exchange),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener
