"""`weir catalog rebuild`: a new catalog from what the lake holds, when the old one is lost.

Every Delta commit Weir makes carries its run, step run, kind, parent versions and Weir
version (`weir.app.lake_format.COMMIT_FORMAT`), and its time is in the Delta log. From those
the table versions come back whole: schema, row count and fingerprint (computed again from
the data), the run and step run that made them, the versions they were made from, and a
profile of each table's latest version. Sources' positions never left the lake. Prediction
logs are recorded as the catalog always follows them (weir.app.prediction_log).

What only the catalog held cannot come back: check results, the model registry (its
versions, metrics and stages; the artifact files stay), step outcomes and cache keys (so
every step runs once on the next `weir run`). The result says so, table by table.

The old catalog is never deleted: a damaged SQLite file is moved aside (renamed with the
time), and a readable one is replaced only with `force` (moved aside the same way; on
PostgreSQL its tables move to a schema of their own).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from deltalake import DeltaTable

from weir.app.catalog_view import table_entries
from weir.app.lake_format import (
    KIND_KEY,
    PARENTS_KEY,
    QUARANTINE_SUFFIX,
    RUN_KEY,
    STATE_KEY,
    STEP_RUN_KEY,
    VERSION_KEY,
)
from weir.app.pii import withheld_columns
from weir.app.plan import build_plan
from weir.app.prediction_log import KIND as PREDICTION_LOG
from weir.app.prediction_log import (
    OLD_FOLDER,
    log_table,
    logged_models,
    model_of,
    record_prediction_log,
)
from weir.app.workspace import REBUILD_UNFINISHED, Workspace, open_workspace, run_lock
from weir.catalog import (
    Catalog,
    CatalogCorruptError,
    CatalogUnavailableError,
    sqlite_path,
)
from weir.catalog.restore import RestoredRun, RestoredStep, RestoredVersion
from weir.core.errors import CatalogError, LakeError, NotFoundError
from weir.engines import schema_record
from weir.lake import Commit
from weir.project import Project
from weir.quality import profile_table


@dataclass
class TableRebuilt:
    name: str
    kind: str
    versions: list[int] = field(default_factory=list)
    rows: int | None = None  # of the latest version rebuilt
    notes: list[str] = field(default_factory=list)


@dataclass
class RebuildResult:
    catalog: str
    kept_aside: str | None
    tables: list[TableRebuilt] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    lineage_edges: int = 0
    not_recovered: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Found:
    """One commit the rebuild will record, read from the lake."""

    table: str
    kind: str
    commit: Commit
    restored: RestoredVersion | None  # None: its files are gone


def rebuild_catalog(
    project: Project, *, force: bool = False, progress: Callable[[str], None] | None = None
) -> RebuildResult:
    """Rebuild the project's catalog from its lake (see the module docstring)."""
    say = progress or (lambda _text: None)
    with run_lock(project.workspace):
        kept_aside = _empty_catalog(project, force)
        ws = open_workspace(project, lost_catalog_ok=True)
        try:
            # first: a rebuild stopped half-way must not pass for a whole catalog
            ws.catalog.remember(REBUILD_UNFINISHED, datetime.now(UTC).isoformat())
            result = RebuildResult(ws.catalog.where, kept_aside)
            found = _read_lake(ws, result, say)
            _record(ws, found, result)
            _profile_latest(ws, found, say)
            _record_logs(ws, result, say)
            ws.catalog.record_docs(table_entries(project, build_plan(project)))
            ws.catalog.remember("rebuilt_from_lake", datetime.now(UTC).isoformat())
            result.not_recovered = _not_recovered(ws, found)
            ws.catalog.forget(REBUILD_UNFINISHED)
        finally:
            ws.close()
    return result


# the catalog to fill --------------------------------------------------------------------------


