"""Export at training time: the ONNX graph, its parity check, optional int8 quantisation,
and the serving spec (what a request must carry and how answers are read).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from weir.core.errors import StepError
from weir.ml import metrics as m
from weir.ml.onnx_export import (
    check_parity,
    describe,
    input_names,
    run,
    session,
    to_onnx,
    with_decision,
)
from weir.ml.rows import derived_inputs, input_kinds
from weir.ml.train import TrainedModel
from weir.project.ml_config import TrainConfig


@dataclass
class Exported:
    onnx: bytes
    record: dict[str, Any]
    quantized: bytes | None = None
    warnings: list[str] = field(default_factory=list)


def export(trained: TrainedModel, spec: TrainConfig, schema: pa.Schema, step: str) -> Exported:
    """ONNX bytes that passed the parity check on the test rows, or a StepError showing the
    rows that differ most."""
    evaluation = trained.evaluation
    assert evaluation is not None
    onnx = to_onnx(trained.pipeline, evaluation.x, spec.features, spec.task, step)
    if spec.task == "classification":
        onnx = with_decision(onnx, list(trained.classes), trained.threshold)
    onnx = describe(onnx, graph_metadata(trained, spec, schema))
    parity = check_parity(
        onnx, evaluation.predictions, evaluation.x, spec.features, spec.task, spec.export.tolerance
    )
    if not parity.ok:
        raise StepError(
            step,
            f"ONNX predictions differ from the native model by up to {parity.max_difference:.3g} "
            f"on {parity.rows:,} test rows (tolerance {parity.tolerance:g}); largest: {parity.worst[:3]}",
            fix="raise ml.<model>.export.tolerance if that is acceptable, or set export.onnx: false",
        )
    record: dict[str, Any] = {
        "parity": {
            "rows": parity.rows,
            "max_difference": parity.max_difference,
            "tolerance": parity.tolerance,
        },
        "size": len(onnx),
        "inputs": input_names(evaluation.x, spec.features),
    }
    exported = Exported(onnx, record)
    if spec.export.quantize:
        _quantize(exported, trained, spec)
    return exported


def graph_metadata(trained: TrainedModel, spec: TrainConfig, schema: pa.Schema) -> dict[str, Any]:
    """What the graph carries in its metadata_props (each value JSON), under `weir.`."""
    evaluation = trained.evaluation
    assert evaluation is not None
    metadata: dict[str, Any] = {
        "weir.task": spec.task,
        "weir.inputs": input_kinds(schema, spec.features),
        "weir.graph_inputs": input_names(evaluation.x, spec.features),
        "weir.derived_inputs": derived_inputs(spec.features),
    }
    if spec.task == "classification":
        metadata["weir.classes"] = list(trained.classes)
        metadata["weir.decision_threshold"] = trained.threshold
        metadata["weir.label"] = (
            f"classes[1] if probabilities[:, 1] >= {trained.threshold!r} (as float64) else classes[0]"
            if trained.threshold is not None and len(trained.classes) == 2
            else "the most probable class (ties: the first)"
        )
    return metadata


def _primary(spec: TrainConfig, classes: int) -> str:
    if spec.tune is not None and spec.tune.metric:
        return spec.tune.metric
    return m.default_metric(spec.task, classes)


def _score(predictions: np.ndarray, trained: TrainedModel, spec: TrainConfig, metric: str) -> float:
    y = trained.evaluation.y if trained.evaluation else None
    if spec.task == "regression":
        return m.regression_metrics(np.asarray(y, dtype=np.float64), predictions)[metric]
    classes = np.asarray(trained.classes)
    labels = m.decide(predictions, classes, trained.threshold)
    return m.classification_metrics(y, labels, predictions, classes)[metric]


def _quantize(exported: Exported, trained: TrainedModel, spec: TrainConfig) -> None:
    """int8 weights where onnxruntime can (MatMul/Gemm: linear models, MLPs); the record says
    size, speed and metric change, and the quantised graph is kept only within tolerance."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    evaluation = trained.evaluation
    assert evaluation is not None
    if spec.task == "clustering":
        exported.record["quantization"] = {"used": False, "reason": "not measured for clustering"}
        return
    with tempfile.TemporaryDirectory() as directory:
        source, target = Path(directory) / "model.onnx", Path(directory) / "model.int8.onnx"
        source.write_bytes(exported.onnx)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        quantized = target.read_bytes()
    kinds = input_names(evaluation.x, spec.features)
    timings = {}
    outputs = {}
    for label, graph in (("float32", exported.onnx), ("int8", quantized)):
        sess = session(graph)
        started = time.perf_counter()
        outputs[label] = run(sess, evaluation.x, kinds, spec.task)
        timings[label] = time.perf_counter() - started
    metric = _primary(spec, len(trained.classes))
    before, after = (
        _score(outputs["float32"], trained, spec, metric),
        _score(outputs["int8"], trained, spec, metric),
    )
    drop = (before - after) if m.direction(metric) == "maximize" else (after - before)
    used = drop <= spec.export.max_metric_drop
    exported.record["quantization"] = {
        "used": used,
        "metric": metric,
        "float32": before,
        "int8": after,
        "drop": drop,
        "max_drop": spec.export.max_metric_drop,
        "size": {"float32": len(exported.onnx), "int8": len(quantized)},
        "seconds_on_test_rows": timings,
    }
    if used:
        exported.quantized = quantized
    else:
        exported.warnings.append(
            f"int8 quantisation refused: {metric} drops by {drop:.4f} (> {spec.export.max_metric_drop}); serving the float32 graph"
        )


def serving_spec(trained: TrainedModel, spec: TrainConfig, schema: pa.Schema) -> dict[str, Any]:
    """What the server needs besides the graph: request fields, the ONNX inputs in order,
    categories that must be known (unknown: error), classes and the decision threshold."""
    strict = {}
    columns = trained.pipeline.named_steps["columns"]
    for name, transformer, fields in columns.transformers_:
        if not name.startswith("categorical_"):
            continue
        encoder = transformer.named_steps["encode"]
        mapper = transformer.named_steps.get("categories")
        for index, column in enumerate(fields):
            if spec.features.categorical[column].unknown == "error":
                known = (
                    sorted(mapper.mapping_[index])
                    if mapper is not None
                    else [str(c) for c in encoder.categories_[index]]
                )
                strict[column] = known  # "__missing__" among them if training had gaps
    evaluation = trained.evaluation
    assert evaluation is not None
    return {
        "task": spec.task,
        "inputs": input_kinds(schema, spec.features),
        "onnx_inputs": input_names(evaluation.x, spec.features),
        "known_categories": strict,
        "classes": trained.classes,
        "threshold": trained.threshold,
    }
