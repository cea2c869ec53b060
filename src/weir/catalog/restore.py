"""Writing a catalog back from what the lake remembers (`weir catalog rebuild`).

Ordinary recording makes new ids and stamps the time of recording. A rebuild keeps the ids
the lake's commits name (runs, step runs) and the times of the commits, so that everything
that refers to them still does; PostgreSQL's id sequences are moved past them afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text

from weir.catalog.base import CatalogBase
from weir.catalog.models import used_versions_key
from weir.catalog.schema import (
    Base,
    Dataset,
    DatasetVersion,
    LineageEdge,
    Meta,
    Model,
    ModelOutput,
    ModelVersion,
    Run,
    StepRun,
)


@dataclass(frozen=True)
class RestoredRun:
    id: int
    project: str
    started_at: datetime
    finished_at: datetime
    weir_version: str
    note: str


@dataclass(frozen=True)
class RestoredStep:
    id: int
    run_id: int
    step: str
    kind: str
    started_at: datetime
    note: str


@dataclass(frozen=True)
class RestoredVersion:
    table: str
    kind: str
    version: int
    row_count: int
    fingerprint: str
    schema: list[Any]
    run_id: int | None
    step_run_id: int | None
    created_at: datetime
    description: str | None = None


@dataclass(frozen=True)
class HistoryCount:
    runs: int
    tables: int
    model_versions: int


class RestoreCatalog(CatalogBase):
    def history_count(self) -> HistoryCount:
        with self._session() as session:
            return HistoryCount(
                session.scalar(select(func.count()).select_from(Run)) or 0,
                session.scalar(select(func.count()).select_from(Dataset)) or 0,
                session.scalar(select(func.count()).select_from(ModelVersion)) or 0,
            )

    def restore_run(self, run: RestoredRun) -> None:
        with self._session() as session:
            session.add(
                Run(
                    id=run.id,
                    project=run.project,
                    status="rebuilt",
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                    weir_version=run.weir_version,
                    git={},
                    settings={"rebuilt_from": "lake"},
                    process={},
                    note=run.note,
                )
            )

    def restore_step(self, step: RestoredStep) -> None:
        with self._session() as session:
            session.add(
                StepRun(
                    id=step.id,
                    run_id=step.run_id,
                    step=step.step,
                    kind=step.kind,
                    status="rebuilt",
                    reason=step.note,
                    cache_key=None,
                    key_parts={},
                    started_at=step.started_at,
                    finished_at=step.started_at,
                    summary={},
                )
            )

    def restore_version(self, restored: RestoredVersion) -> int:
        """Record one version as the lake has it; returns its id (for lineage edges)."""
        with self._session() as session:
            dataset = session.scalars(select(Dataset).where(Dataset.name == restored.table)).first()
            if dataset is None:
                dataset = Dataset(
                    name=restored.table,
                    kind=restored.kind,
                    description=restored.description,
                    created_at=restored.created_at,
                )
                session.add(dataset)
                session.flush()
            row = DatasetVersion(
                dataset_id=dataset.id,
                version=restored.version,
                row_count=restored.row_count,
                fingerprint=restored.fingerprint,
                schema=restored.schema,
                run_id=restored.run_id,
                step_run_id=restored.step_run_id,
                created_at=restored.created_at,
            )
            session.add(row)
            session.flush()
            return row.id

    def restore_edge(self, parent_id: int, child_id: int, run_id: int) -> None:
        with self._session() as session:
            session.add(
                LineageEdge(parent_version_id=parent_id, child_version_id=child_id, run_id=run_id)
            )

    def reserve_model_versions(self, model: str, used: int) -> None:
        """Version numbers 1..`used` of `model` were given by a catalog that was lost: the
        next version registered is numbered after them."""
        self.remember(used_versions_key(model), str(used))

    def remember(self, key: str, value: str) -> None:
        """A fact about the catalog itself (e.g. when it was rebuilt), in weir_meta."""
        with self._session() as session:
            row = session.get(Meta, key)
            if row is None:
                session.add(Meta(key=key, value=value[:256]))
            else:
                row.value = value[:256]

    def recall(self, key: str) -> str | None:
        """A fact `remember` kept, or None."""
        with self._session() as session:
            row = session.get(Meta, key)
            return row.value if row is not None else None

    def forget(self, key: str) -> None:
        with self._session() as session:
            row = session.get(Meta, key)
            if row is not None:
                session.delete(row)

    def after_restore(self) -> None:
        """PostgreSQL hands out ids from sequences, which explicit ids do not move: set each
        past the largest id, or the next run would collide with a restored one."""
        if self.engine.dialect.name != "postgresql":
            return
        with self._session() as session:
            for table in (
                Run,
                StepRun,
                Dataset,
                DatasetVersion,
                LineageEdge,
                ModelOutput,
                Model,
                ModelVersion,
            ):
                name = table.__tablename__
                session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"coalesce((SELECT max(id) FROM {name}), 0) + 1, false)"
                    )
                )

    def move_aside_schema(self) -> str:
        """PostgreSQL: move every catalog table into a new schema named by the time, where it
        stays readable; the catalog's own schema is then empty for a rebuild."""
        aside = "weir_replaced_" + datetime.now(UTC).strftime("%Y%m%dt%H%M%Sz")
        with self._session() as session:
            session.execute(text(f'CREATE SCHEMA "{aside}"'))
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(text(f'ALTER TABLE "{table.name}" SET SCHEMA "{aside}"'))
        return aside
