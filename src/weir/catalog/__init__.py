"""The metadata store: datasets, versions, lineage, runs, checks and models."""

from weir.catalog.failures import (
    CatalogCorruptError,
    CatalogLostError,
    CatalogUnavailableError,
    CatalogWriteError,
)
from weir.catalog.models import STAGES, StageMove
from weir.catalog.records import (
    CheckRecord,
    ModelVersionRecord,
    RunProcess,
    RunRecord,
    StepRunRecord,
    VersionRecord,
)
from weir.catalog.store import Catalog, masked, normalise_url, sqlite_path

__all__ = [
    "STAGES",
    "Catalog",
    "CatalogCorruptError",
    "CatalogLostError",
    "CatalogUnavailableError",
    "CatalogWriteError",
    "CheckRecord",
    "ModelVersionRecord",
    "RunProcess",
    "RunRecord",
    "StageMove",
    "StepRunRecord",
    "VersionRecord",
    "masked",
    "normalise_url",
    "sqlite_path",
]
