"""What the work of every step needs: the project, the current version of a table, a commit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import pyarrow as pa

from weir.app.lake_format import commit_metadata
from weir.app.pii import withheld_columns
from weir.app.plan import view_models
from weir.app.workspace import Workspace
from weir.catalog import VersionRecord
from weir.core.errors import LakeError, NotFoundError
from weir.engines import schema_record
from weir.ingest import FileState
from weir.quality import profile_table
from weir.quality.sample import StreamSample
from weir.transform import SqlModel


class StepBase:
    """Shared by the step implementations; the runner sees only ProjectExecutor."""

    def __init__(
        self, workspace: Workspace, sql_models: Mapping[str, SqlModel], run_id: int
    ) -> None:
        self.ws = workspace
        self.sql_models = sql_models
        self.run_id = run_id
        self.config = workspace.project.config
        self.full_refresh = False
        self.progress: Callable[[str], None] | None = None  # what a long step is doing now
        self.last_merge: dict[str, int] = {}
        # source -> its files as the run saw them when it decided to run the step
        self.observed_files: dict[str, list[FileState]] = {}
        self.views = view_models(workspace.project)

    def base_tables(self, tables: Iterable[str]) -> list[str]:
        """The stored tables behind `tables`: a view stands for what it reads."""
        found: set[str] = set()
        for table in tables:
            if table in self.views:
                found |= set(self.base_tables(self.sql_models[table].dependencies))
            else:
                found.add(table)
        return sorted(found)

    def _withheld(self, table: str, columns: Iterable[str]) -> dict[str, str]:
        """Column -> class of the columns of `table` (named `columns`) whose values are not
        shown: governed PII, and, by lineage, a model's column made from PII a clean step
        keeps."""
        return withheld_columns(
            self.ws.project,
            table,
            catalog=self.ws.catalog,
            models=self.sql_models,
            columns=columns,
        )

    # what a step reads ----------------------------------------------------------------------

    def _current(self, table: str) -> VersionRecord:
        record = self.ws.catalog.current_version(table)
        if record is None:
            raise NotFoundError(
                f"table '{table}' has not been built yet",
                fix="run the whole pipeline with 'weir run'",
            )
        return record

    def _commit(
        self,
        table: str,
        kind: str,
        data: Any,
        token: int,
        parents: list[VersionRecord],
        description: str | None = None,
        *,
        mode: Literal["overwrite", "append"] = "overwrite",
        merge_on: list[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        sample: StreamSample | None = None,
    ) -> VersionRecord:
        """Write one Delta commit (replace, append or merge) and record it, with lineage.
        `sample`, on a replacing write, is fed the rows as they stream, for the profile."""
        if sample is not None and mode == "overwrite" and not merge_on:
            data = sample.passing(data)
        else:
            sample = None
        self._refuse_lost_table(table)
        metadata = {**(metadata or {}), **commit_metadata(self.run_id, token, kind, parents)}
        if merge_on:
            version, self.last_merge = self.ws.lake.merge(table, data, merge_on, metadata=metadata)
        else:
            version = self.ws.lake.write(table, data, mode=mode, metadata=metadata)
        return self._record(
            table,
            kind,
            version,
            token,
            parents,
            description,
            sample=sample.table() if sample is not None else None,
        )

    def _refuse_lost_table(self, table: str) -> None:
        """The catalog records versions of `table` that the lake no longer has: writing would
        give the next commit a number the catalog records for other rows (the log lost its
        newest commit files), or start the table again at version 0 (its folder is gone)."""
        recorded = self.ws.catalog.current_version(table)
        if recorded is None:
            return
        if self.ws.lake.exists(table):
            latest = self.ws.lake.latest_version(table)
            if latest is None or latest >= recorded.version:
                return
            missing = f"_delta_log/{latest + 1:020d}.json"
            raise LakeError(
                f"table '{table}': the catalog records versions up to {recorded.version}, but "
                f"the Delta log at {self.ws.lake.path(table)} ends at version {latest}: its "
                f"newest commit file(s) from {missing} on are gone; a new commit would take "
                "a number the catalog records for other rows",
                fix=f"restore {missing} (and any after it) from a backup of the lake; or, to "
                "go on from what the lake holds, run 'weir catalog rebuild --force' (it keeps "
                "the old catalog beside the new one), then 'weir run'",
            )
        raise LakeError(
            f"table '{table}': the catalog records versions up to {recorded.version}, but "
            f"the lake has no table at {self.ws.lake.path(table)} (deleted or moved)",
            fix="restore the folder from a backup of the lake; or, to build the table from "
            "scratch, run 'weir catalog rebuild --force' (it keeps the old catalog beside "
            "the new one and rebuilds from what the lake holds), then 'weir run'",
        )

    def _record(
        self,
        table: str,
        kind: str,
        version: int,
        token: int,
        parents: list[VersionRecord],
        description: str | None = None,
        *,
        sample: pa.Table | None = None,
    ) -> VersionRecord:
        """Record a committed version in the catalog: row count, fingerprint, schema, profile."""
        scan = self.ws.lake.scan(table, version)
        fingerprint = self.ws.engine.fingerprint(scan)
        record = self.ws.catalog.record_version(
            table,
            kind=kind,
            version=version,
            row_count=fingerprint.row_count,
            fingerprint=fingerprint.digest,
            schema=schema_record(scan.schema),
            run_id=self.run_id,
            step_run_id=token,
            parents=[p.id for p in parents],
            description=description,
        )
        settings = self.config.profiles
        if settings.enabled:
            profile = profile_table(
                self.ws.engine,
                scan,
                sample_above=settings.sample_above,
                sample_rows=settings.sample_rows,
                counts=(fingerprint.row_count, *fingerprint.non_null),
                not_finite=fingerprint.not_finite,
                sample=sample,
                withheld=self._withheld(table, scan.schema.names),
            )
            self.ws.catalog.record_profile(record.id, profile.as_record())
        return record
