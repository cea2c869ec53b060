"""Foundations every layer may use: errors, hashing, suggestions, the plugin registry."""

from weir.core.errors import (
    CatalogError,
    ConfigError,
    LakeError,
    NotFoundError,
    SourceError,
    SourceRefusedError,
    SourceUnavailableError,
    StepError,
    Terminal,
    Transient,
    WeirError,
)
from weir.core.hashing import canonical_json, fingerprint, short
from weir.core.plugins import Registry
from weir.core.suggest import did_you_mean

__all__ = [
    "CatalogError",
    "ConfigError",
    "LakeError",
    "NotFoundError",
    "Registry",
    "SourceError",
    "SourceRefusedError",
    "SourceUnavailableError",
    "StepError",
    "Terminal",
    "Transient",
    "WeirError",
    "canonical_json",
    "did_you_mean",
    "fingerprint",
    "short",
]
