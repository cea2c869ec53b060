"""Plain, immutable views of catalog rows handed to other layers (no live ORM sessions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from weir.catalog.model_details import ModelDetails, ServingSpec
from weir.core.errors import ConfigError


@dataclass(frozen=True)
class StepRunRecord:
    id: int
    run_id: int
    step: str
    kind: str
    status: str
    reason: str
    cache_key: str | None
    key_parts: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None
    seconds: float | None
    error: str | None
    summary: dict[str, Any]


@dataclass(frozen=True)
class RunProcess:
    """Which process runs a run: the pid alone is reused, so the host, the boot and the
    process's start time (clock ticks since boot, from /proc) pin it down."""

    pid: int
    host: str
    boot_id: str | None = None
    start_ticks: int | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "host": self.host,
            "boot_id": self.boot_id,
            "start_ticks": self.start_ticks,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> RunProcess | None:
        if not record or "pid" not in record:
            return None
        return cls(
            int(record["pid"]),
            str(record.get("host") or ""),
            record.get("boot_id"),
            record.get("start_ticks"),
        )


@dataclass(frozen=True)
class RunRecord:
    id: int
    project: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    weir_version: str
    git: dict[str, Any]
    steps: list[StepRunRecord] = field(default_factory=list)
    process: RunProcess | None = None
    note: str | None = None


@dataclass(frozen=True)
class VersionRecord:
    id: int
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
class CheckRecord:
    check: str
    severity: str
    passed: bool
    failing: int
    detail: str
    table: str = ""
    version: int = -1
    run_id: int = -1


@dataclass(frozen=True)
class ModelVersionRecord:
    id: int
    model: str
    task: str
    version: int
    stage: str
    algorithm: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    seed: int
    features: dict[str, Any]
    artifact_path: str
    artifact_sha256: str
    environment: dict[str, Any]
    run_id: int | None
    created_at: datetime
    trained_on: list[str] = field(default_factory=list)
    details: ModelDetails = field(default_factory=ModelDetails)

    def files(self) -> list[tuple[str, str]]:
        """Every artifact file the version consists of, as (path in the artifact store,
        SHA-256): the model, and the ONNX graph (and its quantized twin) and report that
        training records in `details`."""
        return [(self.artifact_path, self.artifact_sha256)] + [
            ref.as_tuple() for ref in self.details.files()
        ]

    def served_graph(self) -> tuple[str, str] | None:
        """The ONNX graph that serving runs (its int8 twin if that passed its check), as
        (path in the artifact store, SHA-256); None for a version with no ONNX export or
        no serving spec."""
        serving = self.details.serving
        return serving.graph.as_tuple() if serving else None

    def graph_to_serve(self) -> tuple[str, str]:
        """`served_graph()`, or the refusal a user sees for a version with no ONNX export."""
        return self.serving_spec().graph.as_tuple()

    def serving_spec(self) -> ServingSpec:
        """What serving and batch scoring need, or the refusal a user sees for a version
        with no ONNX export (one place, so both refuse alike)."""
        serving = self.details.serving
        if serving is None:
            raise ConfigError(
                f"model {self.model} v{self.version} has no ONNX export",
                fix="train it with ml.<model>.export.onnx: true (the default) and use that version",
            )
        return serving
