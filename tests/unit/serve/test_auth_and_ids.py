"""API keys: a valid key is remembered after one hash, an unknown one never; request ids."""

from __future__ import annotations

import re

import pytest

from weir.serve import auth
from weir.serve.auth import Keys, digest


def test_a_valid_key_is_hashed_once_and_an_unknown_key_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = Keys({digest("k" * 20): "predict"})
    hashed: list[str] = []
    monkeypatch.setattr(
        auth, "digest", lambda key: hashed.append(bytes(key).decode()) or digest(key)
    )
    assert [keys.role("k" * 20) for _ in range(3)] == ["predict"] * 3
    assert [keys.role("guess" * 4) for _ in range(3)] == [None] * 3
    assert hashed == ["k" * 20] + ["guess" * 4] * 3  # the guess is never remembered


def test_remembered_keys_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_REMEMBERED", 2)
    keys = Keys({digest(f"key-{i:016d}"): "admin" for i in range(5)})
    assert all(keys.role(f"key-{i:016d}") == "admin" for i in range(5))
    assert len(keys._seen) == 2


def test_request_ids_are_unique_and_shaped_like_uuid_hex(tmp_path: object) -> None:
    from weir.serve.app import request_ids

    first, second = request_ids(), request_ids()
    ids = [first() for _ in range(1000)] + [second() for _ in range(1000)]
    assert len(set(ids)) == 2000
    assert all(re.fullmatch("[0-9a-f]{32}", i) for i in ids)


def test_a_key_given_two_roles_is_refused_not_resolved(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    """The same key as `predict` in one place and `admin` in another was silently the
    role of whichever came last: a caller's key could turn out to be an admin key."""
    from pathlib import Path

    from weir.core.errors import ConfigError

    key = "k" * 32
    monkeypatch.setenv("WEIR_API_KEYS", f"predict:{key},admin:{key}")
    with pytest.raises(ConfigError, match="two roles"):
        auth.load_keys(None)
    monkeypatch.setenv("WEIR_API_KEYS", f"predict:{key}")
    keys_file = Path(str(tmp_path)) / "api_keys"
    keys_file.write_text(f"ops admin {digest(key)}\n")
    with pytest.raises(ConfigError, match="two roles"):
        auth.load_keys(keys_file)
    keys_file.write_text(f"ops predict {digest(key)}\n")  # the same role twice is fine
    assert auth.load_keys(keys_file).role(key) == "predict"
