"""The metadata store: datasets, versions, lineage, runs, checks and models."""

from weir.catalog.records import (
    CheckRecord,
    ModelVersionRecord,
    RunRecord,
    StepRunRecord,
    VersionRecord,
)
from weir.catalog.store import Catalog, CatalogUnavailableError, masked, normalise_url

__all__ = [
    "Catalog",
    "CatalogUnavailableError",
    "CheckRecord",
    "ModelVersionRecord",
    "RunRecord",
    "StepRunRecord",
    "VersionRecord",
    "masked",
    "normalise_url",
]
