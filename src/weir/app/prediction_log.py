"""The prediction log as a lake table: its name, where `weir serve` writes it, and how the
catalog follows it.

Each model's log is the lake table MODEL__predictions (`log_table`; the suffix is reserved
like the quarantine's, see lake_format). The server's writer process appends to it with
no catalog at hand (it deliberately imports no weir, and a catalog write in the server
would put SQLite's lock beside the request path), so every append carries what the
catalog needs in its Delta commit metadata: Weir's commit format and kind, the model, and
the model versions whose answers it holds (`MODEL_VERSIONS_KEY`; a flush that spans a
promotion holds two, and its one commit names both, so a flush stays all or nothing).

The catalog follows the lake: `record_prediction_log` adopts the Delta versions the
catalog does not record yet. It runs when `weir serve` stops, when `weir show`,
`weir profile` or `weir tables` reads a log, and in `weir catalog rebuild`; a log written
while the catalog was busy, unreachable or lost (a killed server, another process holding
SQLite's lock) is recorded by the next of these. Not at every flush (a catalog write per
flush from the server), and not at the start of `weir run`: no step reads the log yet; the
monitoring step, which will, adopts it when it observes its input.

Which Delta versions become catalog versions: the last of each run of consecutive commits
answered by the same model versions, so each change of served version is a version of its
own and every recorded version's answers come from known model versions (`answered_by`).
A flush every 5 s makes 17,280 Delta versions a day: recording each with a fingerprint
and a profile would scan the whole log for every one. Every version recorded gets its
profile (a sync records one per served version it saw, usually one), so that no version is
later profiled on demand without the log's own withheld columns (`_withheld`).

Lineage: the catalog's edges run from table versions to table or model versions, so a
recorded version's parents are the table versions its model versions were trained on (an
impact question from a table reaches the answers of models trained on it), and the model
versions themselves are in the commit metadata, read by `answered_by` (`weir show`).

A shadow's challenger (weir.serve.shadow) answers beside the served version, on the same
rows (`shadow_*` columns), and answers nobody: its versions are named under
SHADOW_VERSIONS_KEY (`shadowed_by`), never under MODEL_VERSIONS_KEY, so neither
`answered_by` nor the catalog's model outputs claim it answered a request.

Exactly once: one recorder at a time (a flock on the workspace's prediction_log.lock)
reads the catalog's newest recorded version under the lock and records only what is newer.

Before this, logs lived in WORKSPACE/predictions/MODEL (outside the lake and catalog):
`move_into_lake` moves such a log, and the lines a writer set aside beside it, into the
lake on first use and says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc

from weir.app.lake_format import (
    COMMIT_FORMAT,
    FORMAT_KEY,
    KIND_KEY,
    MODEL_KEY,
    MODEL_VERSIONS_KEY,
    PREDICTION_LOG_SUFFIX,
    VERSION_KEY,
)
from weir.app.pii import keeps_pii, withheld_columns
from weir.app.plan import build_plan
from weir.app.run import begin_run
from weir.app.workspace import Workspace
from weir.catalog import ModelVersionRecord, VersionRecord
from weir.core.errors import LakeError, NotFoundError
from weir.core.version import __version__
from weir.engines import schema_record
from weir.quality import profile_table

KIND = "prediction_log"
# the challenger versions whose shadow answers a commit holds (weir.serve.shadow)
SHADOW_VERSIONS_KEY = "weir.shadow_versions"
OLD_FOLDER = "predictions"  # WORKSPACE/predictions/MODEL: where logs were kept before
LOCK_FILE = "prediction_log.lock"
DESCRIPTION = (
    "every answer weir serve gave for model {model}: the request's inputs (input_*), the "
    "answer, the model version that answered, latency"
)


@dataclass(frozen=True)
class LogRecorded:
    """What one `record_prediction_log` did: the catalog versions it recorded, and what a
    user should know (a log moved into the lake, versions it could not record)."""

    model: str
    table: str
    versions: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Commit:
    version: int
    answered: tuple[int, ...] | None  # None: a commit without Weir's metadata
    timestamp_ms: int | None = None  # of Weir's commits


def log_table(model: str) -> str:
    """The lake table of `model`'s prediction log."""
    return f"{model}{PREDICTION_LOG_SUFFIX}"


