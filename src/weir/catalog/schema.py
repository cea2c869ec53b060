"""The catalog's tables (SQLAlchemy 2 declarative). One schema for SQLite and PostgreSQL.

JSON columns hold structured records (schemas, metrics, key components) whose shape evolves
faster than the relational core; everything queried by is a real column.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SCHEMA_VERSION = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Meta(Base):
    __tablename__ = "weir_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(200))
    # running | succeeded | failed | died (its process ended mid-way) | rebuilt (from the lake)
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    weir_version: Mapped[str] = mapped_column(String(40))
    git: Mapped[dict[str, Any]] = mapped_column(default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # schema 3: the process that runs it (pid, host, boot id, start time), so a later command
    # can tell a live run from a killed one even after the pid is reused; and a note on how
    # it ended when that was not by itself (died, rebuilt)
    process: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    steps: Mapped[list[StepRun]] = relationship(back_populates="run", order_by="StepRun.id")


class StepRun(Base):
    __tablename__ = "step_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    step: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    # running | succeeded | failed | skipped | blocked | died | rebuilt
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    cache_key: Mapped[str | None] = mapped_column(String(64), index=True)
    key_parts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    run: Mapped[Run] = relationship(back_populates="steps")


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))  # source | model | quarantine
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    versions: Mapped[list[DatasetVersion]] = relationship(
        back_populates="dataset", order_by="DatasetVersion.version"
    )


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[int]
    row_count: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(64))
    schema: Mapped[list[Any]] = mapped_column(default=list)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    step_run_id: Mapped[int | None] = mapped_column(ForeignKey("step_runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dataset: Mapped[Dataset] = relationship(back_populates="versions")


class LineageEdge(Base):
    """`parent` version was read to make `child` version (or model version)."""

    __tablename__ = "lineage_edges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parent_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    child_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    child_model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))


class ModelOutput(Base):
    """A table version holds answers of `model_version`: a prediction log's version, a batch
    scoring's output. Table-level lineage from a model version to a table version, which
    `LineageEdge` (whose parent is always a table version) cannot hold. Schema 4."""

    __tablename__ = "model_outputs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))


class TableDocs(Base):
    """What the project says about a table (description, owner, tags, column descriptions),
    as of the latest run; kept apart from versions because it changes without new data."""

    __tablename__ = "table_docs"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    made_by: Mapped[str] = mapped_column(String(200))
    docs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reads: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Profile(Base):
    """Column statistics of one table version (see weir.quality.profile)."""

    __tablename__ = "profiles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), unique=True)
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CheckResult(Base):
    __tablename__ = "check_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    step_run_id: Mapped[int] = mapped_column(ForeignKey("step_runs.id"), index=True)
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"))
    check: Mapped[str] = mapped_column(String(400))
    severity: Mapped[str] = mapped_column(String(20))
    passed: Mapped[bool]
    failing: Mapped[int]
    detail: Mapped[str] = mapped_column(Text, default="")


class Model(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    task: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model", order_by="ModelVersion.version"
    )


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    version: Mapped[int]
    stage: Mapped[str] = mapped_column(String(20), default="candidate")
    algorithm: Mapped[str] = mapped_column(String(100))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int]
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifact_path: Mapped[str] = mapped_column(Text)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    environment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # schema 2: resolved config, CV scores, tuning study, report, git state, prediction digest
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    step_run_id: Mapped[int | None] = mapped_column(ForeignKey("step_runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model: Mapped[Model] = relationship(back_populates="versions")


class StageChange(Base):
    """A model version moved from one stage to another: the registry's audit trail, and what
    a roll-back reads to find the previous production version."""

    __tablename__ = "model_stage_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    from_stage: Mapped[str] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MonitorResult(Base):
    """One monitor check of one model on one window of its current data: what was judged,
    the verdict and the measures behind it (weir.catalog.monitoring). Schema 5."""

    __tablename__ = "monitor_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    model_version: Mapped[int | None] = mapped_column(Integer)
    check: Mapped[str] = mapped_column(String(40), index=True)  # drift | performance
    window: Mapped[str] = mapped_column(String(120))  # the window's key (stable across runs)
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # ok | bad | undecided
    summary: Mapped[str] = mapped_column(Text)
    measures: Mapped[list[Any]] = mapped_column(default=list)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # table versions judged
    report: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MonitorState(Base):
    """What a monitor carries from one invocation to the next (its incidents' hysteresis
    counters, the alerts it could not deliver yet), one JSON value per key. Schema 5."""

    __tablename__ = "monitor_state"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