def _empty_catalog(project: Project, force: bool) -> str | None:
    """Make the project's catalog empty, keeping what was there; say where it was kept."""
    url, file = project.catalog_url, sqlite_path(project.catalog_url)
    try:
        catalog = Catalog.open(url)
    except CatalogCorruptError:
        if file is None:
            raise
        return _move_aside(file, "damaged")
    except CatalogUnavailableError:
        raise
    except CatalogError as exc:  # another schema version: readable by another Weir
        if not force or file is None:
            raise CatalogError(
                f"{exc.message}; a rebuild would replace it",
                fix="add --force to keep it aside and rebuild"
                if file is not None
                else "point catalog.url at a new, empty database and rebuild into that",
            ) from None
        return _move_aside(file, "replaced")
    try:
        count = catalog.history_count()
    except CatalogCorruptError:
        catalog.close()
        if file is None:
            raise
        return _move_aside(file, "damaged")
    if not (count.runs or count.tables or count.model_versions):
        catalog.close()
        return None
    if not force:
        catalog.close()
        raise CatalogError(
            f"the catalog at {catalog.where} can be read and holds {count.runs} run(s), "
            f"{count.tables} table(s) and {count.model_versions} model version(s); "
            "a rebuild would replace it with only what the lake holds",
            fix="keep it: it is whole. To replace it anyway, run 'weir catalog rebuild --force' "
            "(the old catalog is kept beside the new one)",
        )
    try:
        if file is not None:
            catalog.close()
            return _move_aside(file, "replaced")
        schema = catalog.move_aside_schema()
        return f"schema {schema} of {catalog.where}"
    finally:
        catalog.close()


def _move_aside(file: Path, why: str) -> str:
    """Rename the catalog file (and its WAL and shared-memory files) with the time: kept for
    a closer look or a recovery, out of the way of the new one."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = file.with_name(f"{file.name}.{why}-{stamp}")
    file.rename(target)
    for suffix in ("-wal", "-shm"):
        companion = file.with_name(file.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    return str(target)


# reading the lake ---------------------------------------------------------------------------


def _read_lake(ws: Workspace, result: RebuildResult, say: Callable[[str], None]) -> list[_Found]:
    entries = {e["name"]: e for e in table_entries(ws.project, build_plan(ws.project))}
    found: list[_Found] = []
    for table in ws.lake.tables():
        if model_of(table) is not None and table not in entries:
            continue  # a prediction log: recorded as the catalog follows it (_record_logs)
        try:
            commits = ws.lake.commits(table)
        except (LakeError, NotFoundError) as exc:
            result.tables.append(TableRebuilt(table, "?", notes=[f"not rebuilt: {exc.message}"]))
            continue
        entry = entries.get(table, {})
        rebuilt = TableRebuilt(table, _kind(table, entry.get("kind"), commits))
        for commit in commits:
            say(f"{table}@{commit.version}")
            restored = _version(ws, table, rebuilt, commit, entry)
            found.append(_Found(table, rebuilt.kind, commit, restored))
        position = _position(commits)
        if position:
            rebuilt.notes.append(position)
        result.tables.append(rebuilt)
    return found


def _position(commits: list[Commit]) -> str | None:
    """A source's position as its newest commit states it: it never left the lake, and the
    next load starts from it."""
    for commit in reversed(commits):
        if STATE_KEY in commit.metadata:
            state = _json(commit.metadata[STATE_KEY], dict)
            if state is None:
                return (
                    f"v{commit.version}: its position in its commit cannot be read "
                    f"({STATE_KEY}): the next load needs 'weir run --full-refresh'"
                )
            cursor = state.get("cursor")
            if isinstance(cursor, dict) and {"column", "value"} <= cursor.keys():
                return f"position kept in the lake: {cursor['column']} up to {cursor['value']}"
            if isinstance(state.get("files"), dict):
                return f"position kept in the lake: {len(state['files'])} file(s) loaded"
            return "position kept in the lake"
    return None


def _json(text: str, shape: type) -> Any:
    """`text` parsed, if it is JSON of that shape (commit metadata can be edited by hand)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, shape) else None


def _kind(table: str, planned: object, commits: list[Commit]) -> str:
    """The kind the commits recorded; for older commits, the project's word for the table."""
    for commit in reversed(commits):
        if KIND_KEY in commit.metadata:
            return commit.metadata[KIND_KEY]
    if isinstance(planned, str):
        return planned
    return "quarantine" if table.endswith(QUARANTINE_SUFFIX) else "predictions"