def model_of(table: str) -> str | None:
    """The model whose prediction log `table` is, if it is one."""
    if table.endswith(PREDICTION_LOG_SUFFIX) and len(table) > len(PREDICTION_LOG_SUFFIX):
        return table.removesuffix(PREDICTION_LOG_SUFFIX)
    return None


def log_metadata(model: str) -> dict[str, str]:
    """The commit metadata every append of the writer carries as it is (the writer adds
    the model versions under MODEL_VERSIONS_KEY and a commit id)."""
    return {FORMAT_KEY: COMMIT_FORMAT, KIND_KEY: KIND, MODEL_KEY: model, VERSION_KEY: __version__}


def open_log(ws: Workspace, model: str) -> tuple[Path, list[str]]:
    """Where `weir serve` writes `model`'s log, and what to tell the user (a log moved in
    from the old place). No project table can have the log's name: the project loader
    refuses names ending in PREDICTION_LOG_SUFFIX."""
    table = log_table(model)
    note = move_into_lake(ws, model)
    return ws.lake.path(table), [note] if note else []


def move_into_lake(ws: Workspace, model: str) -> str | None:
    """Move a log from WORKSPACE/predictions/MODEL into the lake (a rename: Delta tables
    keep relative paths), with the lines a writer set aside beside it; say what was done.
    When the lake has the table already, the old folder was written after the move (by a
    server of an older Weir): nothing is merged, and the note says where those answers are."""
    old = ws.project.workspace / OLD_FOLDER / model
    table = log_table(model)
    new = ws.lake.path(table)
    if not old.exists():
        return None
    if new.exists():
        return (
            f"{ws.display_path(old)} holds answers of {model} that are not in the lake table "
            f"{table} (a server of an older Weir wrote them there): stop whatever writes "
            "there, then move the folder aside; its answers stay readable as a Delta table"
        )
    new.parent.mkdir(parents=True, exist_ok=True)
    old.rename(new)
    for aside in sorted(old.parent.glob(f"{model}.unwritten-*.jsonl")):
        with contextlib.suppress(FileNotFoundError):  # claimed by a writer meanwhile
            aside.rename(new.parent / f"{table}{aside.name.removeprefix(model)}")
    with contextlib.suppress(OSError):  # the old folder, if nothing else is left in it
        old.parent.rmdir()
    return (
        f"moved the prediction log of {model} from {ws.display_path(old)} into the lake: "
        f"it is now the table {table} ('weir show {table}')"
    )


def logged_models(ws: Workspace) -> list[str]:
    """Every model with a prediction log, in the lake or still in the old folder."""
    found = {m for t in ws.lake.tables() if (m := model_of(t))}
    old = ws.project.workspace / OLD_FOLDER
    if old.is_dir():
        found |= {p.name for p in old.iterdir() if p.is_dir() and p.name.isidentifier()}
    return sorted(found)


def record_prediction_logs(ws: Workspace, *, wait_seconds: float = 10.0) -> list[LogRecorded]:
    """`record_prediction_log` for every model with a log."""
    return [record_prediction_log(ws, m, wait_seconds=wait_seconds) for m in logged_models(ws)]


def record_prediction_log(ws: Workspace, model: str, *, wait_seconds: float = 30.0) -> LogRecorded:
    """Record in the catalog the versions of `model`'s log it does not record yet (see the
    module docstring); moves a log from the old place into the lake first."""
    table = log_table(model)
    with _recorder_lock(ws.project.workspace / LOCK_FILE, wait_seconds) as held:
        if not held:
            busy = "another Weir process is recording it in the catalog; shown as recorded so far"
            return LogRecorded(model, table, notes=[busy])
        moved = move_into_lake(ws, model)
        result = LogRecorded(model, table, notes=[moved] if moved else [])
        if not ws.lake.exists(table):
            return result
        _profile_missing(ws, model)
        recorded = ws.catalog.current_version(table)
        after = recorded.version if recorded else -1
        commits = _commits(ws, table)
        if recorded is not None and _replaced(recorded, commits):
            result.notes.append(
                f"the catalog records versions up to {after} of {table}, which the log in the "
                "lake does not hold as recorded (it lost commits, or was moved aside and "
                "started again): nothing recorded; to record it as it is now, run "
                "'weir catalog rebuild --force'"
            )
            return result
        runs = list(_runs([c for c in commits if c.version > after]))
        if runs:
            _record_runs(ws, model, runs, result)
        return result


