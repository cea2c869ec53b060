"""Secrets, and text that must never show them: errors, warnings, logs, the catalog.

A secret reaches a message in more forms than the one it was written in: percent-encoded in
a URL, base64 inside a Basic header, escaped by JSON or `repr()`. `Secrets.redact` hides
every form. Forms of four characters or more are hidden wherever they occur. Shorter ones
are hidden only where they stand alone (not inside a longer word or number): hiding every
"ab" would garble messages, and the pattern of stars would give the secret away.

Whatever the secrets known, `redact` also hides by place: the password of any URL in the
text, the value of a query parameter named like a credential (token, key, secret,
password, signature, ...), a `password=...` pair (libpq's DSN form) and the credential of an
`Authorization:` header. So a secret Weir was never told about is still hidden where it
stands in one of those places.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

MASK = "***"
LONG = 4
"""Forms at least this long are hidden wherever they occur; shorter ones where they stand alone."""

SENSITIVE_NAME = re.compile(
    r"(?i)(token|secret|passw|pwd|key|signature|^sig$|auth|credential|session|cookie)"
)
"""Query parameters whose values are hidden by place in any URL a message shows."""

CREDENTIAL_NAME = re.compile(
    r"(?i)(token|secret|passw|pwd|signature|^sig$|auth|credential|session|cookie"
    r"|^key$|(^|[-_])(api|access|subscription|client|secret|private)[-_]?key$)"
)
"""Headers and query parameters whose values a project treats as secrets everywhere: a
narrower rule than SENSITIVE_NAME, so that `sort_key: id` does not hide every 'id'."""

_URL_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:@/?#'\"]*):[^\s@'\"]*@")
_QUERY_PAIR = re.compile(r"(?P<head>[?&;](?P<name>[^\s=&;#'\"]+)=)(?P<value>[^\s&;#'\"]*)")
_KEY_VALUE = re.compile(
    r"(?i)(?P<head>\b(?:password|passwd|pwd)\s*[=:]\s*)(?P<value>'[^']*'|\"[^\"]*\"|[^\s,;)]+)"
)
_AUTHORIZATION = re.compile(
    r"(?i)(?P<head>(?:\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)"
    r"|\bbearer\s+)(?P<value>[A-Za-z0-9._~+/=\-]+)"
)
_PERCENT = re.compile(r"%[0-9A-F]{2}")


@dataclass(frozen=True)
class Secrets:
    """The secret values of a project or a source; `redact` hides them in any text."""

    values: frozenset[str] = frozenset()

    @classmethod
    def of(cls, values: Iterable[str | None]) -> Secrets:
        return cls(frozenset(v for v in values if v))

    def __or__(self, other: Secrets) -> Secrets:
        return Secrets(self.values | other.values)

    def forms(self) -> set[str]:
        """Every way each secret may be written in a message."""
        found: set[str] = set()
        for value in self.values:
            found |= _forms(value)
        return {f for f in found if f}

    def redact(self, text: str) -> str:
        """`text` with every secret, and every credential found by its place, replaced by ***."""
        text = redact_places(text)
        forms = sorted(self.forms(), key=len, reverse=True)
        for form in forms:
            if len(form) >= LONG:
                text = text.replace(form, MASK)
        short = [re.escape(f) for f in forms if len(f) < LONG]
        if short:
            alone = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(short) + r")(?![A-Za-z0-9])")
            text = alone.sub(MASK, text)
        return text


def _forms(value: str) -> set[str]:
    encoded = {quote(value, safe=""), quote_plus(value), quote(value)}
    encoded |= {_PERCENT.sub(lambda m: m.group(0).lower(), e) for e in encoded}
    escaped = {
        json.dumps(value)[1:-1],
        repr(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    b64 = base64.b64encode(value.encode()).decode()
    return {value, *encoded, *escaped, b64, b64.rstrip("=")}


def basic_credential(user: str, password: str) -> str:
    """The token of `Authorization: Basic ...` for user and password."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def redact_places(text: str) -> str:
    """Hide credentials by where they stand, whoever's they are (see the module docstring)."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    text = _QUERY_PAIR.sub(_query_pair, text)
    text = _KEY_VALUE.sub(lambda m: m.group("head") + MASK, text)
    return _AUTHORIZATION.sub(lambda m: m.group("head") + MASK, text)


def _query_pair(match: re.Match[str]) -> str:
    if SENSITIVE_NAME.search(match.group("name")) and match.group("value"):
        return match.group("head") + MASK
    return match.group(0)


def url_secrets(url: str) -> Secrets:
    """The password of a URL (as written and decoded), its Basic form, and the values of
    query parameters named like credentials."""
    try:
        parts = urlsplit(url)
        password, user = parts.password, parts.username
    except ValueError:
        return Secrets()
    found: list[str] = []
    if password:
        found += [password, unquote(password)]
        found.append(basic_credential(unquote(user or ""), unquote(password)))
    for pair in re.split(r"[&;]", parts.query):
        name, _, value = pair.partition("=")
        if value and SENSITIVE_NAME.search(name):
            found += [value, unquote(value)]
    return Secrets.of(found)


def display_url(url: str) -> str:
    """A URL fit for a message: the password and credential-like query values hidden, the
    rest kept so a person can tell which server was meant."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return redact_places(url)
    if ":" in host:
        host = f"[{host}]"
    user = f"{parts.username}:{MASK}@" if parts.password is not None else ""
    if parts.username is not None and parts.password is None:
        user = f"{parts.username}@"
    query = _QUERY_PAIR.sub(_query_pair, "?" + parts.query)[1:] if parts.query else ""
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, query, ""))
