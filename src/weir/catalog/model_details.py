"""What a model version records besides its metrics, typed and versioned: the training
settings, cross-validation, tuning, git state, the ONNX export, the serving spec, the report
and the MLflow run.

The catalog keeps it as one JSON value per version (model_versions.details). Training
writes it once (and adds the report and MLflow run after); every reader (serving, batch
scoring, the CLI, reproduction, MLflow logging) reads these attributes, never keys.

Schema versions (`schema_version` in the JSON):

    1  Weir before typed details: no `schema_version` key. The served graph was found from
       `onnx` (its int8 twin `onnx.quantized` if present) and the features from
       `config.features`. Read as version 1 and migrated in memory (`_from_v1`).
    2  `serving` names everything serving and scoring need: the graph it runs (int8 or
       not) and the feature spec, besides the request fields, ONNX inputs, known
       categories, classes, threshold and task.

A version newer than this Weir knows is refused with the fix (upgrade Weir): the meaning
of a known key may have changed, so reading it as ours could serve the wrong graph.

Unknown keys are forbidden when Weir builds details (constructing these models in code):
a misspelt key in Weir's own code fails its tests instead of reaching a catalog. They are
tolerated and kept when reading a stored record of a version this Weir knows, and written
back unchanged if the record is extended: a key that a hand edit or another build added is
read by nobody here, and refusing it would make a whole registry unreadable (no
`weir models`, no serving) over a field that changes nothing Weir does.

The catalog layer cannot import the project's `TrainConfig`, so `config` (and the feature
spec in `serving.features`) stay that model's JSON; the project layer validates them
(`TrainConfig.model_validate`, `FeatureSpec.model_validate`) where they are used.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, model_validator

from weir.core.errors import CatalogError

DETAILS_SCHEMA_VERSION = 2

Task = Literal["classification", "regression", "clustering"]
InputKind = Literal["number", "category", "text", "date", "timestamp"]
OnnxInputKind = Literal["float", "string"]
ClassLabel = bool | int | float | str

_READING = "reading a stored record"  # the validation context that tolerates unknown keys


class ModelDetailsError(CatalogError):
    """A model version's recorded details cannot be read by this Weir."""


class _Record(BaseModel):
    """Frozen; unknown keys refused when built in code, kept when read from the catalog."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="after")
    def _known_keys_only(self, info: ValidationInfo) -> Self:
        if self.model_extra and info.context != _READING:
            raise ValueError(f"unknown field(s): {', '.join(sorted(self.model_extra))}")
        return self


class ArtifactRef(_Record):
    """A file in the artifact store and the SHA-256 it is read back against."""

    path: str
    sha256: str

    def as_tuple(self) -> tuple[str, str]:
        return self.path, self.sha256


class Parity(_Record):
    """How far the ONNX graph's predictions are from the native model's on the test rows."""

    rows: int
    max_difference: float
    tolerance: float


class Quantization(_Record):
    """Whether the int8 graph is used, and what was measured to decide (all absent when it
    was not measured, e.g. for clustering: then `reason` says why)."""

    used: bool
    reason: str | None = None
    metric: str | None = None
    float32: float | None = None
    int8: float | None = None
    drop: float | None = None
    max_drop: float | None = None
    size: dict[str, int] = {}
    seconds_on_test_rows: dict[str, float] = {}


class OnnxExport(_Record):
    """The float32 graph (parity-checked), its int8 twin if that passed, and the checks."""

    path: str
    sha256: str
    size: int
    inputs: dict[str, OnnxInputKind]
    parity: Parity
    quantization: Quantization | None = None
    quantized: ArtifactRef | None = None

    @property
    def graph(self) -> ArtifactRef:
        return ArtifactRef(path=self.path, sha256=self.sha256)


class ServingSpec(_Record):
    """Everything serving and batch scoring need besides the graph's bytes."""

    graph: ArtifactRef  # the graph that is served: the int8 twin if it passed its check
    quantized: bool
    task: Task
    features: dict[str, Any]  # the project's FeatureSpec as JSON: prepares request rows
    inputs: dict[str, InputKind]  # request field -> kind, in the order rows are prepared
    onnx_inputs: dict[str, OnnxInputKind]  # prepared column -> graph input type, in order
    known_categories: dict[str, list[str]] = {}  # categories outside these are an error
    classes: list[ClassLabel] = []
    threshold: float | None = None


