"""The metadata store: datasets, versions, lineage, runs, checks and models."""

from weir.catalog.models import STAGES, StageMove
from weir.catalog.records import (
    CheckRecord,
    ModelVersionRecord,
    RunRecord,
    StepRunRecord,
    VersionRecord,
)
from weir.catalog.store import Catalog, CatalogUnavailableError, masked, normalise_url

__all__ = [
    "STAGES",
    "Catalog",
    "CatalogUnavailableError",
    "CheckRecord",
    "ModelVersionRecord",
    "RunRecord",
    "StageMove",
    "StepRunRecord",
    "VersionRecord",
    "masked",
    "normalise_url",
]
