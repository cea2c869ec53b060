"""The served model: its ONNX session and serving spec, and the holder that swaps it.

A request takes the holder's current model once and uses only that object, so a promotion
swaps the reference atomically and requests in flight finish on the model they started with.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from weir.catalog import ModelVersionRecord
from weir.core.errors import NotFoundError
from weir.ml.decision import decide, decide_one
from weir.ml.onnx_export import run, session
from weir.ml.rows import prepare_columns
from weir.project.ml_config import FeatureSpec

if TYPE_CHECKING:  # only a type here: the weir.app package loads every stage
    from weir.app.workspace import Workspace


class NotFiniteError(Exception):
    """The model's answer for some rows is not a finite number: inputs far outside what it
    was trained on can take a linear model to infinity (and two infinities to NaN)."""

    def __init__(self, rows: list[int]) -> None:
        super().__init__(f"rows {rows}")
        self.rows = rows


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
        """One answer per row: label and probabilities, a value, or a cluster. Raises
        NotFiniteError when a value or a probability is not a finite number."""
        outputs = run(
            self.session, prepare_columns(rows, self.features), self.onnx_inputs, self.task
        )
        if self.task == "regression":
            values = outputs.tolist()
            if not all(map(math.isfinite, values)):
                raise NotFiniteError([i for i, v in enumerate(values) if not math.isfinite(v)])
            return [{"prediction": v} for v in values]
        if self.task == "clustering":
            return [{"cluster": int(v)} for v in outputs]
        if len(rows) == 1:  # plain Python: for one row, numpy's per-call cost dominates
            probabilities = outputs[0].tolist()
            if not all(map(math.isfinite, probabilities)):
                raise NotFiniteError([0])
            label = decide_one(probabilities, self.classes, self.threshold)
            if len(self.classes) == 2:
                return [{"label": label, "probability": probabilities[1]}]
            names = [str(c) for c in self.classes]
            return [{"label": label, "probabilities": dict(zip(names, probabilities, strict=True))}]
        finite = np.isfinite(outputs).all(axis=1)
        if not finite.all():
            raise NotFiniteError(np.flatnonzero(~finite).tolist())
        labels = decide(outputs, self.classes, self.threshold).tolist()
        if len(self.classes) == 2:
            return [
                {"label": label, "probability": float(p)}
                for label, p in zip(labels, outputs[:, 1], strict=True)
            ]
        names = [str(c) for c in self.classes]
        return [
            {"label": label, "probabilities": dict(zip(names, map(float, row), strict=True))}
            for label, row in zip(labels, outputs, strict=True)
        ]


def load(ws: Workspace, record: ModelVersionRecord, threads: int = 1) -> LoadedModel:
    """The version's ONNX graph (checksum verified) with its serving spec."""
    serving = record.serving_spec()
    sess = session(ws.artifacts.read_verified(*serving.graph.as_tuple()), threads)
    return LoadedModel(
        name=record.model,
        version=record.version,
        stage=record.stage,
        task=serving.task,
        features=FeatureSpec.model_validate(serving.features),
        inputs=dict(serving.inputs),
        onnx_inputs=dict(serving.onnx_inputs),
        known_categories={k: frozenset(v) for k, v in serving.known_categories.items()},
        classes=list(serving.classes),
        threshold=serving.threshold,
        session=sess,
        quantized=serving.quantized,
    )


class ModelHolder:
    """The model being served, found by stage (or pinned to a version), swapped on promotion."""

    def __init__(
        self, ws: Workspace, name: str, stage: str, version: int | None = None, threads: int = 1
    ) -> None:
        self.ws, self.name, self.stage, self.pinned = ws, name, stage, version
        self.threads = threads
        self._lock = threading.Lock()
        self.current = load(ws, self.wanted(), threads)

    def wanted(self) -> ModelVersionRecord:
        """The version the registry names now (or the pinned one)."""
        if self.pinned is not None:
            return self.ws.catalog.model_version(self.name, self.pinned)
        found = self.ws.catalog.in_stage(self.name, self.stage)
        if found is None:
            raise NotFoundError(
                f"model '{self.name}' has no version in stage {self.stage}",
                fix=f"promote one: weir models promote {self.name}@VERSION --stage {self.stage}",
            )
        return found

    def refresh(
        self, refuse: Callable[[ModelVersionRecord], str | None]
    ) -> tuple[bool, str | None]:
        """Load the version the registry now names, if it changed and `refuse` has no
        objection; returns (swapped, the objection)."""
        with self._lock:  # one reload at a time; readers never wait
            wanted = self.wanted()
            if wanted.version == self.current.version:
                return False, None
            problem = refuse(wanted)
            if problem is None:
                self.current = load(self.ws, wanted, self.threads)
            return problem is None, problem
