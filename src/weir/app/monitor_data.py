"""What a monitor compares: the model version it judges, its reference rows (features and
the answers the version gives them), the current rows (its prediction log or a scored
table) under the same column names, and the windows they are cut into.

Names: a feature keeps the model's input name on both sides (the log's `input_amount` is
`amount` here); the answer is `prediction` (the label of a classifier as text, the value of
a regressor, the cluster) and, for a binary classifier, `probability` (of the positive
class), as `weir predict` writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.app.prediction_log import log_table, record_prediction_log, withheld_inputs
from weir.app.scoring import answers, exported_session
from weir.app.workspace import Workspace
from weir.catalog import ModelVersionRecord, ServingSpec, VersionRecord, WindowRef
from weir.core.errors import ConfigError, MonitorError
from weir.ml.train import split_rows
from weir.project.ml_config import FeatureSpec, TrainConfig
from weir.project.monitor_config import FeatureKind, MonitorConfig, WindowConfig

PREDICTION, PROBABILITY = "prediction", "probability"
LOGGED_AT, REQUEST_ID, VERSION = "logged_at", "request_id", "version"
_INPUT = "input_"


@dataclass(frozen=True)
class Judged:
    """The model version a monitor judges and what it needs to know of it."""

    model: str
    config: MonitorConfig
    record: ModelVersionRecord
    serving: ServingSpec
    kinds: dict[str, FeatureKind]  # watched column -> kind, the answer columns included
    outputs: tuple[str, ...]  # the answer columns among them
    skipped: tuple[str, ...]  # inputs not watched for drift (dates, text), named in output
    withheld: dict[str, str]  # input -> PII class: verdicts show no values of these

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(c for c in self.kinds if c not in self.outputs)

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def binary(self) -> bool:
        return self.serving.task == "classification" and len(self.serving.classes) == 2


@dataclass(frozen=True)
class Reference:
    """The rows the current data is compared with. Inputs: the version's training rows (by
    default). Answers: the version's answers to rows it did not train on (its held-out test
    rows), since a model is more sure of the rows it was fitted to, and comparing live
    answers with those would raise drift alarms on traffic that has not changed. With them,
    for a binary classifier, the true labels, for estimating performance."""

    inputs: pa.Table  # the watched input columns
    answers: pa.Table  # the answer columns (none when answers are not watched)
    source: str  # e.g. "transaction_features@3 (training rows of v2)"
    data: dict[str, int]  # table -> version read
    scores: np.ndarray | None = None  # held-out rows: probability of the positive class
    truth: np.ndarray | None = None  # held-out rows: the true labels, as text


@dataclass(frozen=True)
class Current:
    rows: pa.Table  # watched columns + logged_at/request_id/version where known
    table: str
    version: int | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Window:
    ref: WindowRef
    rows: pa.Table


def judged(ws: Workspace, model: str) -> Judged:
    """The version in production (else the newest) of `model`, with its monitor settings."""
    config = ws.project.config.monitor.get(model)
    if config is None:
        from weir.core.suggest import suggestion_text

        raise ConfigError(
            f"model '{model}' has no monitor: section in weir.yaml",
            fix=f"add 'monitor: {{{model}: {{}}}}' to weir.yaml"
            if model in ws.project.config.ml
            else suggestion_text(model, list(ws.project.config.monitor)),
        )
    record = ws.catalog.in_stage(model, "production") or ws.catalog.model_version(model)
    serving = record.serving_spec()
    kinds, skipped = _kinds(config, serving)
    outputs = _output_kinds(serving) if config.drift.output else {}
    withheld = withheld_inputs(ws, [record])
    return Judged(
        model, config, record, serving, kinds | outputs, tuple(outputs), skipped, withheld
    )


def _kinds(
    config: MonitorConfig, serving: ServingSpec
) -> tuple[dict[str, FeatureKind], tuple[str, ...]]:
    features = FeatureSpec.model_validate(serving.features)
    declared: dict[str, FeatureKind] = dict.fromkeys(features.numeric, "numeric")
    declared |= dict.fromkeys(features.categorical, "categorical")
    wanted = config.drift.features or list(serving.inputs)
    unknown = [c for c in wanted if c not in serving.inputs]
    if unknown:
        raise ConfigError(
            f"monitor.drift.features names {unknown}, which the model does not read",
            fix=f"the model's inputs: {', '.join(serving.inputs)}",
        )
    kinds = {c: config.drift.kinds.get(c, declared[c]) for c in wanted if c in declared}
    kinds |= {c: k for c, k in config.drift.kinds.items() if c in wanted}
    return kinds, tuple(c for c in wanted if c not in kinds)


def _output_kinds(serving: ServingSpec) -> dict[str, FeatureKind]:
    if serving.task == "regression":
        return {PREDICTION: "numeric"}
    if serving.task == "clustering":
        return {PREDICTION: "categorical"}
    if len(serving.classes) == 2:
        return {PREDICTION: "binary", PROBABILITY: "numeric"}
    return {PREDICTION: "categorical"}


# reference ---------------------------------------------------------------------------------


def reference(ws: Workspace, judged: Judged) -> Reference:
    """The training rows of the judged version (the default), or a declared table."""
    if judged.config.reference == "training":
        return _training_reference(ws, judged)
    table, _, wanted = judged.config.reference.partition("@")
    record = ws.catalog.version(table, int(wanted)) if wanted else _current(ws, table)
    rows = ws.lake.read(table, record.version)
    where = f"reference {table}@{record.version}"
    return Reference(
        _columns(rows, judged, judged.inputs, where),
        _columns(_with_answers(ws, judged, rows), judged, judged.outputs, where),
        f"{table}@{record.version}",
        {table: record.version},
    )


def _training_reference(ws: Workspace, judged: Judged) -> Reference:
    config = judged.record.details.config
    if not config:
        raise MonitorError(
            f"{judged.model} v{judged.version} was registered before Weir recorded its "
            "training settings, so its training rows cannot be found",
            fix=f"set monitor.{judged.model}.reference to a table, or retrain the model",
        )
    spec = TrainConfig.model_validate(config)
    data = _trained_on(ws, judged.record, spec)
    train, test = split_rows(ws.lake.read(spec.table, data.version), spec, f"ml.{judged.model}")
    source = f"{spec.table}@{data.version} (training rows of v{judged.version})"
    answered = _with_answers(ws, judged, test)
    scores, truth = None, None
    if judged.binary and spec.target and test.num_rows:
        scores = answered.column(PROBABILITY).to_numpy(zero_copy_only=False)
        truth = np.asarray(as_text(test.column(spec.target)).to_pylist(), dtype=object)
    return Reference(
        _columns(train, judged, judged.inputs, source),
        _columns(answered, judged, judged.outputs, f"held-out rows of v{judged.version}"),
        source,
        {spec.table: data.version},
        scores,
        truth,
    )


def _trained_on(ws: Workspace, record: ModelVersionRecord, spec: TrainConfig) -> VersionRecord:
    for reference in record.trained_on:
        table, _, number = reference.rpartition("@")
        if table == spec.table:
            return ws.catalog.version(table, int(number))
    raise MonitorError(
        f"{record.model} v{record.version} has no recorded version of {spec.table}",
        fix=f"set monitor.{record.model}.reference to a table, or retrain the model",
    )


def _with_answers(ws: Workspace, judged: Judged, rows: pa.Table) -> pa.Table:
    """`rows` with the version's answers to them, as serving gives them (its ONNX graph)."""
    if not judged.outputs:
        return rows
    missing = [c for c in judged.serving.inputs if c not in rows.schema.names]
    if missing:
        raise MonitorError(
            f"the reference lacks the model's inputs {missing}, so the model's answers to "
            "it cannot be computed",
            fix=f"reference a table with the columns {list(judged.serving.inputs)}, or set "
            f"monitor.{judged.model}.drift.output: false",
        )
    sess, features = exported_session(ws, judged.serving)
    for name, values in answers(judged.serving, sess, features, rows).items():
        if name in (PREDICTION, PROBABILITY):
            rows = rows.append_column(name, values)
    return rows