def _version(
    ws: Workspace, table: str, rebuilt: TableRebuilt, commit: Commit, entry: dict[str, object]
) -> RestoredVersion | None:
    try:
        scan = ws.lake.scan(table, commit.version)
    except (LakeError, NotFoundError) as exc:
        rebuilt.notes.append(f"v{commit.version} not rebuilt: {exc.message}")
        return None
    fingerprint = ws.engine.fingerprint(scan)
    rebuilt.versions.append(commit.version)
    rebuilt.rows = fingerprint.row_count
    docs = entry.get("docs")
    description = docs.get("description") if isinstance(docs, dict) else None
    return RestoredVersion(
        table=table,
        kind=rebuilt.kind,
        version=commit.version,
        row_count=fingerprint.row_count,
        fingerprint=fingerprint.digest,
        schema=schema_record(scan.schema),
        run_id=_number(commit.metadata.get(RUN_KEY)),
        step_run_id=_number(commit.metadata.get(STEP_RUN_KEY)),
        created_at=_when(commit),
        description=description if isinstance(description, str) else None,
    )


def _number(text: str | None) -> int | None:
    try:
        value = int(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None


def _when(commit: Commit) -> datetime:
    return datetime.fromtimestamp(commit.timestamp_ms / 1000, UTC)


# recording ------------------------------------------------------------------------------------


def _record(ws: Workspace, found: list[_Found], result: RebuildResult) -> None:
    """Runs and step runs first (versions refer to them), then versions, then lineage."""
    makers = _makers(ws.project)
    kept = [f for f in found if f.restored is not None]
    _record_runs(ws, kept, makers, result)
    ids: dict[tuple[str, int], int] = {}
    for item in kept:
        assert item.restored is not None
        ids[(item.table, item.commit.version)] = ws.catalog.restore_version(item.restored)
    for item in kept:
        run_id = item.restored.run_id if item.restored else None
        raw = item.commit.metadata.get(PARENTS_KEY)
        if raw is None or run_id is None:
            continue
        parents = _json(raw, list)
        if parents is None or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[1], int) for p in parents
        ):
            _note(
                result,
                item.table,
                f"v{item.commit.version}: its lineage in its commit cannot be read ({PARENTS_KEY})",
            )
            continue
        for parent_table, parent_version in parents:
            parent = ids.get((str(parent_table), int(parent_version)))
            if parent is None:
                gone = f"{parent_table}@{parent_version}"
                _note(result, item.table, f"v{item.commit.version}: its input {gone} is gone")
                continue
            ws.catalog.restore_edge(parent, ids[(item.table, item.commit.version)], run_id)
            result.lineage_edges += 1
    ws.catalog.after_restore()


def _record_runs(
    ws: Workspace, kept: list[_Found], makers: dict[str, str], result: RebuildResult
) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = (
        f"rebuilt from the lake by 'weir catalog rebuild' at {when}: only the table versions "
        "it committed are known; its steps' outcomes, checks and cache keys were not in the lake"
    )
    runs: dict[int, list[_Found]] = {}
    for item in kept:
        if item.restored is not None and item.restored.run_id is not None:
            runs.setdefault(item.restored.run_id, []).append(item)
    for run_id, items in sorted(runs.items()):
        times = [_when(i.commit) for i in items]
        stated = [i.commit.metadata[VERSION_KEY] for i in items if VERSION_KEY in i.commit.metadata]
        version = stated[0] if stated else "unknown"
        ws.catalog.restore_run(
            RestoredRun(run_id, ws.project.name, min(times), max(times), version, note)
        )
        steps: dict[int, _Found] = {}
        for item in items:
            if item.restored is not None and item.restored.step_run_id is not None:
                steps.setdefault(item.restored.step_run_id, item)
        for step_id, item in sorted(steps.items()):
            name = makers.get(item.table.removesuffix(QUARANTINE_SUFFIX), f"?:{item.table}")
            kind = name.split(":")[0] if name[0] != "?" else "unknown"
            ws.catalog.restore_step(
                RestoredStep(
                    step_id,
                    run_id,
                    name,
                    kind,
                    _when(item.commit),
                    "rebuilt from the lake's commit metadata",
                )
            )
        result.runs.append(run_id)


