"""The train step and its reproduction: the ML layer wired to the lake, catalog and artifacts.

A model version records everything needed to retrain it: the resolved configuration (with
tuned hyper-parameters), the table versions read, the seed, library versions, git state,
and a digest of its test predictions, which `reproduce` checks a retrain against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import numpy as np

from weir.app.git_state import git_state
from weir.app.pii import feature_origins
from weir.app.workspace import Workspace
from weir.catalog import ModelVersionRecord, VersionRecord
from weir.core.errors import ConfigError
from weir.core.hashing import fingerprint
from weir.project.ml_config import TrainConfig
from weir.registry import ArtifactWriteError
from weir.transform import SqlModel

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
    from weir.ml import environment
    from weir.ml.report import ReportContext, render
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
    origins, unknown = feature_origins(
        ws.project, ws.catalog, sql_models, spec.table, spec.features.columns
    )
    warnings = [o.warning for o in origins if o.warning]
    warnings += [f"lineage of {c} is unknown: sqlglot could not trace it" for c in unknown]
    artifact = ws.artifacts.save_model(name, trained.pipeline)
    evaluation = trained.evaluation
    deploy = _export(ws, name, spec, trained, table, progress)
    warnings += deploy.get("warnings", [])
    git = git_state(ws.project.root)
    details = {
        "config": spec.model_dump(mode="json"),
        "resolved_params": trained.resolved_params,
        "cv": trained.cv,
        "tuning": trained.tuning.summary() if trained.tuning else None,
        "git": git,
        "test_predictions_sha256": prediction_digest(evaluation.predictions)
        if evaluation
        else None,
        "confusion_matrix": evaluation.confusion if evaluation else None,
        **{k: v for k, v in deploy.items() if k != "warnings"},
    }
    version = ws.catalog.register_model_version(
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
    if progress:
        progress("writing the report")
    context = ReportContext(
        model=name,
        version=version.version,
        project=ws.project.config.name,
        trained_on=version.trained_on,
        environment=version.environment,
        git=git,
        created_at=version.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        warnings=warnings,
    )
    try:
        report = ws.artifacts.save_file(
            f"reports/{name}", ".html", render(trained, spec, context).encode()
        )
    except ArtifactWriteError as exc:  # the version is registered: say so, not "nothing"
        exc.message += (
            f"; {name} v{version.version} was registered before its report and stays, "
            "without one (the next run trains a new version)"
        )
        raise
    extra: dict[str, Any] = {"report": {"path": report.relative, "sha256": report.sha256}}
    if ws.project.config.mlflow is not None:
        from weir.app.mlflow_log import log_version

        outcome = log_version(ws, version, report.path)
        extra["mlflow"] = outcome.record
        warnings += outcome.warnings
    ws.catalog.add_details(name, version.version, extra)
    summary: dict[str, Any] = {
        "model": name,
        "version": version.version,
        "metrics": trained.metrics,
        "rows": trained.rows,
        "report": ws.display_path(report.path),
        "warnings": warnings,
    }
    if trained.tuning is not None:
        summary["tuning"] = {
            "trials": trained.tuning.trials,
            "new": trained.tuning.new_trials,
            "best": trained.tuning.best_value,
        }
    return summary


def _export(
    ws: Workspace,
    name: str,
    spec: TrainConfig,
    trained: Any,
    table: Any,
    progress: Progress | None,
) -> dict[str, Any]:
    """The ONNX graph (parity-checked) and the serving spec, as artifacts and details."""
    from weir.ml.export import export, serving_spec

    if not spec.export.onnx:
        return {}
    if progress:
        progress("exporting to ONNX and checking parity")
    exported = export(trained, spec, table.schema, f"train:{name}")
    onnx = ws.artifacts.save_file(f"models/{name}", ".onnx", exported.onnx)
    record = {**exported.record, "path": onnx.relative, "sha256": onnx.sha256}
    if exported.quantized is not None:
        quantized = ws.artifacts.save_file(f"models/{name}", ".int8.onnx", exported.quantized)
        record["quantized"] = {"path": quantized.relative, "sha256": quantized.sha256}
    return {
        "onnx": record,
        "serving": serving_spec(trained, spec, table.schema),
        "warnings": exported.warnings,
    }


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
    config = record.details.get("config")
    if not config:
        raise ConfigError(
            f"model {name} v{version} was registered before Weir recorded training settings",
            fix="train a new version with 'weir run', then reproduce that one",
        )
    spec = TrainConfig.model_validate(
        {**config, "params": record.details.get("resolved_params", {}), "tune": None, "cv": None}
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
        matches_recorded_digest=prediction_digest(after)
        == record.details.get("test_predictions_sha256"),
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
