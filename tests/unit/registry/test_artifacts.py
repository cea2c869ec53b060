from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from weir.core import ConfigError, NotFoundError
from weir.registry import ArtifactStore, ArtifactTamperedError


def fitted() -> LogisticRegression:
    x = np.arange(20, dtype=float).reshape(10, 2)
    return LogisticRegression().fit(x, [0, 1] * 5)


def test_save_is_content_addressed_and_load_verifies(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    model = fitted()
    stored = store.save_model("m", model)
    assert stored.path.name == f"{stored.sha256}.skops"
    loaded = store.load(stored.relative, stored.sha256)
    assert np.array_equal(loaded.coef_, model.coef_)
    assert not list(stored.path.parent.glob("*.tmp"))


def test_a_changed_artifact_is_never_loaded(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    stored = store.save_model("m", fitted())
    stored.path.write_bytes(stored.path.read_bytes() + b"\x00")
    with pytest.raises(ArtifactTamperedError, match="checksum"):
        store.load(stored.relative, stored.sha256)


def test_types_off_the_allow_list_are_refused_even_with_a_matching_checksum(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    stored = store.save_model("m", FunctionTransformer(np.clip).fit(np.ones((2, 1))))
    with pytest.raises(ArtifactTamperedError, match=r"numpy\.clip"):
        store.load(stored.relative, stored.sha256)
    assert store.load(stored.relative, stored.sha256, trusted=["numpy.clip"]).func is np.clip


def test_a_pickle_is_never_loaded(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    stored = store.save_file("models/m", ".joblib", pickle.dumps({"a": 1}))
    with pytest.raises(ArtifactTamperedError, match="never loaded"):
        store.load(stored.relative, stored.sha256)


def test_missing_and_escaping_paths(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(NotFoundError):
        store.load("models/m/nope.skops", "0" * 64)
    with pytest.raises(ConfigError, match="leaves the artifact store"):
        store.load("../../etc/passwd.skops", "0" * 64)


_FILE_SIZE_LIMIT = """
import resource, sys
from pathlib import Path
from weir.core import WeirError
from weir.registry import ArtifactStore
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000, 1_000))  # a full disk fails writes alike
try:
    ArtifactStore(Path(sys.argv[1])).save_file("reports/m", ".html", b"x" * 5_000)
except WeirError as exc:
    print("WEIR", exc.message)
    print("FIX", exc.fix)
"""


def test_an_artifact_the_disk_refuses_is_named_with_the_os_cause(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FILE_SIZE_LIMIT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert f"WEIR could not write an artifact to {tmp_path / 'reports' / 'm'}" in done.stdout
    assert "File too large" in done.stdout and "ulimit -f" in done.stdout
    assert list((tmp_path / "reports" / "m").iterdir()) == []  # no half-written file kept


class _Runs:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("UNPICKLED",))


@pytest.mark.parametrize("content", [pickle.dumps(_Runs()), b"PK\x03\x04 not a whole zip"])
def test_a_pickle_or_garbage_named_like_a_model_with_its_checksum_recorded_is_refused(
    tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone who also rewrote the catalog's checksum: the file is still not read as skops."""
    store = ArtifactStore(tmp_path)
    stored = store.save_file("models/m", ".skops", content)
    with pytest.raises(ArtifactTamperedError, match="is not a model file Weir wrote"):
        store.load(stored.relative, stored.sha256)
    assert "UNPICKLED" not in capsys.readouterr().out


def test_checking_an_artifact_reads_it_in_chunks_and_still_sees_a_same_size_change(
    tmp_path: Path,
) -> None:
    """Every `weir run` checks each file of a model's latest version: it read each one whole
    into memory (a 300 MB model cost 300 MB more each run). A byte changed in place, keeping the
    size and the time it was written, must still be seen: a bad disk changes neither."""
    import os
    import tracemalloc

    store = ArtifactStore(tmp_path)
    size = 8 << 20
    stored = store.save_file("reports", ".bin", bytes(size))
    tracemalloc.start()
    try:
        assert store.intact(stored.relative, stored.sha256)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size // 2  # chunks of 1 MB, not the 8 MB file

    before = stored.path.stat()
    with stored.path.open("r+b") as handle:
        handle.seek(size // 2)
        handle.write(b"\x01")
    os.utime(stored.path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert not store.intact(stored.relative, stored.sha256)
    stored.path.unlink()
    assert not store.intact(stored.relative, stored.sha256)
