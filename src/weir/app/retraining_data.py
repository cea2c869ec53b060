"""What retraining reads: a version's training and held-out rows as its training split
them, the prediction log with the model's input names, the labels table joined to it, and
a text key per row that tells whether a row is one a version trained on.

Every reader names the table version it read, so a recorded decision says what it rests on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.app.monitor_data import LOGGED_AT, REQUEST_ID, VERSION, as_text
from weir.app.prediction_log import log_table, record_prediction_log
from weir.app.workspace import Workspace
from weir.catalog import ModelVersionRecord, VersionRecord
from weir.core.errors import MonitorError
from weir.ml.train import split_rows
from weir.monitor.labels import LabelJoin, join_labels
from weir.project.ml_config import TrainConfig
from weir.project.monitor_config import MonitorConfig

ROW = "__weir_log_row"  # a log row's position, kept through windows and the labels join
_INPUT = "input_"
_NULL, _SEPARATOR = "\x00", "\x1f"


@dataclass(frozen=True)
class TrainingRows:
    """A version's training table at the version it read, split as its training split it."""

    spec: TrainConfig
    data: VersionRecord
    train: pa.Table
    test: pa.Table

    @property
    def source(self) -> str:
        return f"{self.data.table}@{self.data.version}"


def training_spec(record: ModelVersionRecord) -> TrainConfig:
    """The settings `record` was trained with (recorded since Weir keeps them)."""
    if not record.details.config:
        raise MonitorError(
            f"{record.model} v{record.version} was registered before Weir recorded its "
            "training settings, so the rows it trained on cannot be found",
            fix=f"retrain it ('weir train {record.model} --force') and promote the new version",
        )
    return TrainConfig.model_validate(record.details.config)


def training_rows(
    ws: Workspace, record: ModelVersionRecord, extra: Iterable[str] = ()
) -> TrainingRows:
    """The rows `record` trained on and the rows it held out, with the `extra` columns of
    its table too (another version's inputs, to score the same rows with it)."""
    spec = training_spec(record)
    data = trained_on(ws, record, spec)
    available = set(ws.lake.dataset(spec.table, data.version).schema.names)
    wanted = list(dict.fromkeys([*spec.input_columns, *extra]))
    table = ws.lake.read(spec.table, data.version, [c for c in wanted if c in available])
    train, test = split_rows(table, spec, f"ml.{record.model}")
    return TrainingRows(spec, data, train, test)


def trained_on(ws: Workspace, record: ModelVersionRecord, spec: TrainConfig) -> VersionRecord:
    for reference in record.trained_on:
        table, _, number = reference.rpartition("@")
        if table == spec.table:
            return ws.catalog.version(table, int(number))
    raise MonitorError(
        f"{record.model} v{record.version} has no recorded version of {spec.table}",
        fix=f"retrain it ('weir train {record.model} --force') and promote the new version",
    )


# the prediction log ------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRows:
    """Every logged answer: the model's inputs under their own names, `logged_at`,
    `request_id`, `version` (the version that answered) and ROW (its position)."""

    rows: pa.Table
    table: str
    version: int | None  # None: nothing logged yet
    notes: list[str] = field(default_factory=list)


def read_log(ws: Workspace, model: str, *, record: bool) -> LogRows:
    """The prediction log. With `record`, the catalog adopts the log's new Delta versions
    first (so the version read is one it knows); without (a dry run), the newest Delta
    version is read and the catalog is left as it is."""
    table = log_table(model)
    notes: list[str] = []
    version: int | None
    if record:
        notes += record_prediction_log(ws, model).notes
        found = ws.catalog.current_version(table)
        version = found.version if found else None
    else:
        version = ws.lake.latest_version(table) if ws.lake.exists(table) else None
    if version is None:
        return LogRows(pa.table({ROW: pa.array([], pa.int64())}), table, None, notes)
    raw = ws.lake.read(table, version)
    columns = {
        c.removeprefix(_INPUT): raw.column(c) for c in raw.column_names if c.startswith(_INPUT)
    }
    for name in (LOGGED_AT, REQUEST_ID, VERSION):
        if name in raw.column_names and name not in columns:
            columns[name] = raw.column(name)
    columns[ROW] = pa.chunked_array([pa.array(np.arange(raw.num_rows, dtype=np.int64))])
    return LogRows(pa.table(columns), table, version, notes)


