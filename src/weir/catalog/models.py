"""Models in the catalog: versions with their metrics, artifacts and training data."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from weir.catalog.base import CatalogBase, _utc
from weir.catalog.model_details import ArtifactRef, MlflowRun, ModelDetails
from weir.catalog.records import ModelVersionRecord
from weir.catalog.schema import (
    Dataset,
    DatasetVersion,
    LineageEdge,
    Meta,
    Model,
    ModelVersion,
    StageChange,
)
from weir.core.errors import ConfigError, NotFoundError
from weir.core.suggest import suggestion_text

STAGES = ("candidate", "staging", "production", "archived")
EXCLUSIVE_STAGES = ("staging", "production")


@dataclass(frozen=True)
class StageMove:
    version: int
    from_stage: str
    to_stage: str
    reason: str
    at: datetime


class ModelCatalog(CatalogBase):
    # models -------------------------------------------------------------------------------

    def register_model_version(
        self,
        name: str,
        *,
        task: str,
        algorithm: str,
        metrics: dict[str, Any],
        params: dict[str, Any],
        seed: int,
        features: dict[str, Any],
        artifact_path: str,
        artifact_sha256: str,
        environment: dict[str, Any],
        run_id: int | None,
        step_run_id: int | None,
        trained_on: Sequence[int],
        details: ModelDetails | None = None,
    ) -> ModelVersionRecord:
        with self._session() as session:
            model = session.scalars(select(Model).where(Model.name == name)).first()
            if model is None:
                model = Model(name=name, task=task)
                session.add(model)
                session.flush()
            latest = session.scalar(
                select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)
            )
            used = session.get(Meta, used_versions_key(name))  # numbers a lost catalog gave
            row = ModelVersion(
                model_id=model.id,
                version=max(latest or 0, int(used.value) if used else 0) + 1,
                algorithm=algorithm,
                metrics=metrics,
                params=params,
                seed=seed,
                features=features,
                artifact_path=artifact_path,
                artifact_sha256=artifact_sha256,
                environment=environment,
                details=(details or ModelDetails()).to_stored(),
                run_id=run_id,
                step_run_id=step_run_id,
            )
            session.add(row)
            session.flush()
            for parent in trained_on:
                session.add(
                    LineageEdge(
                        parent_version_id=parent, child_model_version_id=row.id, run_id=run_id
                    )
                )
            return self._model_record(session, row, model)

    def model_versions(self, name: str | None = None) -> list[ModelVersionRecord]:
        with self._session() as session:
            query = (
                select(ModelVersion, Model).join(Model).order_by(Model.name, ModelVersion.version)
            )
            if name is not None:
                query = query.where(Model.name == name)
            rows = session.execute(query).all()
            if name is not None and not rows:
                known = session.scalars(select(Model.name)).all()
                raise NotFoundError(
                    f"no model '{name}' in the registry", fix=suggestion_text(name, known)
                )
            return [self._model_record(session, v, m) for v, m in rows]

    def model_version(self, name: str, version: int | None = None) -> ModelVersionRecord:
        versions = self.model_versions(name)
        if version is None:
            return versions[-1]
        for record in versions:
            if record.version == version:
                return record
        raise NotFoundError(
            f"model '{name}' has no version {version}",
            fix=f"versions: {', '.join(str(v.version) for v in versions)}",
        )

    def add_details(
        self,
        name: str,
        version: int,
        *,
        report: ArtifactRef | None = None,
        mlflow: MlflowRun | None = None,
    ) -> ModelDetails:
        """Facts known after registration (the report, the MLflow run) join the version;
        returns its details as now recorded."""
        with self._session() as session:
            row = self._version_row(session, name, version)
            stored = ModelDetails.from_stored(row.details, f"model {name} v{version}")
            facts = {"report": report, "mlflow": mlflow}
            details = stored.model_copy(update={k: v for k, v in facts.items() if v is not None})
            row.details = details.to_stored()
            return details

    # stages -------------------------------------------------------------------------------

    def set_stage(self, name: str, version: int, stage: str, reason: str = "") -> list[StageMove]:
        """Move a version to `stage`. One version is in production or staging at a time:
        the one it replaces is archived. Returns every move made, for the caller to show."""
        if stage not in STAGES:
            raise ConfigError(f"unknown stage '{stage}'", fix=suggestion_text(stage, STAGES))
        moves: list[StageMove] = []
        with self._session() as session:
            row = self._version_row(session, name, version)
            if row.stage == stage:
                return moves
            moves.append(self._move(session, row, stage, reason))
            if stage in EXCLUSIVE_STAGES:
                others = session.scalars(
                    select(ModelVersion).where(
                        ModelVersion.model_id == row.model_id,
                        ModelVersion.stage == stage,
                        ModelVersion.id != row.id,
                    )
                ).all()
                for other in others:
                    moves.append(self._move(session, other, "archived", f"replaced by v{version}"))
        return moves

    def rollback(self, name: str, reason: str = "") -> list[StageMove]:
        """Production goes back to the version that was in production before the current one."""
        with self._session() as session:
            model = session.scalars(select(Model).where(Model.name == name)).first()
            if model is None:
                raise NotFoundError(f"no model '{name}' in the registry", fix="see 'weir models'")
            current = session.scalars(
                select(ModelVersion).where(
                    ModelVersion.model_id == model.id, ModelVersion.stage == "production"
                )
            ).first()
            promoted = (
                session.execute(
                    select(ModelVersion.version)
                    .join(StageChange, StageChange.model_version_id == ModelVersion.id)
                    .where(ModelVersion.model_id == model.id, StageChange.to_stage == "production")
                    .order_by(StageChange.id.desc())
                )
                .scalars()
                .all()
            )
        previous = next((v for v in promoted if current is None or v != current.version), None)
        if previous is None:
            raise NotFoundError(
                f"model '{name}' has no earlier production version to roll back to",
                fix="promote a version with 'weir models promote'",
            )
        return self.set_stage(name, previous, "production", reason or "roll-back")

    def stage_history(self, name: str) -> list[StageMove]:
        with self._session() as session:
            rows = session.execute(
                select(StageChange, ModelVersion.version)
                .join(ModelVersion, StageChange.model_version_id == ModelVersion.id)
                .join(Model)
                .where(Model.name == name)
                .order_by(StageChange.id)
            ).all()
            return [
                StageMove(
                    version, c.from_stage, c.to_stage, c.reason, _utc(c.changed_at) or c.changed_at
                )
                for c, version in rows
            ]

    def in_stage(self, name: str, stage: str) -> ModelVersionRecord | None:
        """The latest version in `stage` (one query: the server asks every few seconds)."""
        with self._session() as session:
            found = session.execute(
                select(ModelVersion, Model)
                .join(Model)
                .where(Model.name == name, ModelVersion.stage == stage)
                .order_by(ModelVersion.version.desc())
                .limit(1)
            ).first()
            return self._model_record(session, found[0], found[1]) if found else None

    @staticmethod
    def _move(session: Session, row: ModelVersion, stage: str, reason: str) -> StageMove:
        change = StageChange(
            model_version_id=row.id, from_stage=row.stage, to_stage=stage, reason=reason
        )
        session.add(change)
        before, row.stage = row.stage, stage
        session.flush()
        return StageMove(
            row.version, before, stage, reason, _utc(change.changed_at) or change.changed_at
        )

    @staticmethod
    def _version_row(session: Session, name: str, version: int) -> ModelVersion:
        row = session.scalars(
            select(ModelVersion)
            .join(Model)
            .where(Model.name == name, ModelVersion.version == version)
        ).first()
        if row is None:
            known = session.scalars(select(Model.name)).all()
            fix = suggestion_text(name, known) if name not in known else f"see 'weir models {name}'"
            raise NotFoundError(f"model '{name}' has no version {version}", fix=fix)
        return row

    @staticmethod
    def _model_record(session: Session, row: ModelVersion, model: Model) -> ModelVersionRecord:
        parents = session.execute(
            select(Dataset.name, DatasetVersion.version)
            .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
            .join(LineageEdge, LineageEdge.parent_version_id == DatasetVersion.id)
            .where(LineageEdge.child_model_version_id == row.id)
        ).all()
        return ModelVersionRecord(
            id=row.id,
            model=model.name,
            task=model.task,
            version=row.version,
            stage=row.stage,
            algorithm=row.algorithm,
            metrics=dict(row.metrics),
            params=dict(row.params),
            seed=row.seed,
            features=dict(row.features),
            artifact_path=row.artifact_path,
            artifact_sha256=row.artifact_sha256,
            environment=dict(row.environment),
            details=ModelDetails.from_stored(row.details, f"model {model.name} v{row.version}"),
            run_id=row.run_id,
            created_at=_utc(row.created_at) or row.created_at,
            trained_on=[f"{n}@{v}" for n, v in parents],
        )


def used_versions_key(model: str) -> str:
    """The weir_meta key under which a rebuilt catalog keeps how many version numbers of
    `model` were given before (its artifacts, reports and prediction log carry them)."""
    return "model_versions_used:" + hashlib.sha256(model.encode()).hexdigest()[:40]
