"""The catalog: what exists, which version is current, who made it from what, and when.

SQLite by default (one file in the workspace), PostgreSQL by URL; the same code for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from weir.catalog.records import (
    CheckRecord,
    ModelVersionRecord,
    RunRecord,
    StepRunRecord,
    VersionRecord,
)
from weir.catalog.schema import (
    SCHEMA_VERSION,
    Base,
    CheckResult,
    Dataset,
    DatasetVersion,
    LineageEdge,
    Meta,
    Model,
    ModelVersion,
    Profile,
    Run,
    StepRun,
)
from weir.core.errors import CatalogError, NotFoundError, Transient
from weir.core.suggest import suggestion_text


class CatalogUnavailableError(CatalogError, Transient):
    """The catalog database did not answer; it may answer later."""


def normalise_url(url: str) -> URL:
    """Parse a catalog URL; plain postgresql:// means the psycopg 3 driver Weir ships."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CatalogError(
            f"catalog url is not a database URL: {url!r}",
            fix="use sqlite:///path/catalog.db or postgresql://user@host:5432/db",
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def masked(url: str | URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.render_as_string(hide_password=True)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; the catalog stores UTC, so say so."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class Catalog:
    """Metadata store. Each public method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Catalog:
        parsed = normalise_url(url)
        if parsed.drivername.startswith("sqlite") and parsed.database:
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, future=True)
        if parsed.drivername.startswith("sqlite"):
            event.listen(engine, "connect", _sqlite_pragmas)
        catalog = cls(engine)
        catalog._ensure_schema(parsed)
        return catalog

    def close(self) -> None:
        self.engine.dispose()

    def _ensure_schema(self, url: URL) -> None:
        try:
            Base.metadata.create_all(self.engine)
            with self._session() as session:
                row = session.get(Meta, "schema_version")
                if row is None:
                    session.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
                elif row.value != str(SCHEMA_VERSION):
                    raise CatalogError(
                        f"catalog at {masked(url)} has schema version {row.value}; "
                        f"this Weir uses {SCHEMA_VERSION}",
                        fix="use the Weir version that made it, or a new catalog",
                    )
        except OperationalError as exc:
            raise CatalogUnavailableError(
                f"cannot open the catalog at {masked(url)}: {exc.orig}",
                fix="check the catalog url in weir.yaml and that the database is running",
            ) from None

    @contextmanager
    def _session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError:
            session.rollback()
            raise
        finally:
            session.close()

    # runs ---------------------------------------------------------------------------------

    def start_run(
        self, project: str, weir_version: str, git: dict[str, Any], settings: dict[str, Any]
    ) -> int:
        with self._session() as session:
            run = Run(
                project=project,
                status="running",
                weir_version=weir_version,
                git=git,
                settings=settings,
            )
            session.add(run)
            session.flush()
            return run.id

    def finish_run(self, run_id: int, status: str) -> None:
        with self._session() as session:
            run = session.get_one(Run, run_id)
            run.status = status
            run.finished_at = datetime.now(UTC)

    def start_step(self, run_id: int, step: str, kind: str) -> int:
        with self._session() as session:
            row = StepRun(run_id=run_id, step=step, kind=kind, status="running")
            session.add(row)
            session.flush()
            return row.id

    def finish_step(
        self,
        step_run_id: int,
        *,
        status: str,
        reason: str,
        cache_key: str | None,
        key_parts: dict[str, Any],
        error: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        with self._session() as session:
            row = session.get_one(StepRun, step_run_id)
            now = datetime.now(UTC)
            row.status = status
            row.reason = reason
            row.cache_key = cache_key
            row.key_parts = key_parts
            row.error = error
            row.summary = summary or {}
            row.finished_at = now
            row.seconds = (now - (_utc(row.started_at) or now)).total_seconds()

    def last_success(self, step: str) -> StepRunRecord | None:
        """The latest run of `step` that did its work and succeeded (skips do not count)."""
        with self._session() as session:
            row = session.scalars(
                select(StepRun)
                .where(StepRun.step == step, StepRun.status == "succeeded")
                .order_by(StepRun.id.desc())
                .limit(1)
            ).first()
            return _step_record(row) if row else None

    def runs(self, limit: int = 20) -> list[RunRecord]:
        with self._session() as session:
            rows = session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)).all()
            return [_run_record(r, with_steps=False) for r in rows]

    def run(self, run_id: int | None = None) -> RunRecord:
        """One run with its steps; the latest when no id is given."""
        with self._session() as session:
            if run_id is None:
                row = session.scalars(select(Run).order_by(Run.id.desc()).limit(1)).first()
            else:
                row = session.get(Run, run_id)
            if row is None:
                raise NotFoundError(
                    "no runs recorded yet" if run_id is None else f"no run {run_id}",
                    fix="list runs with 'weir runs'",
                )
            return _run_record(row, with_steps=True)

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
    ) -> VersionRecord:
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
            rows = session.execute(
                select(CheckResult, DatasetVersion, StepRun)
                .join(DatasetVersion, DatasetVersion.id == CheckResult.dataset_version_id)
                .join(StepRun, StepRun.id == CheckResult.step_run_id)
                .where(CheckResult.step_run_id.in_(step_ids))
                .order_by(CheckResult.step_run_id.desc(), CheckResult.id)
            ).all()
            return [
                CheckRecord(
                    c.check, c.severity, c.passed, c.failing, c.detail, table, v.version, s.run_id
                )
                for c, v, s in rows
            ]

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
            rows = session.execute(
                select(CheckResult, DatasetVersion, StepRun)
                .join(DatasetVersion, DatasetVersion.id == CheckResult.dataset_version_id)
                .join(StepRun, StepRun.id == CheckResult.step_run_id)
                .where(
                    CheckResult.dataset_version_id == version_id, StepRun.id.in_(latest_per_step)
                )
                .order_by(CheckResult.id)
            ).all()
            return [
                CheckRecord(
                    c.check, c.severity, c.passed, c.failing, c.detail, table, v.version, s.run_id
                )
                for c, v, s in rows
            ]

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


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _step_record(row: StepRun) -> StepRunRecord:
    return StepRunRecord(
        id=row.id,
        run_id=row.run_id,
        step=row.step,
        kind=row.kind,
        status=row.status,
        reason=row.reason,
        cache_key=row.cache_key,
        key_parts=dict(row.key_parts),
        started_at=_utc(row.started_at) or row.started_at,
        finished_at=_utc(row.finished_at),
        seconds=row.seconds,
        error=row.error,
        summary=dict(row.summary),
    )


def _run_record(row: Run, *, with_steps: bool) -> RunRecord:
    return RunRecord(
        id=row.id,
        project=row.project,
        status=row.status,
        started_at=_utc(row.started_at) or row.started_at,
        finished_at=_utc(row.finished_at),
        weir_version=row.weir_version,
        git=dict(row.git),
        steps=[_step_record(s) for s in row.steps] if with_steps else [],
    )


def _version_record(row: DatasetVersion, dataset: Dataset) -> VersionRecord:
    return VersionRecord(
        id=row.id,
        table=dataset.name,
        kind=dataset.kind,
        version=row.version,
        row_count=row.row_count,
        fingerprint=row.fingerprint,
        schema=list(row.schema),
        run_id=row.run_id,
        step_run_id=row.step_run_id,
        created_at=_utc(row.created_at) or row.created_at,
        description=dataset.description,
    )