@dataclass(frozen=True)
class Labels:
    table: str
    version: int
    rows: pa.Table  # the key and the label column


def read_labels(ws: Workspace, model: str, config: MonitorConfig, target: str) -> Labels | None:
    """The labels table's current version (None when monitor.MODEL has no labels:)."""
    labels = config.labels
    if labels is None:
        return None
    record = ws.catalog.current_version(labels.table)
    if record is None:
        raise MonitorError(
            f"labels table '{labels.table}' has no version yet",
            fix="run the project ('weir run') so the labels table is loaded",
        )
    column = labels.column or target
    table = ws.lake.read(labels.table, record.version)
    for name in (labels.key, column):
        if name not in table.column_names:
            raise MonitorError(
                f"labels table '{labels.table}' has no column '{name}'",
                fix=f"set monitor.{model}.labels (key, column); it has {', '.join(table.column_names)}",
            )
    return Labels(labels.table, record.version, table.select([labels.key, column]))


def join(log: LogRows, labels: Labels, config: MonitorConfig, target: str) -> LabelJoin:
    """The logged answers that have a label (`label_true`); join_labels refuses a key
    labelled twice with different labels, and that refusal reaches the user as it is."""
    assert config.labels is not None
    return join_labels(
        log.rows,
        labels.rows,
        log_key=config.labels.log_key,
        labels_key=config.labels.key,
        label_column=config.labels.column or target,
        labels_where=f"labels table '{labels.table}'",
        log_where=f"prediction log {log.table}",
    )


# which rows a version trained on -----------------------------------------------------------


def row_keys(
    rows: pa.Table, columns: Sequence[str], types: dict[str, pa.DataType]
) -> pa.Array | None:
    """One text key per row from its `columns`, each first cast to the type `types` gives
    (the training table's), so a logged row and the training row it came from get the
    same key. None when a column does not cast: then rows cannot be told apart by content."""
    parts = []
    for name in columns:
        values = rows.column(name)
        try:
            if values.type != types[name]:
                values = pc.cast(values, types[name])
            text = pc.cast(values, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
        parts.append(pc.fill_null(text, _NULL).combine_chunks())
    if not parts:
        return None
    return pc.binary_join_element_wise(*parts, _SEPARATOR)


def seen_in(
    rows: pa.Table, columns: Sequence[str], trained: Sequence[pa.Table]
) -> np.ndarray | None:
    """Which of `rows` equal, on `columns`, a row of one of the `trained` tables (None when
    the comparison is impossible: a column missing or of a type that does not cast)."""
    if not trained:
        return np.zeros(rows.num_rows, dtype=bool)
    if any(c not in rows.column_names or c not in t.column_names for t in trained for c in columns):
        return None
    types = {c: trained[0].schema.field(c).type for c in columns}
    known = [row_keys(t, columns, types) for t in trained]
    mine = row_keys(rows, columns, types)
    if mine is None or any(k is None for k in known):
        return None
    value_set = pa.concat_arrays([k for k in known if k is not None])
    return np.asarray(pc.is_in(mine, value_set=value_set).to_numpy(zero_copy_only=False), bool)


def label_text(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Class labels as text, the way `str(label)` writes the version's classes: 1 and '1'
    and 1.0 are the same class, and True is 'True'."""
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    if pa.types.is_boolean(values.type):
        return np.asarray([None if v is None else str(v) for v in values.to_pylist()], object)
    return np.asarray(as_text(values).to_pylist(), dtype=object)