def _record_runs(
    ws: Workspace,
    model: str,
    runs: list[tuple[int, tuple[int, ...] | None]],
    result: LogRecorded,
) -> None:
    """The versions, in a run of their own (lineage edges name the run that recorded them;
    `weir runs` then says what recorded the log). Without the workspace's run lock: this
    writes no table, only catalog rows, and must not wait for a `weir run` to end; its
    process is recorded, so a recorder killed half-way is found dead like any run."""
    run_id = begin_run(ws, {"command": "record prediction log", "model": model})
    status = "failed"
    try:
        for end, answered in runs:
            _record(ws, model, end, _answered(ws, result.table, end, answered), run_id, result)
        status = "succeeded"
    finally:
        ws.catalog.finish_run(run_id, status)


def answered_by(ws: Workspace, record: VersionRecord) -> list[int]:
    """The model versions whose answers a recorded version of a log added: those of the
    Delta commits after the version recorded before it."""
    earlier = [v.version for v in ws.catalog.versions(record.table) if v.version < record.version]
    after = max(earlier, default=-1)
    commits = [c for c in _commits(ws, record.table) if after < c.version <= record.version]
    found: set[int] = set()
    for end, answered in _runs(commits):
        found |= set(_answered(ws, record.table, end, answered))
    return sorted(found)


def shadowed_by(ws: Workspace, record: VersionRecord) -> list[int]:
    """The challenger versions whose shadow answers a recorded version of a log added
    (they answered nobody: see the module docstring)."""
    earlier = [v.version for v in ws.catalog.versions(record.table) if v.version < record.version]
    after = max(earlier, default=-1)
    found: set[int] = set()
    for commit in ws.lake.commits(record.table):
        if after < commit.version <= record.version:
            found |= set(_versions(commit.metadata.get(SHADOW_VERSIONS_KEY)) or ())
    return sorted(found)


# reading the lake -------------------------------------------------------------------------------


def _commits(ws: Workspace, table: str) -> list[_Commit]:
    """Every version of the log, oldest first, with the model versions its commit names."""
    weir = {c.version: c for c in ws.lake.commits(table)}
    found = []
    for version in ws.lake.versions(table):
        commit = weir.get(version)
        answered = _versions(commit.metadata.get(MODEL_VERSIONS_KEY)) if commit else None
        found.append(_Commit(version, answered, commit.timestamp_ms if commit else None))
    return found


def _replaced(recorded: VersionRecord, commits: Sequence[_Commit]) -> bool:
    """The lake's log is not the one the catalog recorded: it ends before the recorded
    version, or its commit of that version was made after the catalog recorded it."""
    if not commits or commits[-1].version < recorded.version:
        return True
    at = next((c.timestamp_ms for c in commits if c.version == recorded.version), None)
    return at is not None and at / 1000 > recorded.created_at.timestamp()


def _versions(text: str | None) -> tuple[int, ...] | None:
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return tuple(sorted(set(value)))
    return None


def _runs(commits: Sequence[_Commit]) -> Iterator[tuple[int, tuple[int, ...] | None]]:
    """(last version, model versions) of each run of consecutive commits answered by the
    same model versions. A commit without Weir's metadata after one with it (a compaction,
    a vacuum) adds no answers and continues the run; before any (a log written before the
    metadata existed), it starts a run whose model versions the rows must tell (None)."""
    current: tuple[int, ...] | None = None
    end: int | None = None
    for commit in commits:
        answered = commit.answered if commit.answered is not None else current
        if end is not None and answered != current:
            yield end, current
        current, end = answered, commit.version
    if end is not None:
        yield end, current


def _answered(
    ws: Workspace, table: str, version: int, answered: tuple[int, ...] | None
) -> list[int]:
    """The model versions named by the commits, or, for commits that name none, every
    version in the log's `version` column at `version`."""
    if answered is not None:
        return list(answered)
    try:
        column = ws.lake.read(table, version, ["version"]).column("version")
    except (KeyError, ValueError, LakeError):
        return []
    return sorted(int(v) for v in pc.unique(column).to_pylist() if v is not None)


# recording ----------------------------------------------------------------------------------------


