"""Keeping secrets out of connectors' messages: a password in a URL, a token in a header.

The rules (every form, every length, hidden by place) live in `weir.core.secrets`; this
module keeps the connectors' short names for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from weir.core.secrets import Secrets, display_url, redact_places, url_secrets

__all__ = ["Secrets", "display_url", "redact", "redact_places", "safe_url", "url_secrets"]


def redact(text: str, secrets: Secrets | Iterable[str]) -> str:
    """`text` with every form of every secret replaced by ***."""
    known = secrets if isinstance(secrets, Secrets) else Secrets.of(secrets)
    return known.redact(text)


def safe_url(url: str) -> str:
    """A URL fit for a message: no user info, no query string, no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return redact_places(url.split("?", 1)[0].split("#", 1)[0])
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"
