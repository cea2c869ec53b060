"""The lake: one Delta table per dataset, addressed by name and version.

Every write is one Delta commit, so a step's output is there whole or not at all. Readers
always name the version they read (the catalog says which is current), so a commit that a
crashed step left behind is never read by accident.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from weir.core.errors import LakeError, NotFoundError
from weir.core.tables import TableFiles

if TYPE_CHECKING:
    import pyarrow.dataset as pads

TableData: TypeAlias = "pa.Table | pa.RecordBatchReader"
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_COMMIT_KEY = "weir.commit"


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
        commit_id = uuid.uuid4().hex
        custom = {**(metadata or {}), _COMMIT_KEY: commit_id}
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
        except (DeltaError, OSError, pa.ArrowException) as exc:
            raise LakeError(
                f"could not write table '{table}' at {target}: {exc}",
                fix="check free disk space and permissions on the workspace",
            ) from exc
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
        commit_id = uuid.uuid4().hex
        properties = CommitProperties(custom_metadata={**(metadata or {}), _COMMIT_KEY: commit_id})
        predicate = " AND ".join(f"t.{_quoted(k)} = s.{_quoted(k)}" for k in keys)
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
        except (DeltaError, OSError, pa.ArrowException) as exc:
            raise LakeError(
                f"could not merge into table '{table}': {exc}",
                fix="check the unique key columns exist on both sides",
            ) from exc
        counts = {k: int(v) for k, v in metrics.items() if k.startswith("num_target_rows")}
        return self._version_of_commit(table, commit_id), counts

    def _version_of_commit(self, table: str, commit_id: str) -> int:
        """The version our own commit got, found by its id (another writer may follow us)."""
        history: list[dict[str, Any]] = DeltaTable(str(self.path(table))).history(limit=50)
        for entry in history:
            if entry.get(_COMMIT_KEY) == commit_id:
                return int(entry["version"])
        raise LakeError(f"commit {commit_id} of table '{table}' is not in its history")

    def _open(self, table: str, version: int | None) -> DeltaTable:
        try:
            return DeltaTable(str(self.path(table)), version=version)
        except TableNotFoundError:
            raise NotFoundError(
                f"table '{table}' has no data in the lake at {self.path(table)}",
                fix="run 'weir run' to build it",
            ) from None
        except DeltaError:
            if version is None:
                raise
            latest = DeltaTable(str(self.path(table))).version()
            raise NotFoundError(
                f"table '{table}' has no version {version} (versions run 0 to {latest})",
                fix="list versions with 'weir show TABLE' and pick one of them",
            ) from None

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
        return self._open(table, None).to_pyarrow_dataset().schema

    def dataset(self, table: str, version: int) -> pads.Dataset:
        """A lazy Arrow dataset of one version: engines scan it without loading it whole."""
        return self._open(table, version).to_pyarrow_dataset()

    def scan(self, table: str, version: int) -> TableFiles | pads.Dataset:
        """What an engine should read for one version: its Parquet files when the version is
        plainly those files (reader protocol 1: no deletion vectors or column mapping; no
        partitions), else an Arrow dataset that applies the Delta log's rules."""
        delta = self._open(table, version)
        dataset = delta.to_pyarrow_dataset()
        plain = delta.protocol().min_reader_version == 1 and not delta.metadata().partition_columns
        paths = tuple(delta.file_uris())
        if plain and paths:
            return TableFiles(paths, dataset.schema)
        return dataset

    def read(self, table: str, version: int, columns: list[str] | None = None) -> pa.Table:
        return self.dataset(table, version).to_table(columns=columns)

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
        return version in self.versions(table)


def _quoted(column: str) -> str:
    """A column name for a Delta predicate (backticks, as DataFusion SQL expects)."""
    return "`" + column.replace("`", "``") + "`"
