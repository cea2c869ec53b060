from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weir.core import ConfigError, Registry, Terminal, Transient, WeirError, did_you_mean
from weir.core.errors import is_transient
from weir.core.hashing import canonical_json, file_sha256, fingerprint

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_fingerprint_ignores_key_order(mapping: dict[str, object]) -> None:
    reversed_mapping = dict(reversed(list(mapping.items())))
    assert fingerprint(mapping) == fingerprint(reversed_mapping)


@given(json_values, json_values)
def test_fingerprint_equal_iff_canonical_json_equal(a: object, b: object) -> None:
    assert (fingerprint(a) == fingerprint(b)) == (canonical_json(a) == canonical_json(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (None, "null"),
        (1, "1"),
        (True, "true"),
        ([], "[]"),
        ({}, "{}"),
        ("x", b'"x"'),
        (b"null", None),
    ],
)
def test_values_of_different_kinds_never_share_a_fingerprint(a: object, b: object) -> None:
    """Found by hypothesis: None and 'null' once hashed alike."""
    assert fingerprint(a) != fingerprint(b)


def test_fingerprint_refuses_values_without_a_stable_form() -> None:
    with pytest.raises(TypeError, match="cannot fingerprint"):
        fingerprint({"x": object()})


def test_non_finite_floats_and_paths_have_a_stable_form() -> None:
    assert canonical_json({"a": math.inf, "p": Path("a/b")}) == '{"a":"inf","p":"a/b"}'


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 5000
    path.write_bytes(data)
    assert file_sha256(path, chunk_size=1000) == hashlib.sha256(data).hexdigest()


def test_error_text_carries_the_fix() -> None:
    error = ConfigError("bad thing", fix="do this")
    assert str(error) == "bad thing\n  fix: do this"
    assert isinstance(error, WeirError) and isinstance(error, Terminal)
    assert not is_transient(error)

    class FlakyError(WeirError, Transient):
        pass

    assert is_transient(FlakyError("x"))


def test_did_you_mean() -> None:
    assert did_you_mean("sorces", ["sources", "checks"]) == "sources"
    assert did_you_mean("SOURCES", ["sources"]) == "sources"
    assert did_you_mean("zzz", ["sources", "checks"]) is None


def test_registry_miss_suggests() -> None:
    registry: Registry[int] = Registry("algorithm")
    registry.add("random_forest", 1)
    with pytest.raises(ConfigError) as info:
        registry.get("random_forrest")
    assert "unknown algorithm 'random_forrest'" in str(info.value)
    assert info.value.fix == "did you mean 'random_forest'?"
    with pytest.raises(ValueError, match="twice"):
        registry.add("random_forest", 2)
    assert registry.names() == ["random_forest"]
