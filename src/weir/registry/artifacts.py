"""Model artifacts on disk: content-addressed, written atomically, verified before loading.

The file is a joblib pickle of the fitted scikit-learn pipeline. Unpickling runs code, so
`load` refuses any file whose SHA-256 differs from the one the catalog recorded when Weir
wrote it, and any path outside the artifact root. (A format Weir controls end to end, and
ONNX for exchange, come with the learn and deploy issues.)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib

from weir.core.errors import ConfigError, NotFoundError, WeirError
from weir.core.hashing import file_sha256


class ArtifactTamperedError(WeirError):
    """An artifact's bytes differ from what Weir wrote; it is not loaded."""


@dataclass(frozen=True)
class StoredArtifact:
    path: Path
    relative: str
    sha256: str
    size: int


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save_model(self, model_name: str, obj: Any) -> StoredArtifact:
        directory = self.root / "models" / model_name
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
        os.close(handle)
        try:
            joblib.dump(obj, temporary, compress=3)
            digest = file_sha256(Path(temporary))
            final = directory / f"{digest}.joblib"
            Path(temporary).replace(final)  # atomic: readers see no file or the whole file
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return StoredArtifact(
            final, final.relative_to(self.root).as_posix(), digest, final.stat().st_size
        )

    def resolve(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ConfigError(
                f"artifact path {relative!r} leaves the artifact store",
                fix="use a path Weir recorded",
            )
        return path

    def load(self, relative: str, expected_sha256: str) -> Any:
        path = self.resolve(relative)
        if not path.is_file():
            raise NotFoundError(
                f"model artifact {path} is missing", fix="retrain with 'weir run --force'"
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != expected_sha256:
            raise ArtifactTamperedError(
                f"model artifact {path} has checksum {digest[:12]}, the catalog recorded {expected_sha256[:12]}",
                fix="the file was changed after Weir wrote it; retrain instead of loading it",
            )
        return joblib.load(path)
