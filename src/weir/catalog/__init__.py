"""The metadata store: datasets, versions, lineage, runs, checks and models."""

from weir.catalog.failures import (
    CatalogCorruptError,
    CatalogLostError,
    CatalogUnavailableError,
    CatalogWriteError,
)
from weir.catalog.model_details import (
    DETAILS_SCHEMA_VERSION,
    ArtifactRef,
    CvScore,
    GitState,
    MlflowRun,
    ModelDetails,
    ModelDetailsError,
    OnnxExport,
    Parity,
    Quantization,
    ServingSpec,
    Tuning,
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
    "DETAILS_SCHEMA_VERSION",
    "STAGES",
    "ArtifactRef",
    "Catalog",
    "CatalogCorruptError",
    "CatalogLostError",
    "CatalogUnavailableError",
    "CatalogWriteError",
    "CheckRecord",
    "CvScore",
    "GitState",
    "MlflowRun",
    "ModelDetails",
    "ModelDetailsError",
    "ModelVersionRecord",
    "OnnxExport",
    "Parity",
    "Quantization",
    "RunProcess",
    "RunRecord",
    "ServingSpec",
    "StageMove",
    "StepRunRecord",
    "Tuning",
    "VersionRecord",
    "masked",
    "normalise_url",
    "sqlite_path",
]
