"""Batch scoring (`weir predict`): a table or file in, the same rows with predictions out.

Streams record batches through the model's ONNX graph, so input of any size runs in bounded
memory. A lake table output is a new table version with lineage from the input version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads

from weir.app.lake_format import commit_metadata
from weir.app.run import begin_run
from weir.app.workspace import Workspace, run_lock
from weir.catalog import ModelVersionRecord, ServingSpec, VersionRecord
from weir.core.errors import ConfigError
from weir.engines import schema_record
from weir.ingest import check_csv
from weir.ml.decision import decide
from weir.ml.features import prepare_frame
from weir.ml.onnx_export import run as run_onnx
from weir.ml.onnx_export import session
from weir.project.ml_config import FeatureSpec

FILE_FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".ndjson": "json"}


@dataclass(frozen=True)
class ScoreResult:
    model: str
    version: int
    rows: int
    output: str
    output_version: int | None


def resolve_model(ws: Workspace, text: str) -> ModelVersionRecord:
    """MODEL@VERSION, or MODEL: its production version, else its latest."""
    name, _, wanted = text.partition("@")
    if wanted:
        if not wanted.isdigit():
            raise ConfigError(f"'{text}': the version after @ must be a number", fix="e.g. fraud@3")
        return ws.catalog.model_version(name, int(wanted))
    return ws.catalog.in_stage(name, "production") or ws.catalog.model_version(name)


def exported_session(
    ws: Workspace, serving: ServingSpec, threads: int = 1
) -> tuple[Any, FeatureSpec]:
    """The version's ONNX graph (int8 if it passed its check), checksum verified, as an
    onnxruntime session, with the feature spec that prepares its input."""
    graph = ws.artifacts.read_verified(*serving.graph.as_tuple())
    return session(graph, threads), FeatureSpec.model_validate(serving.features)


def _input(ws: Workspace, text: str) -> tuple[pads.Dataset, VersionRecord | None]:
    path = (ws.project.root / text) if not Path(text).is_absolute() else Path(text)
    if path.suffix.lower() in FILE_FORMATS:
        if not path.exists():
            raise ConfigError(
                f"input file {text} does not exist", fix="give a file path or a table name"
            )
        if FILE_FORMATS[path.suffix.lower()] == "csv":  # pyarrow's reader lets a quote swallow
            check_csv(ws.local, path, f"input {text}")  # lines: Weir's checks go first
        return pads.dataset(path, format=FILE_FORMATS[path.suffix.lower()]), None
    record = ws.catalog.current_version(text)
    if record is None:
        known = [r.table for r in ws.catalog.tables()]
        from weir.core.suggest import suggestion_text

        raise ConfigError(
            f"no table or file '{text}'",
            fix=suggestion_text(text, known) if known else "run the project first",
        )
    return ws.lake.dataset(text, record.version), record


def _read(
    ws: Workspace, dataset: Any, source: str, parent: VersionRecord | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The input's batches. A lake table's that cannot be read: the lake names the file."""
    try:
        yield from dataset.to_batches(batch_size=batch_rows)
    except (OSError, pa.ArrowException):
        if parent is not None:
            ws.lake.check_content(source, parent.version)
        raise


def answers(
    serving: ServingSpec, sess: Any, features: FeatureSpec, batch: pa.Table
) -> dict[str, pa.Array]:
    """The version's answers to `batch` through its ONNX graph, as `weir predict` writes
    them (monitoring scores its reference rows with it, so both sides match serving)."""
    task = serving.task
    frame = prepare_frame(batch, features)
    outputs = run_onnx(sess, frame, dict(serving.onnx_inputs), task)
    if task == "regression":
        return {"prediction": pa.array(outputs, pa.float64())}
    if task == "clustering":
        return {"cluster": pa.array(outputs.astype(np.int64))}
    classes = serving.classes
    labels = pa.array(decide(outputs, classes, serving.threshold).tolist())
    if len(classes) == 2:
        return {"prediction": labels, "probability": pa.array(outputs[:, 1], pa.float64())}
    columns = {"prediction": labels}
    columns |= {
        f"probability_{c}": pa.array(outputs[:, i], pa.float64()) for i, c in enumerate(classes)
    }
    return columns


def score(
    ws: Workspace,
    model: str,
    source: str,
    target: str,
    *,
    batch_rows: int = 65_536,
    progress: Callable[[int], None] | None = None,
) -> ScoreResult:
    record = resolve_model(ws, model)
    serving = record.serving_spec()
    sess, features = exported_session(ws, serving)
    dataset, parent = _input(ws, source)
    missing = [c for c in serving.inputs if c not in dataset.schema.names]
    if missing:
        raise ConfigError(
            f"input {source} lacks the model's columns {missing}",
            fix=f"{record.model} v{record.version} reads {list(serving.inputs)}",
        )
    counted = {"rows": 0}

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in _read(ws, dataset, source, parent, batch_rows):
            if batch.num_rows == 0:
                continue
            table = pa.Table.from_batches([batch])
            for name, values in answers(serving, sess, features, table).items():
                table = table.append_column(name, values)
            counted["rows"] += table.num_rows
            if progress:
                progress(counted["rows"])
            yield from table.to_batches()

    first = next(batches_iter := batches(), None)
    if first is None:
        raise ConfigError(f"input {source} has no rows", fix="score a table or file with rows")

    def stream() -> Iterator[pa.RecordBatch]:
        yield first
        yield from batches_iter

    schema = first.schema
    out = Path(target) if Path(target).is_absolute() else ws.project.root / target
    if out.suffix.lower() in (".parquet", ".csv"):
        _write_file(out, schema, stream())
        return ScoreResult(record.model, record.version, counted["rows"], str(out), None)
    if target in ws.project.tables():
        raise ConfigError(
            f"output '{target}' is a table of the project",
            fix="name a new table (or a .parquet/.csv file)",
        )
    reader = pa.RecordBatchReader.from_batches(schema, stream())
    version = _write_table(ws, record, reader, target, source, parent)
    return ScoreResult(record.model, record.version, counted["rows"], target, version)


def _write_table(
    ws: Workspace,
    record: ModelVersionRecord,
    reader: pa.RecordBatchReader,
    target: str,
    source: str,
    parent: VersionRecord | None,
) -> int:
    """The scored rows as a new version of lake table `target`, recorded in the catalog
    in a run of its own, with lineage from the input version; returns the version."""
    with run_lock(ws.project.workspace):
        run_id = begin_run(ws, {"command": "predict"})
        status = "failed"
        try:
            version = ws.lake.write(
                target,
                reader,
                mode="overwrite",
                metadata=commit_metadata(run_id, None, "predictions", [parent] if parent else []),
            )
            scan = ws.lake.scan(target, version)
            content = ws.engine.fingerprint(scan)
            ws.catalog.record_version(
                target,
                kind="predictions",
                version=version,
                row_count=content.row_count,
                fingerprint=content.digest,
                schema=schema_record(scan.schema),
                run_id=run_id,
                step_run_id=None,
                parents=[parent.id] if parent else [],
                description=f"predictions of {record.model} v{record.version} for {source}",
                answers_of=[record.id],
            )
            status = "succeeded"
        finally:
            ws.catalog.finish_run(run_id, status)
    return version


def _write_file(path: Path, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> None:
    """Written to a temporary name and renamed: a failed run leaves no half file."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    try:
        writer: Any = (
            pq.ParquetWriter(temporary, schema)
            if path.suffix.lower() == ".parquet"
            else pacsv.CSVWriter(temporary, schema)
        )
        with writer:
            for batch in batches:
                writer.write_batch(batch)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
