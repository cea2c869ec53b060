"""Keeping secrets out of messages: a password in a URL, a token in a header."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit


def url_secrets(url: str) -> list[str]:
    """The password of a URL, as written and decoded."""
    password = urlsplit(url).password
    return [password, unquote(password)] if password else []


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (of four characters or more) replaced by ***."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def safe_url(url: str) -> str:
    """A URL fit for a message: no user info, no query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
