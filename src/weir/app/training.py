"""The train step and its reproduction: the ML layer wired to the lake, catalog and artifacts.

A model version records everything needed to retrain it: the resolved configuration (with
tuned hyper-parameters), the table versions read, the seed, library versions, git state,
and a digest of its test predictions, which `reproduce` checks a retrain against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

import numpy as np

from weir.app.git_state import git_state
from weir.app.pii import FeatureOrigin, feature_origins
from weir.app.workspace import Workspace
from weir.catalog import (
    ArtifactRef,
    CvScore,
    GitState,
    ModelDetails,
    ModelVersionRecord,
    OnnxExport,
    ServingSpec,
    Tuning,
    VersionRecord,
)
from weir.core.errors import ConfigError
from weir.core.hashing import fingerprint
from weir.project.ml_config import TrainConfig
from weir.registry import ArtifactWriteError, StoredArtifact
from weir.transform import SqlModel

if TYPE_CHECKING:  # the training libraries load when a model trains, not with the app
    import pyarrow as pa

    from weir.ml.train import TrainedModel

Progress = Callable[[str], None]


def study_name(model: str, spec: TrainConfig, data: VersionRecord) -> str:
    """Trials are comparable only for the same data, features, folds, metric and space."""
    relevant = spec.model_dump(mode="json", exclude={"description", "card", "threshold"})
    tune = dict(relevant.get("tune") or {})
    for budget in ("trials", "timeout_seconds", "n_jobs"):  # changing these extends a study
        tune.pop(budget, None)
    relevant["tune"] = tune
    return f"weir.{model}.{fingerprint({'spec': relevant, 'data': data.fingerprint})[:16]}"


def prediction_digest(values: np.ndarray) -> str:
    """SHA-256 of predictions as float64 bytes: equal digests mean identical predictions."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()