# current -----------------------------------------------------------------------------------


def current(ws: Workspace, judged: Judged) -> Current:
    """The current rows: the prediction log (recorded in the catalog first, so the
    version read is one the catalog knows) or a table scored by `weir predict`."""
    notes: list[str] = []
    if judged.config.current == "predictions":
        table = log_table(judged.model)
        recorded = record_prediction_log(ws, judged.model)
        notes += recorded.notes
        record = ws.catalog.current_version(table)
        if record is None:
            return Current(_empty(judged), table, None, (f"{table} has no answers yet",))
        rows = _from_log(ws.lake.read(table, record.version), judged)
        return Current(rows, table, record.version, tuple(notes))
    table = judged.config.current
    record = _current(ws, table)
    rows = ws.lake.read(table, record.version)
    where = f"{table}@{record.version}"
    return Current(
        _columns(rows, judged, list(judged.kinds), where, extra=True), table, record.version
    )


def _from_log(log: pa.Table, judged: Judged) -> pa.Table:
    renamed = {c: c.removeprefix(_INPUT) for c in log.schema.names if c.startswith(_INPUT)}
    if judged.serving.task == "classification":
        renamed["label"] = PREDICTION
    elif judged.serving.task == "clustering":
        renamed["cluster"] = PREDICTION
    names = [renamed.get(c, c) for c in log.schema.names]
    return _columns(
        log.rename_columns(names), judged, list(judged.kinds), log_table(judged.model), extra=True
    )