def _record(
    ws: Workspace,
    model: str,
    version: int,
    answered: list[int],
    run_id: int,
    result: LogRecorded,
) -> None:
    table = log_table(model)
    scan = ws.lake.scan(table, version)
    fingerprint = ws.engine.fingerprint(scan)
    records = _model_versions(ws, model, answered, result)
    record = ws.catalog.record_version(
        table,
        kind=KIND,
        version=version,
        row_count=fingerprint.row_count,
        fingerprint=fingerprint.digest,
        schema=schema_record(scan.schema),
        run_id=run_id,
        step_run_id=None,
        parents=sorted({p for r in records for p in _trained_on(ws, r)}),
        description=DESCRIPTION.format(model=model),
        answers_of=[r.id for r in records],
    )
    result.versions.append(version)
    settings = ws.project.config.profiles
    if settings.enabled:
        profile = profile_table(
            ws.engine,
            scan,
            sample_above=settings.sample_above,
            sample_rows=settings.sample_rows,
            counts=(fingerprint.row_count, *fingerprint.non_null),
            not_finite=fingerprint.not_finite,
            withheld=_withheld(ws, records, scan.schema.names),
        )
        ws.catalog.record_profile(record.id, profile.as_record())


def _profile_missing(ws: Workspace, model: str) -> None:
    """A version recorded by a recorder stopped before its profile (the catalog went away
    between the two writes) gets it now: profiled on demand, it would miss `_withheld`."""
    record = ws.catalog.current_version(log_table(model))
    if record is None or not ws.project.config.profiles.enabled:
        return
    if ws.catalog.profile(record.id) is not None:
        return
    settings = ws.project.config.profiles
    scan = ws.lake.scan(record.table, record.version)
    records = _model_versions(ws, model, answered_by(ws, record), LogRecorded(model, ""))
    profile = profile_table(
        ws.engine,
        scan,
        sample_above=settings.sample_above,
        sample_rows=settings.sample_rows,
        withheld=_withheld(ws, records, scan.schema.names),
    )
    ws.catalog.record_profile(record.id, profile.as_record())


def _model_versions(
    ws: Workspace, model: str, answered: list[int], result: LogRecorded
) -> list[ModelVersionRecord]:
    found = []
    for number in answered:
        try:
            found.append(ws.catalog.model_version(model, number))
        except NotFoundError:
            note = f"{model} v{number} is not in the catalog: its training data is not linked"
            if note not in result.notes:
                result.notes.append(note)
    return found


def _trained_on(ws: Workspace, record: ModelVersionRecord) -> list[int]:
    ids = []
    for reference in record.trained_on:
        name, _, number = reference.rpartition("@")
        with contextlib.suppress(NotFoundError, ValueError):
            ids.append(ws.catalog.version(name, int(number)).id)
    return ids


def _withheld(
    ws: Workspace, records: Sequence[ModelVersionRecord], columns: Sequence[str]
) -> dict[str, str]:
    """input_FIELD -> class, for the inputs whose column in the training table may not be
    shown (governed PII, or kept PII traced by lineage): the log holds the same values."""
    withheld = {f"input_{c}": k for c, k in withheld_inputs(ws, records).items()}
    return {c: k for c, k in withheld.items() if c in columns}


def withheld_inputs(ws: Workspace, records: Sequence[ModelVersionRecord]) -> dict[str, str]:
    """Model input -> class, for the inputs of these versions whose values may not be shown
    (their column in the training table is governed PII, or kept PII traced by lineage):
    profiles of the log and monitor verdicts show no values of them."""
    models = build_plan(ws.project).sql_models if keeps_pii(ws.project) else None
    withheld: dict[str, str] = {}
    for record in records:
        serving = record.details.serving
        inputs = list(serving.inputs) if serving else []
        for reference in record.trained_on:
            table = reference.rpartition("@")[0]
            found = withheld_columns(
                ws.project, table, catalog=ws.catalog, models=models, columns=inputs
            )
            withheld |= {c: k for c, k in found.items() if c in inputs}
    return withheld


@contextlib.contextmanager
def _recorder_lock(path: Path, wait_seconds: float) -> Iterator[bool]:
    """True while this process holds the recorder's lock (flock, released by the kernel
    when the process ends); False if another held it for `wait_seconds`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
