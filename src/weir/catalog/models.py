"""Models in the catalog: versions with their metrics, artifacts and training data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from weir.catalog.base import CatalogBase, _utc
from weir.catalog.records import ModelVersionRecord
from weir.catalog.schema import Dataset, DatasetVersion, LineageEdge, Model, ModelVersion
from weir.core.errors import NotFoundError
from weir.core.suggest import suggestion_text


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
            row = ModelVersion(
                model_id=model.id,
                version=(latest or 0) + 1,
                algorithm=algorithm,
                metrics=metrics,
                params=params,
                seed=seed,
                features=features,
                artifact_path=artifact_path,
                artifact_sha256=artifact_sha256,
                environment=environment,
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
            run_id=row.run_id,
            created_at=_utc(row.created_at) or row.created_at,
            trained_on=[f"{n}@{v}" for n, v in parents],
        )
