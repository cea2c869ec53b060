"""Model registry: artifacts on disk with checksums; versions live in the catalog."""

from weir.registry.artifacts import (
    ArtifactStore,
    ArtifactTamperedError,
    ArtifactWriteError,
    StoredArtifact,
)

__all__ = ["ArtifactStore", "ArtifactTamperedError", "ArtifactWriteError", "StoredArtifact"]
