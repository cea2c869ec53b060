"""A project's workspace: the concrete lake, catalog, engine and artifact store, built once."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from weir.catalog import Catalog, CatalogLostError
from weir.core.errors import ConfigError, WeirError
from weir.engines import ENGINES, DuckDBEngine, Engine, EngineFactory, EngineOptions
from weir.lake import Lake
from weir.project import Project
from weir.project.loader import Problem, ProjectFileError
from weir.registry import ArtifactStore


@dataclass
class Workspace:
    """`engine` runs SQL models, checks, cleaning and profiles (engine.kind in weir.yaml);
    `local` is the in-process DuckDB that reads files for ingestion (its readers, its
    spool), whatever the engine: the same object when the engine is DuckDB."""

    project: Project
    lake: Lake
    catalog: Catalog
    engine: Engine
    artifacts: ArtifactStore
    local: DuckDBEngine

    def close(self) -> None:
        self.catalog.close()

    def display_path(self, path: Path | str) -> str:
        """A path relative to the project root when it is inside it."""
        candidate = Path(path)
        try:
            return candidate.resolve().relative_to(self.project.root.resolve()).as_posix()
        except ValueError:
            return str(candidate)


def owner_only(workspace: Path) -> None:
    """Keep the workspace (lake, catalog, artifacts, staging, logs) to its owner.

    The process umask gains 077, so every file Weir and its libraries create from now on
    (SQLite's journal and WAL, delta-rs's Parquet and log files, artifacts) is owner-only;
    and the workspace directory itself is closed to others, which also covers files an
    older Weir created readable by all.
    """
    os.umask(os.umask(0o077) | 0o077)  # read the current mask, keep any stricter bits
    workspace.mkdir(parents=True, exist_ok=True)
    status = workspace.stat()
    if status.st_mode & 0o077 and status.st_uid == os.getuid():
        workspace.chmod(0o700)


def open_workspace(project: Project, *, lost_catalog_ok: bool = False) -> Workspace:
    """The project's workspace. A catalog with no history beside a lake with tables is
    refused (unless `lost_catalog_ok`, for the rebuild): it was lost or replaced, and running
    on would call every step a first run and bury the lake's versions under new ones."""
    owner_only(project.workspace)
    engine = build_engine(project)
    local = engine if isinstance(engine, DuckDBEngine) else _local_engine(project)
    lake = Lake(project.lake_root)
    catalog = Catalog.open(project.catalog_url)
    try:
        if not lost_catalog_ok:
            refuse_lost_catalog(catalog, lake)
    except BaseException:
        catalog.close()
        raise
    return Workspace(
        project=project,
        lake=lake,
        catalog=catalog,
        engine=engine,
        artifacts=ArtifactStore(project.artifacts_root),
        local=local,
    )


def _options(project: Project) -> EngineOptions:
    config = project.config.engine
    return EngineOptions(
        threads=config.threads,
        memory_limit=config.memory_limit,
        query_timeout_seconds=config.query_timeout_seconds,
        temp_directory=project.workspace / "tmp",  # spilled rows stay in the workspace
    )


def build_engine(project: Project) -> Engine:
    """The engine weir.yaml names (`engine.kind`), from the engines' registry. An unknown
    name is a problem of the project file, reported as the loader reports its others: the
    file, the key and a suggestion."""
    return engine_factory(project)(_options(project))


def engine_factory(project: Project) -> EngineFactory:
    """The registry's factory for `engine.kind`; unknown: the project file's problem."""
    try:
        return ENGINES.get(project.config.engine.kind)
    except ConfigError as exc:
        raise ProjectFileError(
            project.file, [Problem("engine.kind", exc.message, fix=exc.fix)]
        ) from None


def _local_engine(project: Project) -> DuckDBEngine:
    """DuckDB for reading a source's files when another engine runs the queries."""
    options = _options(project)
    return DuckDBEngine(
        threads=options.threads,
        memory_limit=options.memory_limit,
        temp_directory=options.temp_directory,
        query_timeout_seconds=options.query_timeout_seconds,
    )


REBUILD_UNFINISHED = "rebuild_unfinished"


def refuse_lost_catalog(catalog: Catalog, lake: Lake) -> None:
    started = catalog.recall(REBUILD_UNFINISHED)
    if started is not None:
        raise CatalogLostError(
            f"the catalog at {catalog.where} was being rebuilt from the lake (from {started}) "
            "and the rebuild did not finish: it holds only part of the lake's history, and "
            "the tables it did not reach would be taken for new",
            fix="run 'weir catalog rebuild --force' again (the partial catalog is kept beside "
            "the new one)",
        )
    tables = lake.tables()
    if not tables or catalog.has_history():
        return
    shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
    raise CatalogLostError(
        f"the catalog at {catalog.where} holds no history, but the lake at {lake.root} holds "
        f"{len(tables)} table(s) ({shown}): the catalog was lost, emptied or replaced",
        fix="restore the catalog from a backup, or run 'weir catalog rebuild' to rebuild its "
        "table versions from the lake; to start over instead, delete the lake folder too",
    )


class RunInProgressError(WeirError):
    """Another weir run holds the workspace lock."""


@contextmanager
def run_lock(workspace: Path) -> Iterator[None]:
    """One writer per workspace: a second `weir run` fails fast instead of interleaving.

    The lock is `flock` on run.lock, released by the kernel when its process ends (however
    it ends), so a lock that is held belongs to a live process. The file is opened without
    following a symbolic link: Weir writes its pid into it, and must not write through a
    link to a file outside the workspace."""
    workspace.mkdir(parents=True, exist_ok=True)
    lock_path = workspace / "run.lock"
    descriptor = open_lock_file(lock_path)
    with os.fdopen(descriptor, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunInProgressError(
                f"another weir run is using {workspace} (pid {holder})",
                fix="wait for it to finish, or stop that process: the lock is released when "
                "it ends. Do not delete run.lock while it runs (a new run would then not see "
                "the old one's lock)",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_lock_file(lock_path: Path) -> int:
    """A descriptor of the lock file, which must be a plain file inside the workspace."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        descriptor = os.open(lock_path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise WeirError(
                f"{lock_path} is a symbolic link (to {lock_path.readlink()}), not Weir's "
                "lock file; Weir writes its pid there and does not follow links out of the "
                "workspace",
                fix=f"delete the link ({lock_path}); Weir creates the lock file again",
            ) from None
        if exc.errno == errno.EISDIR:
            raise _not_a_lock_file(lock_path, "directory") from None
        raise WeirError(
            f"the run lock {lock_path} cannot be opened: {os.strerror(exc.errno or 0)}",
            fix="check that you may write to the workspace folder",
        ) from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise _not_a_lock_file(lock_path, "fifo" if stat.S_ISFIFO(mode) else "special file")
    return descriptor


def _not_a_lock_file(lock_path: Path, kind: str) -> WeirError:
    return WeirError(
        f"{lock_path} is a {kind}, not Weir's lock file",
        fix=f"remove it ({lock_path}); Weir creates the lock file again",
    )