def train_model(
    ws: Workspace,
    name: str,
    data: VersionRecord,
    sql_models: Mapping[str, SqlModel],
    *,
    run_id: int | None,
    token: int | None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train, export, register, report and (optionally) log to MLflow one model version;
    returns the step's summary (model, version, metrics, rows, report, warnings, tuning)."""
    from weir.ml.train import train

    spec = ws.project.config.ml[name]
    table = _read(ws, spec, data)
    trained = train(
        table,
        spec,
        f"ml.{name}",
        storage_url=ws.catalog.engine.url.render_as_string(hide_password=False),
        study_name=study_name(name, spec, data),
        progress=progress,
    )
    origins, warnings = _feature_origins(ws, spec, sql_models)
    artifact = ws.artifacts.save_model(name, trained.pipeline)
    exported = _export(ws, name, spec, trained, table, progress)
    warnings += exported.warnings
    git = git_state(ws.project.root)
    details = _details(spec, trained, exported, git)
    version = _register(ws, name, spec, trained, artifact, details, origins, data, run_id, token)
    report = _save_report(ws, spec, trained, version, git, warnings, progress)
    mlflow = None
    if ws.project.config.mlflow is not None:
        from weir.app.mlflow_log import log_version

        outcome = log_version(ws, version, report.path)
        mlflow = outcome.run
        warnings += outcome.warnings
    ws.catalog.add_details(name, version.version, report=_ref(report), mlflow=mlflow)
    return _summary(name, version.version, trained, ws.display_path(report.path), warnings)


def _feature_origins(
    ws: Workspace, spec: TrainConfig, sql_models: Mapping[str, SqlModel]
) -> tuple[list[FeatureOrigin], list[str]]:
    """Where each feature comes from (classified PII among them), and the warnings they give."""
    origins, unknown = feature_origins(
        ws.project, ws.catalog, sql_models, spec.table, spec.features.columns
    )
    warnings = [o.warning for o in origins if o.warning]
    warnings += [f"lineage of {c} is unknown: sqlglot could not trace it" for c in unknown]
    return origins, warnings


def _details(
    spec: TrainConfig, trained: TrainedModel, exported: _Exported, git: dict[str, Any]
) -> ModelDetails:
    """Everything the version records beyond its metrics (the report and MLflow run join
    it after registration)."""
    evaluation = trained.evaluation
    return ModelDetails(
        config=spec.model_dump(mode="json"),
        resolved_params=trained.resolved_params,
        cv={k: CvScore(mean=v["mean"], std=v["std"]) for k, v in trained.cv.items()},
        tuning=Tuning.model_validate(trained.tuning.summary()) if trained.tuning else None,
        git=GitState.model_validate(git),
        test_predictions_sha256=prediction_digest(evaluation.predictions) if evaluation else None,
        confusion_matrix=evaluation.confusion if evaluation else None,
        onnx=exported.onnx,
        serving=exported.serving,
    )


def _register(
    ws: Workspace,
    name: str,
    spec: TrainConfig,
    trained: TrainedModel,
    artifact: StoredArtifact,
    details: ModelDetails,
    origins: list[FeatureOrigin],
    data: VersionRecord,
    run_id: int | None,
    token: int | None,
) -> ModelVersionRecord:
    from weir.ml import environment

    return ws.catalog.register_model_version(
        name,
        task=spec.task,
        algorithm=spec.algorithm,
        metrics=trained.metrics,
        params=trained.params,
        seed=spec.seed,
        features={
            **spec.features.model_dump(mode="json"),
            "target": spec.target,
            "classes": trained.classes,
            "rows": trained.rows,
            "split": {
                "method": spec.split_method,
                "column": spec.split.column,
                "test_fraction": spec.split.test_fraction,
            },
            "decision_threshold": trained.threshold,
            "classified_origins": [
                {"feature": o.feature, "source": o.source, "class": o.class_, "action": o.action}
                for o in origins
            ],
        },
        artifact_path=artifact.relative,
        artifact_sha256=artifact.sha256,
        environment=environment(),
        run_id=run_id,
        step_run_id=token,
        trained_on=[data.id],
        details=details,
    )


def _save_report(
    ws: Workspace,
    spec: TrainConfig,
    trained: TrainedModel,
    version: ModelVersionRecord,
    git: dict[str, Any],
    warnings: list[str],
    progress: Progress | None,
) -> StoredArtifact:
    """The HTML report. Failing to write it leaves the registered version, and says so."""
    from weir.ml.report import ReportContext, render

    if progress:
        progress("writing the report")
    context = ReportContext(
        model=version.model,
        version=version.version,
        project=ws.project.config.name,
        trained_on=version.trained_on,
        environment=version.environment,
        git=git,
        created_at=version.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        warnings=list(warnings),
    )
    try:
        return ws.artifacts.save_file(
            f"reports/{version.model}", ".html", render(trained, spec, context).encode()
        )
    except ArtifactWriteError as exc:  # the version is registered: say so, not "nothing"
        exc.message += (
            f"; {version.model} v{version.version} was registered before its report and "
            "stays, without one (the next run trains a new version)"
        )
        raise


def _summary(
    name: str, version: int, trained: TrainedModel, report: str, warnings: list[str]
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "model": name,
        "version": version,
        "metrics": trained.metrics,
        "rows": trained.rows,
        "report": report,
        "warnings": warnings,
    }
    if trained.tuning is not None:
        summary["tuning"] = {
            "trials": trained.tuning.trials,
            "new": trained.tuning.new_trials,
            "best": trained.tuning.best_value,
        }
    return summary


@dataclass(frozen=True)
class _Exported:
    """What the export adds to a version: the graph's record and the serving spec."""

    onnx: OnnxExport | None = None
    serving: ServingSpec | None = None
    warnings: list[str] = field(default_factory=list)


def _export(
    ws: Workspace,
    name: str,
    spec: TrainConfig,
    trained: TrainedModel,
    table: pa.Table,
    progress: Progress | None,
) -> _Exported:
    """The ONNX graph (parity-checked) and its int8 twin as artifacts, with the serving spec."""
    from weir.ml.export import export, serving_spec

    if not spec.export.onnx:
        return _Exported()
    if progress:
        progress("exporting to ONNX and checking parity")
    exported = export(trained, spec, table.schema, f"train:{name}")
    saved = ws.artifacts.save_file(f"models/{name}", ".onnx", exported.onnx)
    twin = None
    if exported.quantized is not None:
        twin = _ref(ws.artifacts.save_file(f"models/{name}", ".int8.onnx", exported.quantized))
    onnx = OnnxExport.model_validate(
        {**exported.record, "path": saved.relative, "sha256": saved.sha256, "quantized": twin}
    )
    serving = ServingSpec.model_validate(
        {
            **serving_spec(trained, spec, table.schema),
            "graph": twin or onnx.graph,
            "quantized": twin is not None,
            "features": spec.features.model_dump(mode="json"),
        }
    )
    return _Exported(onnx, serving, exported.warnings)


def _ref(stored: StoredArtifact) -> ArtifactRef:
    return ArtifactRef(path=stored.relative, sha256=stored.sha256)


def _read(ws: Workspace, spec: TrainConfig, data: VersionRecord) -> Any:
    available = set(ws.lake.dataset(spec.table, data.version).schema.names)
    return ws.lake.read(spec.table, data.version, [c for c in spec.input_columns if c in available])


@dataclass(frozen=True)
class Reproduction:
    model: str
    version: int
    identical: bool
    max_difference: float
    rows: int
    recorded_metrics: dict[str, float]
    metrics: dict[str, float]
    matches_recorded_digest: bool
    environment_changes: dict[str, tuple[Any, Any]]


def reproduce(
    ws: Workspace, name: str, version: int, progress: Progress | None = None
) -> Reproduction:
    """Retrain a recorded version from its data versions, settings and seed; compare."""
    from weir.ml import environment, predictions
    from weir.ml.algorithms import trusted_types
    from weir.ml.train import train

    record = ws.catalog.model_version(name, version)
    config = record.details.config
    if not config:
        raise ConfigError(
            f"model {name} v{version} was registered before Weir recorded training settings",
            fix="train a new version with 'weir run', then reproduce that one",
        )
    spec = TrainConfig.model_validate(
        {**config, "params": record.details.resolved_params, "tune": None, "cv": None}
    )
    data = _trained_on(ws, record, spec)
    if progress:
        progress(f"retraining {name} v{version} on {spec.table}@{data.version}")
    retrained = train(_read(ws, spec, data), spec, f"ml.{name}")
    assert retrained.evaluation is not None
    stored = ws.artifacts.load(
        record.artifact_path, record.artifact_sha256, trusted_types(record.algorithm)
    )
    before = predictions(stored, retrained.evaluation.x, spec.task)
    after = retrained.evaluation.predictions
    same_shape = before.shape == after.shape
    difference = (
        float(np.max(np.abs(before - after))) if same_shape and before.size else float("inf")
    )
    now = environment()
    changes = {
        package: (then, now["packages"].get(package))
        for package, then in record.environment.get("packages", {}).items()
        if then != now["packages"].get(package)
    }
    return Reproduction(
        model=name,
        version=version,
        identical=same_shape and bool(np.array_equal(before, after)),
        max_difference=difference,
        rows=len(after),
        recorded_metrics=record.metrics,
        metrics=retrained.metrics,
        matches_recorded_digest=prediction_digest(after) == record.details.test_predictions_sha256,
        environment_changes=changes,
    )


def _trained_on(ws: Workspace, record: ModelVersionRecord, spec: TrainConfig) -> VersionRecord:
    for reference in record.trained_on:
        table, _, number = reference.rpartition("@")
        if table == spec.table:
            return ws.catalog.version(table, int(number))
    raise ConfigError(
        f"model {record.model} v{record.version} has no recorded version of {spec.table}",
        fix="retrain it with 'weir run'",
    )
