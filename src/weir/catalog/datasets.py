"""Datasets in the catalog: versions, lineage, profiles and check results."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from weir.catalog.base import CatalogBase, _version_record
from weir.catalog.records import CheckRecord, VersionRecord
from weir.catalog.schema import (
    CheckResult,
    Dataset,
    DatasetVersion,
    LineageEdge,
    Model,
    ModelOutput,
    ModelVersion,
    Profile,
    StepRun,
    TableDocs,
)
from weir.core.errors import NotFoundError
from weir.core.suggest import suggestion_text


class DatasetCatalog(CatalogBase):
    # datasets -----------------------------------------------------------------------------

    def record_version(
        self,
        table: str,
        *,
        kind: str,
        version: int,
        row_count: int,
        fingerprint: str,
        schema: list[Any],
        run_id: int | None,
        step_run_id: int | None,
        parents: Sequence[int] = (),
        description: str | None = None,
        answers_of: Sequence[int] = (),
    ) -> VersionRecord:
        """Record a committed version: `parents` are the table versions read to make it,
        `answers_of` the model versions whose answers it holds (ids)."""
        with self._session() as session:
            dataset = session.scalars(select(Dataset).where(Dataset.name == table)).first()
            if dataset is None:
                dataset = Dataset(name=table, kind=kind, description=description)
                session.add(dataset)
                session.flush()
            elif description is not None:
                dataset.description = description
            row = DatasetVersion(
                dataset_id=dataset.id,
                version=version,
                row_count=row_count,
                fingerprint=fingerprint,
                schema=schema,
                run_id=run_id,
                step_run_id=step_run_id,
            )
            session.add(row)
            session.flush()
            for parent in parents:
                session.add(
                    LineageEdge(parent_version_id=parent, child_version_id=row.id, run_id=run_id)
                )
            for model_version in answers_of:
                session.add(
                    ModelOutput(version_id=row.id, model_version_id=model_version, run_id=run_id)
                )
            return _version_record(row, dataset)

    def current_version(self, table: str) -> VersionRecord | None:
        with self._session() as session:
            row = session.execute(
                select(DatasetVersion, Dataset)
                .join(Dataset)
                .where(Dataset.name == table)
                .order_by(DatasetVersion.version.desc())
                .limit(1)
            ).first()
            return _version_record(row[0], row[1]) if row else None

    def version(self, table: str, version: int | None = None) -> VersionRecord:
        """A recorded version of a table; the current one when `version` is None."""
        if version is None:
            record = self.current_version(table)
        else:
            with self._session() as session:
                row = session.execute(
                    select(DatasetVersion, Dataset)
                    .join(Dataset)
                    .where(Dataset.name == table, DatasetVersion.version == version)
                ).first()
                record = _version_record(row[0], row[1]) if row else None
        if record is None:
            known = [t.table for t in self.tables()]
            if table not in known:
                raise NotFoundError(
                    f"no table '{table}' in the catalog", fix=suggestion_text(table, known)
                )
            versions = [v.version for v in self.versions(table)]
            raise NotFoundError(
                f"table '{table}' has no version {version}",
                fix=f"recorded versions: {', '.join(map(str, versions))}",
            )
        return record

    def versions(self, table: str) -> list[VersionRecord]:
        with self._session() as session:
            rows = session.execute(
                select(DatasetVersion, Dataset)
                .join(Dataset)
                .where(Dataset.name == table)
                .order_by(DatasetVersion.version)
            ).all()
            return [_version_record(v, d) for v, d in rows]

    def tables(self) -> list[VersionRecord]:
        """The current version of every table, by name."""
        with self._session() as session:
            latest = (
                select(DatasetVersion.dataset_id, func.max(DatasetVersion.version).label("v"))
                .group_by(DatasetVersion.dataset_id)
                .subquery()
            )
            rows = session.execute(
                select(DatasetVersion, Dataset)
                .join(Dataset)
                .join(
                    latest,
                    (latest.c.dataset_id == DatasetVersion.dataset_id)
                    & (latest.c.v == DatasetVersion.version),
                )
                .order_by(Dataset.name)
            ).all()
            return [_version_record(v, d) for v, d in rows]

    def parents(self, version_id: int) -> list[VersionRecord]:
        """The versions that were read to make this version (table-level lineage)."""
        with self._session() as session:
            rows = session.execute(
                select(DatasetVersion, Dataset)
                .join(Dataset)
                .join(LineageEdge, LineageEdge.parent_version_id == DatasetVersion.id)
                .where(LineageEdge.child_version_id == version_id)
                .order_by(Dataset.name)
            ).all()
            return [_version_record(v, d) for v, d in rows]

    def answers_of(self, version_id: int) -> list[tuple[str, int]]:
        """(model, version) of the model versions whose answers this table version holds."""
        with self._session() as session:
            rows = session.execute(
                select(Model.name, ModelVersion.version)
                .join(ModelVersion, ModelVersion.model_id == Model.id)
                .join(ModelOutput, ModelOutput.model_version_id == ModelVersion.id)
                .where(ModelOutput.version_id == version_id)
                .order_by(Model.name, ModelVersion.version)
            ).all()
            return [(name, version) for name, version in rows]

    # docs ---------------------------------------------------------------------------------

    def record_docs(self, entries: Iterable[dict[str, Any]]) -> None:
        """Replace what the catalog knows about the project's tables (one entry per table:
        name, kind, made_by, docs, reads)."""
        with self._session() as session:
            session.query(TableDocs).delete()
            for entry in entries:
                session.add(TableDocs(**entry))

    def docs(self) -> list[dict[str, Any]]:
        with self._session() as session:
            rows = session.scalars(select(TableDocs).order_by(TableDocs.name)).all()
            return [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "made_by": r.made_by,
                    "docs": dict(r.docs),
                    "reads": list(r.reads),
                }
                for r in rows
            ]

    # profiles -----------------------------------------------------------------------------

    def record_profile(self, version_id: int, profile: dict[str, Any]) -> None:
        with self._session() as session:
            session.add(Profile(dataset_version_id=version_id, profile=profile))

    def profile(self, version_id: int) -> dict[str, Any] | None:
        with self._session() as session:
            row = session.scalars(
                select(Profile).where(Profile.dataset_version_id == version_id)
            ).first()
            return dict(row.profile) if row else None

    # checks -------------------------------------------------------------------------------

    def record_checks(
        self, step_run_id: int, version_id: int, results: Iterable[CheckRecord]
    ) -> None:
        with self._session() as session:
            for result in results:
                session.add(
                    CheckResult(
                        step_run_id=step_run_id,
                        dataset_version_id=version_id,
                        check=result.check,
                        severity=result.severity,
                        passed=result.passed,
                        failing=result.failing,
                        detail=result.detail,
                    )
                )

    def check_history(self, table: str, limit: int = 20) -> list[CheckRecord]:
        """Results of the last `limit` check runs on `table`, newest run first."""
        with self._session() as session:
            step_ids = session.scalars(
                select(CheckResult.step_run_id)
                .join(DatasetVersion, DatasetVersion.id == CheckResult.dataset_version_id)
                .join(Dataset)
                .where(Dataset.name == table)
                .group_by(CheckResult.step_run_id)
                .order_by(CheckResult.step_run_id.desc())
                .limit(limit)
            ).all()
            return self._check_records(session, table, CheckResult.step_run_id.in_(step_ids))

    def latest_checks(self, table: str) -> list[CheckRecord]:
        """Results on the newest checked version of `table`: from its latest check step and,
        for quarantine rules, from the step that made it."""
        with self._session() as session:
            version_id = session.execute(
                select(CheckResult.dataset_version_id)
                .join(DatasetVersion, DatasetVersion.id == CheckResult.dataset_version_id)
                .join(Dataset)
                .where(Dataset.name == table)
                .order_by(CheckResult.id.desc())
                .limit(1)
            ).scalar()
            if version_id is None:
                return []
            latest_per_step = (
                select(func.max(StepRun.id))
                .join(CheckResult, CheckResult.step_run_id == StepRun.id)
                .where(CheckResult.dataset_version_id == version_id)
                .group_by(StepRun.step)
            )
            condition = (CheckResult.dataset_version_id == version_id) & StepRun.id.in_(
                latest_per_step
            )
            return self._check_records(session, table, condition)

    @staticmethod
    def _check_records(session: Session, table: str, condition: Any) -> list[CheckRecord]:
        rows = session.execute(
            select(CheckResult, DatasetVersion, StepRun)
            .join(DatasetVersion, DatasetVersion.id == CheckResult.dataset_version_id)
            .join(StepRun, StepRun.id == CheckResult.step_run_id)
            .where(condition)
            .order_by(CheckResult.step_run_id.desc(), CheckResult.id)
        ).all()
        return [
            CheckRecord(
                c.check, c.severity, c.passed, c.failing, c.detail, table, v.version, s.run_id
            )
            for c, v, s in rows
        ]
