"""The catalog: what exists, which version is current, who made it from what, and when.

SQLite by default (one file in the workspace), PostgreSQL by URL; the same code for both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session

from weir.catalog.base import _run_record, _step_record, _utc
from weir.catalog.datasets import DatasetCatalog
from weir.catalog.models import ModelCatalog
from weir.catalog.records import RunRecord, StepRunRecord
from weir.catalog.schema import (
    SCHEMA_VERSION,
    Base,
    Meta,
    Run,
    StepRun,
)
from weir.core.errors import CatalogError, NotFoundError, Transient


class CatalogUnavailableError(CatalogError, Transient):
    """The catalog database did not answer; it may answer later."""


def normalise_url(url: str) -> URL:
    """Parse a catalog URL; plain postgresql:// means the psycopg 3 driver Weir ships."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # not quoted: a URL SQLAlchemy cannot parse, no one can tell where its password is
        raise CatalogError(
            "catalog url is not a database URL (scheme://[user[:password]@]host[:port]/database)",
            fix="use sqlite:///path/catalog.db or postgresql://user@host:5432/db",
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def masked(url: str | URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.render_as_string(hide_password=True)


class Catalog(DatasetCatalog, ModelCatalog):
    """Metadata store. Each public method is one short transaction."""

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
                elif row.value == "1":
                    _upgrade_from_1(session)
                    row.value = str(SCHEMA_VERSION)
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


def _upgrade_from_1(session: Session) -> None:
    """Schema 1 -> 2: model versions gain `details` (new tables are made by create_all)."""
    session.execute(text("ALTER TABLE model_versions ADD COLUMN details JSON"))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