def _columns(
    rows: pa.Table, judged: Judged, wanted: Sequence[str], where: str, extra: bool = False
) -> pa.Table:
    """The `wanted` watched columns (answers as text where they are categories), and with
    `extra` the columns windows and labels need."""
    missing = [c for c in wanted if c not in rows.schema.names]
    if missing:
        raise MonitorError(
            f"{where} lacks the watched columns {missing}",
            fix=f"check monitor.{judged.model} (drift.features, reference, current): "
            f"{where} has {', '.join(rows.schema.names)}",
        )
    keep = list(wanted)
    if extra:
        keep += [c for c in (LOGGED_AT, REQUEST_ID, VERSION) if c in rows.schema.names]
        keep += [c for c in _label_keys(judged) if c in rows.schema.names and c not in keep]
    columns = {c: rows.column(c) for c in keep}
    if PREDICTION in columns and judged.kinds.get(PREDICTION) != "numeric":
        columns[PREDICTION] = as_text(columns[PREDICTION])
    return pa.table(columns) if columns else pa.table({"_": pa.nulls(rows.num_rows)}).drop(["_"])


def _label_keys(judged: Judged) -> list[str]:
    labels = judged.config.labels
    return [labels.log_key] if labels else []


def as_text(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Labels compare as text: the log keeps them as text, `weir predict` and tables as
    the target's type (issue: one type everywhere); 1 and '1' are the same class."""
    if pa.types.is_floating(values.type):
        as_int = pc.cast(values, pa.int64(), safe=False)
        if pc.all(pc.equal(pc.cast(as_int, values.type), values)).as_py() is not False:
            values = as_int
    return pc.cast(values, pa.string())


def _empty(judged: Judged) -> pa.Table:
    return pa.table({c: pa.array([], pa.float64()) for c in judged.kinds})


def _current(ws: Workspace, table: str) -> VersionRecord:
    record = ws.catalog.current_version(table)
    if record is None:
        raise MonitorError(
            f"table '{table}' has no version yet", fix="run the project ('weir run') first"
        )
    return record


# windows -----------------------------------------------------------------------------------


def windows(rows: pa.Table, config: WindowConfig, now: datetime) -> tuple[list[Window], str | None]:
    """The closed windows of `rows` (oldest first) and a word on the open one: a time
    window closes when its interval has passed, a row window when it is full."""
    if config.rows is not None:
        return _row_windows(rows, config.rows)
    seconds = config.seconds
    assert seconds is not None
    return _time_windows(rows, config.column, seconds, config.every or "1d", now)


def _in_log_order(rows: pa.Table) -> pa.Table:
    keys = [(c, "ascending") for c in (LOGGED_AT, REQUEST_ID) if c in rows.schema.names]
    return rows.sort_by(keys) if keys else rows


def _row_windows(rows: pa.Table, size: int) -> tuple[list[Window], str | None]:
    rows = _in_log_order(rows)
    full = rows.num_rows // size
    found = []
    for index in range(full):
        part = rows.slice(index * size, size)
        start, end = _span(part)
        key = f"rows {index * size}-{(index + 1) * size - 1}"
        found.append(Window(WindowRef(key, start, end, size), part))
    rest = rows.num_rows - full * size
    note = f"the open window holds {rest} of its {size} rows" if rest else None
    return found, note


def _span(part: pa.Table) -> tuple[datetime | None, datetime | None]:
    if LOGGED_AT not in part.schema.names or part.num_rows == 0:
        return None, None
    low, high = pc.min_max(part.column(LOGGED_AT)).values()
    return _aware(low.as_py()), _aware(high.as_py())


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _time_windows(
    rows: pa.Table, column: str, seconds: int, every: str, now: datetime
) -> tuple[list[Window], str | None]:
    if column not in rows.schema.names or not pa.types.is_timestamp(rows.schema.field(column).type):
        raise ConfigError(
            f"monitor window column '{column}' is not a timestamp column of the current data",
            fix="set monitor.MODEL.window.column to a timestamp column, or use window: {rows: N}",
        )
    times = pc.cast(rows.column(column), pa.timestamp("us", tz="UTC"))
    epoch = pc.cast(times, pa.int64()).to_numpy(zero_copy_only=False)
    starts = (epoch // (seconds * 1_000_000)) * seconds
    closed_before = int(now.timestamp()) // seconds * seconds
    found: list[Window] = []
    for start in np.unique(starts):
        if start >= closed_before:
            continue
        part = rows.filter(pa.array(starts == start))
        begin = datetime.fromtimestamp(int(start), UTC)
        key = f"{begin:%Y-%m-%dT%H:%M:%SZ}/{every}"
        found.append(
            Window(WindowRef(key, begin, begin + timedelta(seconds=seconds), part.num_rows), part)
        )
    open_rows = int(np.sum(starts >= closed_before))
    note = None
    if open_rows:
        closes = datetime.fromtimestamp(closed_before + seconds, UTC)
        note = f"the open window ({open_rows} rows so far) is judged when it closes at {closes:%Y-%m-%d %H:%M}Z"
    return found, note
