"""The lake: one Delta table per dataset, addressed by name and version.

Every write is one Delta commit, so a step's output is there whole or not at all. Readers
always name the version they read (the catalog says which is current), so a commit that a
crashed step left behind is never read by accident.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from weir.core.errors import LakeError, NotFoundError
from weir.core.tables import TableFiles
from weir.lake.failures import (
    MissingDataError,
    UnreadableDataError,
    broken_log,
    damaged_files,
    stream_failure,
    unreadable_files,
    watched,
    write_failure,
)

if TYPE_CHECKING:
    import pyarrow.dataset as pads

TableData: TypeAlias = "pa.Table | pa.RecordBatchReader"
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_COMMIT_KEY = "weir.commit"


@dataclass(frozen=True)
class Commit:
    """One of Weir's commits to a table: its version, when (ms since the epoch, UTC), and the
    `weir.*` keys of its commit metadata."""

    version: int
    timestamp_ms: int
    metadata: Mapping[str, str]


class Lake:
    """Delta tables in one directory, one sub-directory per table."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, table: str) -> Path:
        if not _TABLE_NAME.match(table):
            raise LakeError(
                f"'{table}' is not a valid table name",
                fix="use lower case letters, digits and underscores",
            )
        return self.root / table

    def exists(self, table: str) -> bool:
        return (self.path(table) / "_delta_log").is_dir()

    def tables(self) -> list[str]:
        """Every table in the lake (a directory with a Delta log), by name."""
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if _TABLE_NAME.match(entry.name) and (entry / "_delta_log").is_dir()
        )

    def write(
        self,
        table: str,
        data: TableData,
        *,
        mode: Literal["overwrite", "append"] = "overwrite",
        metadata: Mapping[str, str] | None = None,
    ) -> int:
        """Commit `data` as the table's next version and return that version number.

        mode: 'overwrite' replaces the content (and schema); 'append' adds rows.
        """
        target = self.path(table)
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "append":
            self._refuse_damaged_latest(table)
        commit_id = uuid.uuid4().hex
        custom = {**(metadata or {}), _COMMIT_KEY: commit_id}
        failures: list[BaseException] = []
        if isinstance(data, pa.RecordBatchReader):
            data = watched(data, failures)
        try:
            properties = CommitProperties(custom_metadata=custom)
            if mode == "overwrite":
                write_deltalake(
                    str(target),
                    data,
                    mode="overwrite",
                    schema_mode="overwrite",
                    commit_properties=properties,
                )
            else:
                write_deltalake(
                    str(target),
                    data,
                    mode="append",
                    schema_mode="merge",
                    commit_properties=properties,
                )
        except BaseException as exc:  # a writer's panic included
            raise self._failure(table, target, exc, failures, "write") from exc
        return self._version_of_commit(table, commit_id)

    def merge(
        self,
        table: str,
        data: TableData,
        keys: list[str],
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, int]]:
        """Upsert `data` on `keys` as one commit: matching rows updated, others inserted."""
        self._refuse_damaged_latest(table)
        commit_id = uuid.uuid4().hex
        properties = CommitProperties(custom_metadata={**(metadata or {}), _COMMIT_KEY: commit_id})
        predicate = " AND ".join(f"t.{_quoted(k)} = s.{_quoted(k)}" for k in keys)
        failures: list[BaseException] = []
        if isinstance(data, pa.RecordBatchReader):
            data = watched(data, failures)
        try:
            metrics = (
                self._open(table, None)
                .merge(
                    data,
                    predicate,
                    source_alias="s",
                    target_alias="t",
                    commit_properties=properties,
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        except (LakeError, NotFoundError):
            raise
        except BaseException as exc:
            if not failures and _names_a_column(exc):
                raise LakeError(
                    f"could not merge into table '{table}': {exc}",
                    fix="check the unique key columns exist on both sides",
                ) from exc
            raise self._failure(table, self.path(table), exc, failures, "merge into") from exc
        counts = {k: int(v) for k, v in metrics.items() if k.startswith("num_target_rows")}
        return self._version_of_commit(table, commit_id), counts

    @staticmethod
    def _failure(
        table: str, target: Path, error: BaseException, failures: list[BaseException], action: str
    ) -> BaseException:
        """The error a failed write raises: the stream's, when the rows fed to it failed
        first; an interrupt as it is; else why the lake could not store them."""
        if failures:
            return stream_failure(table, failures[0])
        if isinstance(error, KeyboardInterrupt | SystemExit):
            return error
        return write_failure(table, target, error, action)

    def _refuse_damaged_latest(self, table: str) -> None:
        """Adding to a version whose files are gone would carry the loss into every later
        version: refuse, naming the files (see MissingDataError for the fix)."""
        if self.exists(table):
            self._checked(table, None)

    def _version_of_commit(self, table: str, commit_id: str) -> int:
        """The version our own commit got, found by its id (another writer may follow us)."""
        history: list[dict[str, Any]] = DeltaTable(str(self.path(table))).history(limit=50)
        for entry in history:
            if entry.get(_COMMIT_KEY) == commit_id:
                return int(entry["version"])
        raise LakeError(f"commit {commit_id} of table '{table}' is not in its history")

    def _open(self, table: str, version: int | None) -> DeltaTable:
        root = self.path(table)
        try:
            return DeltaTable(str(root), version=version)
        except TableNotFoundError:
            raise NotFoundError(
                f"table '{table}' has no data in the lake: there is no Delta table at {root}",
                fix="if it was built before, its folder was deleted or moved: restore it from "
                "a backup; if it was never built, run 'weir run'",
            ) from None
        except DeltaError as exc:
            try:
                latest = DeltaTable(str(root)).version()
            except DeltaError:
                raise broken_log(table, root, str(exc)) from None
            if version is None or version <= latest:
                raise broken_log(table, root, str(exc)) from None
            raise NotFoundError(
                f"table '{table}' has no version {version} (versions run 0 to {latest})",
                fix="list versions with 'weir show TABLE' and pick one of them; if the catalog "
                f"records version {version}, the lake's log lost it: restore "
                f"{root}/_delta_log from a backup",
            ) from None

    def _checked(self, table: str, version: int | None) -> DeltaTable:
        """The table at `version`, its data files all present at the sizes the log recorded,
        else MissingDataError naming them."""
        delta = self._open(table, version)
        damaged, total = damaged_files(self.path(table), delta)
        if damaged:
            latest = delta.version() if version is None else self._open(table, None).version()
            raise MissingDataError(table, delta.version(), damaged, total, latest)
        return delta

    def _dataset(self, table: str, delta: DeltaTable) -> pads.Dataset:
        """An Arrow dataset read through Arrow's own local file system. deltalake's default
        is a Python file system, which Arrow's I/O threads call back into: a scan still in
        flight at exit (a `head()` that stopped early) then aborts the process
        ('terminate called without an active exception')."""
        local = pafs.SubTreeFileSystem(str(self.path(table).resolve()), pafs.LocalFileSystem())
        return delta.to_pyarrow_dataset(filesystem=local)

    def commits(self, table: str) -> list[Commit]:
        """Every commit Weir made to `table` (those carrying its commit id), oldest first,
        with their time and Weir's metadata: what `weir catalog rebuild` reads."""
        found = []
        for entry in self._open(table, None).history():
            if _COMMIT_KEY not in entry:
                continue  # another tool's commit (a vacuum, an optimize)
            metadata = {k: str(v) for k, v in entry.items() if k.startswith("weir.")}
            found.append(Commit(int(entry["version"]), int(entry["timestamp"]), metadata))
        return sorted(found, key=lambda c: c.version)

    def commit_metadata(self, table: str, key: str, *, limit: int = 200) -> tuple[int, str] | None:
        """(version, value) of the newest commit that carries `key` in its metadata.

        Sources commit their position (files loaded, cursor reached) with their rows; this
        is how the next load finds it, whatever the catalog recorded before a crash."""
        if not self.exists(table):
            return None
        for entry in self._open(table, None).history(limit=limit):
            if key in entry:
                return int(entry["version"]), str(entry[key])
        return None

    def schema(self, table: str) -> pa.Schema | None:
        """The latest version's schema, or None for a table not written yet."""
        if not self.exists(table):
            return None
        return self._dataset(table, self._open(table, None)).schema

    def dataset(self, table: str, version: int) -> pads.Dataset:
        """A lazy Arrow dataset of one version: engines scan it without loading it whole.
        Its files are checked first (MissingDataError names what is gone)."""
        return self._dataset(table, self._checked(table, version))

    def scan(self, table: str, version: int) -> TableFiles | pads.Dataset:
        """What an engine should read for one version: its Parquet files when the version is
        plainly those files (reader protocol 1: no deletion vectors or column mapping; no
        partitions), else an Arrow dataset that applies the Delta log's rules. Its files are
        checked first (MissingDataError names what is gone)."""
        delta = self._checked(table, version)
        dataset = self._dataset(table, delta)
        plain = delta.protocol().min_reader_version == 1 and not delta.metadata().partition_columns
        paths = tuple(delta.file_uris())
        if plain and paths:
            return TableFiles(paths, dataset.schema)
        return dataset

    def intact(self, table: str, version: int) -> bool:
        """True when `version` can be read whole: in the log, every data file there."""
        try:
            self._checked(table, version)
        except (LakeError, NotFoundError):
            return False
        return True

    def read(self, table: str, version: int, columns: list[str] | None = None) -> pa.Table:
        try:
            return self.dataset(table, version).to_table(columns=columns)
        except (OSError, pa.ArrowException):
            self.check_content(table, version)
            raise

    def head(self, table: str, version: int, rows: int) -> pa.Table:
        """The first `rows` rows of a version."""
        try:
            return self.dataset(table, version).head(rows)
        except (OSError, pa.ArrowException):
            self.check_content(table, version)
            raise

    def check_content(self, table: str, version: int) -> None:
        """Read every data file of the version whole: UnreadableDataError names those that
        cannot be read. For when a reader (an engine, Arrow) failed on the version's data:
        its own error does not say which table, version or file."""
        delta = self._checked(table, version)
        unreadable, total = unreadable_files(self.path(table), delta)
        if unreadable:
            latest = self._open(table, None).version()
            raise UnreadableDataError(table, delta.version(), unreadable, total, latest)

    def latest_version(self, table: str) -> int | None:
        if not self.exists(table):
            return None
        return int(self._open(table, None).version())

    def versions(self, table: str) -> list[int]:
        if not self.exists(table):
            return []
        history = self._open(table, None).history()
        return sorted(int(entry["version"]) for entry in history)

    def has_version(self, table: str, version: int) -> bool:
        """True when the lake can give `version` whole: in the log, with all its files."""
        return self.exists(table) and self.intact(table, version)


def _names_a_column(error: BaseException) -> bool:
    """A merge that failed on its key columns (DataFusion's 'No field named ...')."""
    text = str(error)
    return "No field named" in text or "Schema error" in text


def _quoted(column: str) -> str:
    """A column name for a Delta predicate (backticks, as DataFusion SQL expects)."""
    return "`" + column.replace("`", "``") + "`"


def check_latest(path: Path, name: str) -> None:
    """The Delta table at `path` (if there is one) can be read whole at its latest version:
    its log, and every data file at the size the log recorded; else BrokenLogError or
    MissingDataError naming `name`. For tables outside a Lake (the prediction log)."""
    if not (path / "_delta_log").is_dir():
        return
    try:
        delta = DeltaTable(str(path))
    except TableNotFoundError:
        return  # a log folder with no commit yet: nothing to lose
    except DeltaError as exc:
        raise broken_log(name, path, str(exc)) from None
    damaged, total = damaged_files(path, delta)
    if damaged:
        raise MissingDataError(name, delta.version(), damaged, total, delta.version())