def _makers(project: Project) -> dict[str, str]:
    return {str(e["name"]): str(e["made_by"]) for e in table_entries(project, build_plan(project))}


def _note(result: RebuildResult, table: str, text: str) -> None:
    for rebuilt in result.tables:
        if rebuilt.name == table:
            rebuilt.notes.append(text)


def _profile_latest(ws: Workspace, found: list[_Found], say: Callable[[str], None]) -> None:
    """Profiles are recomputed for each table's latest version (older ones get none)."""
    settings = ws.project.config.profiles
    if not settings.enabled:
        return
    latest: dict[str, _Found] = {}
    for item in found:
        if item.restored is not None and item.kind != "quarantine":
            latest[item.table] = item
    models = build_plan(ws.project).sql_models
    for table, item in latest.items():
        say(f"profile of {table}@{item.commit.version}")
        record = ws.catalog.version(table, item.commit.version)
        scan = ws.lake.scan(table, item.commit.version)
        profile = profile_table(
            ws.engine,
            scan,
            sample_above=settings.sample_above,
            sample_rows=settings.sample_rows,
            # the rule a run's profiles follow: governed PII, and what lineage traces to it
            withheld=withheld_columns(
                ws.project, table, catalog=ws.catalog, models=models, columns=scan.schema.names
            ),
        )
        ws.catalog.record_profile(record.id, profile.as_record())


def _record_logs(ws: Workspace, result: RebuildResult, say: Callable[[str], None]) -> None:
    """Prediction logs come back as `weir serve` leaves them to the catalog: a version per
    run of commits answered by the same model versions, with its profile. Their link to
    the training data went with the model registry (said per log)."""
    for model in logged_models(ws):
        table = log_table(model)
        say(f"prediction log {table}")
        done = record_prediction_log(ws, model)
        current = ws.catalog.current_version(table)
        result.tables.append(
            TableRebuilt(
                table,
                PREDICTION_LOG,
                list(done.versions),
                current.row_count if current else None,
                list(done.notes),
            )
        )


def _not_recovered(ws: Workspace, found: list[_Found]) -> list[str]:
    """What the lake did not hold, in plain words."""
    lines = [
        "step outcomes and cache keys: every step runs once on the next 'weir run' (a source "
        "whose position is in the lake loads only what is new)",
        "check results: the next 'weir run' checks the current versions again",
        "profiles of versions older than each table's latest",
    ]
    old = sum(1 for f in found if f.restored is not None and PARENTS_KEY not in f.commit.metadata)
    if old:
        lines.append(
            f"lineage of {old} version(s) committed before Weir recorded it in the lake "
            "(commit format 1)"
        )
    models = ws.artifacts.root / "models"
    for folder in sorted(p for p in models.iterdir() if p.is_dir()) if models.is_dir() else []:
        files = len(list(folder.glob("*.skops")))
        used = _versions_used(ws, folder.name)
        ws.catalog.reserve_model_versions(folder.name, used)
        lines.append(
            f"model '{folder.name}': its versions, metrics and stages were only in the catalog; "
            f"its {files} artifact file(s) are kept in {ws.display_path(folder)}. Retrain with "
            f"'weir train {folder.name}' to register a version (numbered from v{used + 1}: "
            f"its artifacts, reports and prediction log show v1 to v{used} were given)"
        )
    return lines


def _versions_used(ws: Workspace, model: str) -> int:
    """How many version numbers of `model` the lost catalog gave, at least: one model file
    and one report per version (content-addressed: each version its own file, unless two
    are byte for byte the same), and the highest version its prediction log answered with."""
    root = ws.artifacts.root
    counts = [
        len(list((root / "models" / model).glob("*.skops"))),
        len(list((root / "reports" / model).glob("*.html"))),
    ]
    for log in (ws.lake.path(log_table(model)), ws.project.workspace / OLD_FOLDER / model):
        if (log / "_delta_log").is_dir():
            try:
                table = DeltaTable(str(log)).to_pyarrow_table(columns=["version"])
                counts.append(int(pc.max(table.column("version")).as_py() or 0))
            except Exception:  # a damaged log: the files still count
                pass
    return max(counts)
