"""Optional MLflow logging: a model version's parameters, metrics and report as an MLflow run.

MLflow is an optional dependency (`pip install 'weir[mlflow]'`). The logged run is read back
with MLflow's own client and compared, so "logged" means MLflow holds what Weir recorded.
A tracking server that is down or refuses is a warning: the model version is already safe
in Weir's registry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from weir.app.workspace import Workspace
from weir.catalog import MlflowRun, ModelVersionRecord
from weir.core.errors import ConfigError
from weir.core.hashing import fingerprint
from weir.core.secrets import display_url, url_secrets


@dataclass
class MlflowOutcome:
    run: MlflowRun | None = None  # None: nothing was logged (the warnings say why)
    warnings: list[str] = field(default_factory=list)


def _params(version: ModelVersionRecord) -> dict[str, str]:
    params = {f"param.{k}": str(v) for k, v in version.details.resolved_params.items()}
    params |= {
        "algorithm": version.algorithm,
        "seed": str(version.seed),
        "trained_on": ",".join(version.trained_on),
    }
    return {k: v[:6000] for k, v in params.items()}


def _metrics(version: ModelVersionRecord) -> dict[str, float]:
    found = {
        f"test_{k}": float(v) for k, v in version.metrics.items() if isinstance(v, int | float)
    }
    for name, summary in version.details.cv.items():
        found[f"cv_{name}_mean"] = summary.mean
        found[f"cv_{name}_std"] = summary.std
    return {k: v for k, v in found.items() if math.isfinite(v)}


def log_version(ws: Workspace, version: ModelVersionRecord, report: Path) -> MlflowOutcome:
    config = ws.project.config.mlflow
    assert config is not None
    try:
        import mlflow
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(
            "mlflow: the project logs to MLflow but the mlflow package is not installed",
            fix="pip install 'weir[mlflow]', or remove the mlflow section",
        ) from None
    params, metrics = _params(version), _metrics(version)
    experiment = config.experiment or ws.project.config.name
    try:
        client = MlflowClient(tracking_uri=config.tracking_uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        run = client.create_run(
            experiment_id,
            run_name=f"{version.model}-v{version.version}",
            tags={
                "weir.model": version.model,
                "weir.version": str(version.version),
                "weir.project": ws.project.config.name,
            },
        )
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            params=[mlflow.entities.Param(k, v) for k, v in params.items()],
            metrics=[mlflow.entities.Metric(k, v, 0, 0) for k, v in metrics.items()],
        )
        client.log_artifact(run_id, str(report), artifact_path="weir")
        client.set_terminated(run_id)
        back = client.get_run(run_id).data
    except (MlflowException, OSError) as exc:
        return MlflowOutcome(
            warnings=[
                url_secrets(config.tracking_uri).redact(
                    f"MLflow logging failed ({display_url(config.tracking_uri)}): {exc}"
                )
            ]
        )
    if back.params != params or fingerprint(back.metrics) != fingerprint(metrics):
        return MlflowOutcome(
            warnings=[f"MLflow run {run_id} does not hold what Weir logged (read back differs)"]
        )
    return MlflowOutcome(
        MlflowRun(
            run_id=run_id, experiment=experiment, tracking_uri=display_url(config.tracking_uri)
        )
    )
