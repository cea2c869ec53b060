"""The catalog: what exists, which version is current, who made it from what, and when.

SQLite by default (one file in the workspace), PostgreSQL by URL; the same code for both.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, inspect, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from weir.catalog.base import _run_record, _step_record, _utc
from weir.catalog.datasets import DatasetCatalog
from weir.catalog.failures import corrupt, sqlite_damage, translate
from weir.catalog.models import ModelCatalog
from weir.catalog.monitoring import MonitorCatalog
from weir.catalog.records import RunProcess, RunRecord, StepRunRecord
from weir.catalog.restore import RestoreCatalog
from weir.catalog.schema import (
    SCHEMA_VERSION,
    Base,
    Dataset,
    Meta,
    Run,
    StepRun,
)
from weir.core.errors import CatalogError, NotFoundError


def normalise_url(url: str) -> URL:
    """Parse a catalog URL; plain postgresql:// means the psycopg 3 driver Weir ships."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        # not quoted: a URL SQLAlchemy cannot parse, no one can tell where its password is
        raise CatalogError(
            "catalog url is not a database URL Weir can read (its scheme, host, port or "
            "database name is malformed)",
            fix="use sqlite:///path/catalog.db or postgresql://user@host:5432/db",
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def masked(url: str | URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.render_as_string(hide_password=True)


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite catalog URL (None for another database or an in-memory one)."""
    parsed = url if isinstance(url, URL) else normalise_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


class Catalog(DatasetCatalog, ModelCatalog, MonitorCatalog, RestoreCatalog):
    """Metadata store. Each public method is one short transaction."""

    @classmethod
    def open(cls, url: str) -> Catalog:
        """Open (creating if new) the catalog at `url`. A SQLite file that exists but is not
        a whole database is refused, never replaced: it holds the project's history."""
        parsed = normalise_url(url)
        where = masked(parsed)
        file = sqlite_path(parsed)
        if file is not None:
            where = str(file)
            file.parent.mkdir(parents=True, exist_ok=True)
            damage = sqlite_damage(file) if file.exists() else None
            if damage is not None:
                raise corrupt(where, damage)
        engine = create_engine(parsed, future=True)
        if file is not None:
            event.listen(engine, "connect", _sqlite_pragmas)
        catalog = cls(engine, where)
        try:
            catalog._ensure_schema()
        except BaseException:
            engine.dispose()
            raise
        return catalog

    def close(self) -> None:
        self.engine.dispose()

    def _ensure_schema(self) -> None:
        try:
            Base.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise translate(exc, self.where) from exc
        with self._session() as session:
            row = session.get(Meta, "schema_version")
            if row is None:
                session.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
            elif row.value in _UPGRADES:
                for step in _UPGRADES[row.value]:
                    step(session)
                row.value = str(SCHEMA_VERSION)
            elif row.value != str(SCHEMA_VERSION):
                raise CatalogError(
                    f"catalog at {self.where} has schema version {row.value}; "
                    f"this Weir uses {SCHEMA_VERSION}",
                    fix="use the Weir version that made it, or a new catalog",
                )

    def has_history(self) -> bool:
        """True when the catalog has recorded anything: a run or a table."""
        with self._session() as session:
            runs = session.scalar(select(func.count()).select_from(Run)) or 0
            datasets = session.scalar(select(func.count()).select_from(Dataset)) or 0
            return bool(runs or datasets)

    # runs ---------------------------------------------------------------------------------

    def start_run(
        self,
        project: str,
        weir_version: str,
        git: dict[str, Any],
        settings: dict[str, Any],
        process: RunProcess | None = None,
    ) -> int:
        with self._session() as session:
            run = Run(
                project=project,
                status="running",
                weir_version=weir_version,
                git=git,
                settings=settings,
                process=process.as_record() if process else {},
            )
            session.add(run)
            session.flush()
            return run.id

    def unfinished_runs(self) -> list[RunRecord]:
        """Runs still marked running: alive, or killed before they could say otherwise."""
        with self._session() as session:
            rows = session.scalars(
                select(Run).where(Run.status == "running").order_by(Run.id)
            ).all()
            return [_run_record(r, with_steps=True) for r in rows]

    def mark_died(self, run_id: int, note: str) -> None:
        """A run whose process ended without finishing it: the run and its unfinished steps
        become `died`, with `note` saying how that was found."""
        with self._session() as session:
            run = session.get_one(Run, run_id)
            if run.status != "running":
                return
            run.status = "died"
            run.note = note
            session.execute(
                update(StepRun)
                .where(StepRun.run_id == run_id, StepRun.status == "running")
                .values(status="died", error=note)
            )

    def finish_run(self, run_id: int, status: str, note: str | None = None) -> None:
        """End a run. A step still marked running (its outcome could not be recorded) is
        marked failed with `note`: no step of a finished run stays 'running'."""
        with self._session() as session:
            run = session.get_one(Run, run_id)
            run.status = status
            run.finished_at = datetime.now(UTC)
            if note:
                run.note = note[:2000]
            session.execute(
                update(StepRun)
                .where(StepRun.run_id == run_id, StepRun.status == "running")
                .values(
                    status="failed",
                    error=f"its outcome could not be recorded: {note or 'the run stopped'}",
                )
            )

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


def _add_column(session: Session, table: str, column: str, kind: str) -> None:
    """ALTER TABLE ... ADD COLUMN, unless a half-finished upgrade already added it."""
    present = {c["name"] for c in inspect(session.connection()).get_columns(table)}
    if column not in present:
        session.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))


def _upgrade_from_1(session: Session) -> None:
    """Schema 1 -> 2: model versions gain `details` (new tables are made by create_all)."""
    _add_column(session, "model_versions", "details", "JSON")


def _upgrade_from_2(session: Session) -> None:
    """Schema 2 -> 3: runs gain the process that runs them and a note on how they ended."""
    _add_column(session, "runs", "process", "JSON")
    _add_column(session, "runs", "note", "TEXT")


# Schema 3 -> 4 adds a table (model_outputs) and 4 -> 5 two (monitor_results,
# monitor_state), which create_all makes: no step of their own.
_UPGRADES: dict[str, tuple[Callable[[Session], None], ...]] = {
    "1": (_upgrade_from_1, _upgrade_from_2),
    "2": (_upgrade_from_2,),
    "3": (),
    "4": (),
}


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
