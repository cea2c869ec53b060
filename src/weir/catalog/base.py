"""What every part of the catalog shares: one session per call, and row-to-record converters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from weir.catalog.failures import translate
from weir.catalog.records import RunProcess, RunRecord, StepRunRecord, VersionRecord
from weir.catalog.schema import Dataset, DatasetVersion, Run, StepRun


class CatalogBase:
    """Each public method of the catalog is one short transaction."""

    def __init__(self, engine: Engine, where: str = "the catalog") -> None:
        self.engine = engine
        self.where = where  # the file or masked URL, for messages
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """One transaction. A database error leaves as a CatalogError that names the catalog
        and the real cause (corrupt, full, unreachable), never as a driver traceback."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            # the connection may be gone or the disk full: then there is nothing to roll back
            with suppress(SQLAlchemyError):
                session.rollback()
            raise translate(exc, self.where) from exc
        finally:
            session.close()


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; the catalog stores UTC, so say so."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


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
        process=RunProcess.from_record(row.process),
        note=row.note,
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