class CvScore(_Record):
    mean: float
    std: float


class Tuning(_Record):
    """The Optuna study that chose the hyper-parameters."""

    study: str
    method: str
    metric: str
    direction: str
    best_params: dict[str, Any]
    best_value: float
    best_std: float | None = None
    best_cv: dict[str, CvScore] = {}  # recorded since tuning keeps every fold metric
    trials: int
    new_trials: int
    pruned: int
    seconds: float


class GitState(_Record):
    repository: bool
    commit: str | None = None
    dirty: bool | None = None


class MlflowRun(_Record):
    run_id: str
    experiment: str
    tracking_uri: str  # shown without credentials


class ModelDetails(_Record):
    """One model version's record beyond its metrics. Every field may be absent: versions
    registered before Weir recorded details read as empty, and `reproduce` says so."""

    schema_version: int = DETAILS_SCHEMA_VERSION
    config: dict[str, Any] | None = None  # the project's TrainConfig as JSON
    resolved_params: dict[str, Any] = {}
    cv: dict[str, CvScore] = {}
    tuning: Tuning | None = None
    git: GitState | None = None
    test_predictions_sha256: str | None = None
    confusion_matrix: list[list[int]] | None = None
    onnx: OnnxExport | None = None
    serving: ServingSpec | None = None
    report: ArtifactRef | None = None
    mlflow: MlflowRun | None = None

    def files(self) -> list[ArtifactRef]:
        """The artifact files these details name: the ONNX graph, its int8 twin, the report."""
        found = [self.onnx.graph] if self.onnx else []
        if self.onnx and self.onnx.quantized:
            found.append(self.onnx.quantized)
        if self.report:
            found.append(self.report)
        return found

    def to_stored(self) -> dict[str, Any]:
        """The JSON value the catalog keeps (Python mode, so NaN scores stay numbers)."""
        return self.model_dump()

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None, where: str) -> ModelDetails:
        """Details as the catalog holds them, of any known schema version, as this
        version's model; `where` names the model version in errors."""
        raw = dict(stored or {})
        version = raw.get("schema_version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ModelDetailsError(
                f"{where}: its recorded details have an invalid schema_version {version!r}",
                fix="the catalog was edited by hand: restore it from a backup, or retrain "
                "the model ('weir train MODEL --force') and use the new version",
            )
        if version > DETAILS_SCHEMA_VERSION:
            raise ModelDetailsError(
                f"{where}: its details were recorded by a newer Weir (details schema "
                f"{version}; this Weir reads up to {DETAILS_SCHEMA_VERSION})",
                fix="upgrade Weir (pip install -U weir) to use this catalog",
            )
        if version == 1:
            raw = _from_v1(raw)
        try:
            return cls.model_validate(raw, context=_READING)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(the record)"
            raise ModelDetailsError(
                f"{where}: its recorded details cannot be read ({field}: {first['msg']}; "
                f"{exc.error_count()} problem(s), details schema {version})",
                fix="the catalog was edited by hand or damaged: restore it from a backup, or "
                "retrain the model ('weir train MODEL --force') and use the new version",
            ) from None


def _from_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2: the serving spec gains the graph it serves (the int8 twin if one was
    kept), whether that is int8, and the feature spec from the training settings."""
    migrated = {**raw, "schema_version": DETAILS_SCHEMA_VERSION}
    serving, onnx = raw.get("serving"), raw.get("onnx")
    features = (raw.get("config") or {}).get("features")
    if isinstance(serving, dict) and isinstance(onnx, dict) and features is not None:
        quantized = onnx.get("quantized")
        graph = quantized or {"path": onnx.get("path"), "sha256": onnx.get("sha256")}
        migrated["serving"] = {
            **serving,
            "graph": graph,
            "quantized": quantized is not None,
            "features": features,
        }
    elif serving is not None:  # a spec without a graph: version 1 served nothing from it
        migrated["serving"] = None
    return migrated
