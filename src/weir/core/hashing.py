"""Stable fingerprints of configuration and code.

Cache keys and model records must be equal across processes, machines and Python hash
seeds, so everything hashed goes through one canonical JSON form first.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Path):
        return value.as_posix()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot fingerprint a value of type {type(value).__name__}: {value!r}")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal data gives equal text."""
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(value: Any) -> str:
    """SHA-256 (hex) of `value`: bytes as they are, anything else as canonical JSON.

    Each kind hashes under its own prefix, so no value of one kind can collide with a value
    of another (None and the string 'null' once did, when strings were hashed raw).
    """
    if isinstance(value, bytes):
        data = b"bytes:" + value
    else:
        data = b"json:" + canonical_json(value).encode()
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks so large files never sit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def short(digest: str, length: int = 10) -> str:
    """A prefix of a hex digest for display."""
    return digest[:length]
