"""The served model: its ONNX session and serving spec, and the holder that swaps it.

A request takes the holder's current model once and uses only that object, so a promotion
swaps the reference atomically and requests in flight finish on the model they started with.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from weir.app.workspace import Workspace
from weir.catalog import ModelVersionRecord
from weir.core.errors import ConfigError, NotFoundError
from weir.ml.onnx_export import session
from weir.ml.rows import feeds_for, prepare_columns
from weir.project.ml_config import FeatureSpec


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: int
    stage: str
    task: str
    features: FeatureSpec
    inputs: dict[str, str]  # request field -> number | category | text | date | timestamp
    onnx_inputs: dict[str, str]  # prepared column -> float | string, the graph's inputs
    known_categories: dict[str, frozenset[str]]
    classes: list[Any]
    threshold: float | None
    session: Any
    quantized: bool

    def predict(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One answer per row: label and probabilities, a value, or a cluster."""
        columns = prepare_columns(rows, self.features)
        outputs = self.session.run(None, feeds_for(columns, self.onnx_inputs))
        if self.task == "regression":
            return [{"prediction": float(v)} for v in np.asarray(outputs[0]).reshape(-1)]
        if self.task == "clustering":
            return [{"cluster": int(v)} for v in np.asarray(outputs[0]).reshape(-1)]
        probabilities = np.asarray(outputs[1], dtype=np.float64)
        if len(self.classes) == 2:
            positive = probabilities[:, 1]
            cut = 0.5 if self.threshold is None else self.threshold
            return [
                {"label": self.classes[1] if p >= cut else self.classes[0], "probability": float(p)}
                for p in positive
            ]
        best = np.argmax(probabilities, axis=1)
        return [
            {
                "label": self.classes[i],
                "probabilities": dict(zip(map(str, self.classes), map(float, row), strict=True)),
            }
            for i, row in zip(best, probabilities, strict=True)
        ]


def load(ws: Workspace, record: ModelVersionRecord) -> LoadedModel:
    """The version's ONNX graph (checksum verified) with its serving spec."""
    onnx, serving = record.details.get("onnx"), record.details.get("serving")
    if not onnx or not serving:
        raise ConfigError(
            f"model {record.model} v{record.version} has no ONNX export",
            fix="train it with ml.<model>.export.onnx: true (the default), then promote that version",
        )
    chosen = onnx.get("quantized") or onnx
    graph = ws.artifacts.read_verified(chosen["path"], chosen["sha256"])
    return LoadedModel(
        name=record.model,
        version=record.version,
        stage=record.stage,
        task=serving["task"],
        features=FeatureSpec.model_validate(record.details["config"]["features"]),
        inputs=dict(serving["inputs"]),
        onnx_inputs=dict(serving["onnx_inputs"]),
        known_categories={k: frozenset(v) for k, v in serving["known_categories"].items()},
        classes=list(serving["classes"]),
        threshold=serving["threshold"],
        session=session(graph),
        quantized="quantized" in onnx,
    )


class ModelHolder:
    """The model being served, found by stage (or pinned to a version), swapped on promotion."""

    def __init__(self, ws: Workspace, name: str, stage: str, version: int | None = None) -> None:
        self.ws, self.name, self.stage, self.pinned = ws, name, stage, version
        self._lock = threading.Lock()
        self.current = load(ws, self._wanted())

    def _wanted(self) -> ModelVersionRecord:
        if self.pinned is not None:
            return self.ws.catalog.model_version(self.name, self.pinned)
        found = self.ws.catalog.in_stage(self.name, self.stage)
        if found is None:
            raise NotFoundError(
                f"model '{self.name}' has no version in stage {self.stage}",
                fix=f"promote one: weir models promote {self.name}@VERSION --stage {self.stage}",
            )
        return found

    def refresh(self) -> bool:
        """Load the version the registry now names, if it changed; True when swapped."""
        with self._lock:  # one reload at a time; readers never wait
            wanted = self._wanted()
            if wanted.version == self.current.version:
                return False
            self.current = load(self.ws, wanted)
            return True
