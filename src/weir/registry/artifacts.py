"""Model artifacts on disk: content-addressed, written atomically, verified before loading.

A model is stored in skops' format: a zip of JSON and arrays that is rebuilt by loading
only types on an explicit allow-list, so reading an artifact cannot run code even if the
file came from elsewhere. On top, `load` refuses a file whose SHA-256 differs from the one
the catalog recorded when Weir wrote it, and any path outside the artifact root.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weir.core.errors import WRITE_FIXES, ConfigError, NotFoundError, WeirError
from weir.core.hashing import file_sha256

MODEL_SUFFIX = ".skops"


class ArtifactWriteError(WeirError):
    """The OS refused to store an artifact: a full disk, a file-size limit, permissions."""


class ArtifactTamperedError(WeirError):
    """An artifact's bytes differ from what Weir wrote, or it holds types Weir does not trust."""


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
        import skops.io

        return self._write(Path("models") / model_name, MODEL_SUFFIX, skops.io.dumps(obj))

    def save_file(self, folder: str, suffix: str, content: bytes) -> StoredArtifact:
        """A file beside the models (a report), content-addressed like them."""
        return self._write(Path(folder), suffix, content)

    def _write(self, folder: Path, suffix: str, content: bytes) -> StoredArtifact:
        directory = self.root / folder
        temporary = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(handle, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            digest = file_sha256(Path(temporary))
            final = directory / f"{digest}{suffix}"
            Path(temporary).replace(final)  # atomic: readers see no file or the whole file
        except BaseException as exc:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise ArtifactWriteError(
                    f"could not write an artifact to {directory}: "
                    f"{os.strerror(exc.errno) if exc.errno else exc}",
                    fix=WRITE_FIXES.get(exc.errno or -1, "run again with --debug for the details"),
                ) from exc
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

    def _present(self, relative: str) -> Path:
        path = self.resolve(relative)
        if not path.is_file():
            raise NotFoundError(
                f"artifact {path} is missing", fix="retrain with 'weir run --force'"
            )
        return path

    @staticmethod
    def _check(path: Path, digest: str, expected_sha256: str) -> None:
        if digest != expected_sha256:
            raise ArtifactTamperedError(
                f"artifact {path} has checksum {digest[:12]}, the catalog recorded {expected_sha256[:12]}",
                fix="the file was changed after Weir wrote it; retrain instead of loading it",
            )

    def read_verified(self, relative: str, expected_sha256: str) -> bytes:
        """The file's bytes, for a reader that needs them all, if its checksum matches."""
        path = self._present(relative)
        content = path.read_bytes()
        self._check(path, hashlib.sha256(content).hexdigest(), expected_sha256)
        return content

    def verified(self, relative: str, expected_sha256: str) -> Path:
        """The file's path if its checksum matches; read in chunks, never whole, so checking
        a large model costs no memory. Every byte is hashed each time: a change that keeps
        the size and modification time (a bad disk) is still seen."""
        path = self._present(relative)
        self._check(path, file_sha256(path), expected_sha256)
        return path

    def intact(self, relative: str, expected_sha256: str) -> bool:
        """True when the file is in the store with the checksum Weir recorded."""
        try:
            self.verified(relative, expected_sha256)
        except WeirError:
            return False
        return True

    def load(self, relative: str, expected_sha256: str, trusted: Collection[str] = ()) -> Any:
        """The model, if its checksum matches and every type in it is on the allow-list."""
        import skops.io

        if not relative.endswith(MODEL_SUFFIX):
            raise ArtifactTamperedError(
                f"artifact {relative} is not in Weir's model format ({MODEL_SUFFIX})",
                fix="pickles are never loaded; retrain with 'weir run --force'",
            )
        content = self.read_verified(relative, expected_sha256)
        try:
            found = skops.io.get_untrusted_types(data=content)
        except Exception as exc:  # not a skops zip: a pickle, a cut copy, anything else
            raise ArtifactTamperedError(
                f"artifact {relative} is not a model file Weir wrote (skops cannot read it: "
                f"{type(exc).__name__}: {exc}); nothing in it was run",
                fix="retrain with 'weir run --force'; if its checksum in the catalog was "
                "changed too, the catalog was edited: restore it from a backup",
            ) from None
        unknown = sorted(set(found) - set(trusted))
        if unknown:
            raise ArtifactTamperedError(
                f"artifact {relative} contains types Weir does not load: {', '.join(unknown)}",
                fix="an algorithm plug-in must list the types its models contain (Algorithm.trusted_types)",
            )
        try:
            return skops.io.loads(content, trusted=sorted(trusted))
        except Exception as exc:  # a zip of the right types whose contents are not whole
            raise ArtifactTamperedError(
                f"artifact {relative} cannot be read as a model: {type(exc).__name__}: {exc}",
                fix="retrain with 'weir run --force'",
            ) from None
