"""API keys with roles: `predict` for callers, `admin` for promote and reload (and predict).

Keys come from WEIR_API_KEYS (`role:key,role:key`) or from a file of SHA-256 hashes written
by `weir api-key add`; the server stores only hashes (in memory it remembers the valid keys
callers present, to hash each once). With no key configured the server binds to loopback
only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from weir.core.errors import ConfigError

ROLES = ("predict", "admin")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def digest(key: str | bytes) -> str:
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).hexdigest()


_REMEMBERED = 256  # valid keys remembered in memory, so a caller's key is hashed once
_LONGEST = 512  # a longer "key" is no key: refused without hashing it


@dataclass(frozen=True)
class Keys:
    roles: dict[str, str]  # sha256 of key -> role
    _seen: list[tuple[bytes, str]] = field(
        default_factory=list, init=False, compare=False, repr=False
    )

    @property
    def enabled(self) -> bool:
        return bool(self.roles)

    def role(self, presented: str | bytes | None) -> str | None:
        """The key's role, or None. Compared in constant time: every remembered key, then
        every stored hash, is compared with `hmac.compare_digest` whatever matched, so the
        answer's timing does not tell how much of a guess was right. A valid key is
        remembered (a bounded number of them): hashing it on every request cost a tenth
        of a single-row prediction. Unknown keys are hashed every time and never
        remembered, so guessing cannot fill the memory."""
        if not presented:
            return None
        given = presented.encode() if isinstance(presented, str) else bytes(presented)
        if len(given) > _LONGEST:
            return None
        found = None
        for known, role in self._seen:
            if hmac.compare_digest(known, given):
                found = role
        if found is not None:
            return found
        hashed = digest(given)
        for stored, role in self.roles.items():
            if hmac.compare_digest(stored, hashed):
                found = role
        if found is not None and len(self._seen) < _REMEMBERED:
            self._seen.append((given, found))
        return found

    @staticmethod
    def allows(role: str | None, needed: str) -> bool:
        return role == "admin" or (role == needed == "predict")


def _add(roles: dict[str, str], hashed: str, role: str, where: str) -> None:
    """One key's role; the same key with another role is refused, not resolved by order
    (a caller's key would silently have been an admin key)."""
    if roles.setdefault(hashed, role) != role:
        raise ConfigError(
            f"{where}: a key is given two roles ({roles[hashed]} and {role})",
            fix="give each key one role: remove one of the two entries",
        )


def load_keys(file: Path | None) -> Keys:
    roles: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in os.environ.get("WEIR_API_KEYS", "").split(","))):
        role, _, key = entry.partition(":")
        if role not in ROLES or len(key) < 16:
            raise ConfigError(
                "WEIR_API_KEYS: entries are role:key, role predict or admin, keys of 16+ characters",
                fix="e.g. WEIR_API_KEYS=predict:$(openssl rand -hex 24)",
            )
        _add(roles, digest(key), role, "WEIR_API_KEYS")
    if file is not None and file.exists():
        for number, line in enumerate(file.read_text().splitlines(), 1):
            parts = line.split()
            if not parts or line.startswith("#"):
                continue
            if len(parts) != 3 or parts[1] not in ROLES or len(parts[2]) != 64:
                raise ConfigError(
                    f"{file}:{number}: expected 'name role sha256'",
                    fix="add keys with 'weir api-key add NAME --role ROLE'",
                )
            _add(roles, parts[2], parts[1], f"{file}:{number}")
    return Keys(roles)


def add_key(file: Path, name: str, role: str) -> str:
    """A new random key: its hash is appended to `file`, the key itself returned once."""
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}'", fix="predict or admin")
    if not name or any(c.isspace() for c in name):
        raise ConfigError(f"key name {name!r} must be one word", fix="e.g. checkout-service")
    key = secrets.token_urlsafe(32)
    file.parent.mkdir(parents=True, exist_ok=True)
    with file.open("a") as out:
        out.write(f"{name} {role} {digest(key)}\n")
    file.chmod(0o600)
    return key
