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
from weir.catalog.monitoring import Measure, MonitorResultRecord, Status, WindowRef
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
    "Measure",
    "MlflowRun",
    "ModelDetails",
    "ModelDetailsError",
    "ModelVersionRecord",
    "MonitorResultRecord",
    "OnnxExport",
    "Parity",
    "Quantization",
    "RunProcess",
    "RunRecord",
    "ServingSpec",
    "StageMove",
    "Status",
    "StepRunRecord",
    "Tuning",
    "VersionRecord",
    "WindowRef",
    "masked",
    "normalise_url",
    "sqlite_path",
]
