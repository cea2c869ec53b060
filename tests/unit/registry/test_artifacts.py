from __future__ import annotations

from pathlib import Path

import pytest

from weir.core import ConfigError, NotFoundError
from weir.registry import ArtifactStore, ArtifactTamperedError


def test_save_is_content_addressed_and_load_verifies(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    stored = store.save_model("m", {"weights": [1, 2, 3]})
    assert stored.path.name == f"{stored.sha256}.joblib"
    assert store.load(stored.relative, stored.sha256) == {"weights": [1, 2, 3]}
    assert not list(stored.path.parent.glob("*.tmp"))


def test_a_changed_artifact_is_never_unpickled(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    stored = store.save_model("m", {"weights": [1]})
    stored.path.write_bytes(stored.path.read_bytes() + b"\x00")
    with pytest.raises(ArtifactTamperedError, match="checksum"):
        store.load(stored.relative, stored.sha256)


def test_missing_and_escaping_paths(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(NotFoundError):
        store.load("models/m/nope.joblib", "0" * 64)
    with pytest.raises(ConfigError, match="leaves the artifact store"):
        store.load("../../etc/passwd", "0" * 64)
