"""A source load's state in the lake and on disk: the position committed with its rows, the
rejects staged beside them, and what a killed run left behind.

Exactly once rests on one rule: a source's position (the files it loaded, the cursor it
reached) is written in the same Delta commit as the rows, never anywhere else first. The
catalog follows the lake: a commit that a killed run made but did not record is adopted
by the next run, not loaded again.

Rejected records are known only once the stream is drained, after the rows' commit is
decided. They are staged in a file first, named by the load's id, and published to the
quarantine table after the rows' commit; a run that dies in between publishes them on the
next start if, and only if, the rows they belong to were committed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from weir.app.kinds.base import RunContext
from weir.app.kinds.commits import commit, record
from weir.app.lake_format import QUARANTINE_SUFFIX, STATE_KEY
from weir.catalog import VersionRecord
from weir.core.errors import WRITE_FIXES, LakeError
from weir.core.tables import TableFiles
from weir.engines.split import QUARANTINE_SCHEMA
from weir.ingest.contract import Contract
from weir.lake import stream_failure

LOAD_KEY = "weir.load"


@dataclass(frozen=True)
class SourceLoad:
    """One load of source `name` in step run `token`: its lake state and staging folder."""

    ctx: RunContext
    name: str
    token: int

    def staging(self) -> Path:
        path = self.ctx.ws.project.workspace / "staging" / self.name
        try:
            path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise LakeError(
                f"the staging folder {path} cannot be made: a file is in its place",
                fix=f"remove that file; Weir keeps a source's staged rejects in {path} and "
                "makes the folder again",
            ) from None
        except OSError as exc:
            raise LakeError(
                f"the staging folder {path} cannot be made: {os.strerror(exc.errno or 0)}",
                fix=WRITE_FIXES.get(exc.errno or -1, "check the workspace folder"),
            ) from None
        return path

    # crash recovery -------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Adopt a commit a killed run left unrecorded; publish or drop its staged rejects.
        Returns what it did, in words, for the step's output: nothing is repaired unseen."""
        done: list[str] = []
        name = self.name
        latest = self.committed_state(required=not self.ctx.options.full_refresh)
        current = self.ctx.ws.catalog.current_version(name)
        if latest is not None and (current is None or current.version < latest[0]):
            record(self.ctx, name, "source", latest[0], self.token, [])
            done.append(
                f"adopted {name}@{latest[0]}: a run that was stopped committed it but did not "
                "record it"
            )
        committed_load = latest[1].get("load") if latest else None
        for leftover in self.staging().glob("*.tmp"):
            leftover.unlink()
            done.append(f"removed a half-written staging file ({leftover.name})")
        for staged in sorted(self.staging().glob("*.parquet")):
            if staged.name.split(".")[0] == committed_load:
                table, rows = self.publish(staged)
                done.append(f"published {rows:,} staged reject(s) of the committed load to {table}")
            else:
                try:
                    what = f"{pq.read_metadata(staged).num_rows:,} staged reject(s)"
                except (OSError, pa.ArrowException):
                    what = "an unreadable staged file"  # its load never committed: no loss
                staged.unlink()
                done.append(f"dropped {what} of a load that never committed ({staged.name})")
        return done

    def committed_state(self, *, required: bool = True) -> tuple[int, dict[str, Any]] | None:
        """(version, position) the newest load of the source committed with its rows, or
        None. A position that cannot be read is an error naming its commit (unless not
        `required`: a full refresh does not use it)."""
        lake = self.ctx.ws.lake
        found = lake.commit_metadata(self.name, STATE_KEY)
        if found is None:
            return None
        version, text = found
        try:
            state = json.loads(text)
            if not isinstance(state, dict):
                raise ValueError(f"a JSON {type(state).__name__}, not an object")
        except ValueError as exc:
            if not required:
                return None
            raise LakeError(
                f"table '{self.name}' version {version}: the source's position committed with "
                f"it ({STATE_KEY} in {lake.path(self.name)}/_delta_log/{version:020d}.json) "
                f"cannot be read: {exc}",
                fix="restore that commit file from a backup of the lake; or load the source "
                "again from its start with 'weir run --full-refresh' (which does not read "
                "the old position)",
            ) from None
        return version, state

    def publish(self, staged: Path) -> tuple[str, int]:
        """Commit staged rejects to the quarantine table once, then drop the staged file."""
        ws = self.ctx.ws
        table = self.name + QUARANTINE_SUFFIX
        load_id, mode = staged.name.split(".")[:2]
        done = ws.lake.commit_metadata(table, LOAD_KEY)
        try:
            rejects = pq.read_table(staged)
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(
                f"the rejects of load {load_id} of '{self.name}' (committed) were staged in "
                f"{staged}, which cannot be read: {type(exc).__name__}: {exc}",
                fix="restore that file from a backup; or delete it (those rejects are lost) "
                "and run 'weir run --full-refresh' to load the source again, which "
                "quarantines them again",
            ) from None
        if done is not None and done[1] == load_id:
            current = ws.catalog.current_version(table)
            if current is None or current.version < done[0]:
                record(self.ctx, table, "quarantine", done[0], self.token, [])
        else:
            rejects = self.display_files(rejects.cast(QUARANTINE_SCHEMA))
            commit(
                self.ctx,
                table,
                "quarantine",
                rejects,
                self.token,
                [],
                mode="append" if mode == "append" and ws.lake.exists(table) else "overwrite",
                metadata={LOAD_KEY: load_id},
            )
        staged.unlink()
        recorded = ws.catalog.current_version(table)
        assert recorded is not None
        return f"{table}@{recorded.version}", rejects.num_rows

    # an unchanged load ----------------------------------------------------------------------

    def stage_rows(self, rows: pa.RecordBatchReader, path: Path) -> pa.RecordBatchReader:
        """Write the load's rows to `path` (Parquet); return a reader of them for the commit.
        A failure of the rows' stream is raised as the lake's write raises it."""
        try:
            with pq.ParquetWriter(path, rows.schema) as writer:
                for batch in rows:
                    writer.write_batch(batch)
        except BaseException as exc:
            path.unlink(missing_ok=True)
            raise stream_failure(self.name, exc) from exc
        staged = pq.ParquetFile(path)
        return pa.RecordBatchReader.from_batches(staged.schema_arrow, staged.iter_batches())

    def same_as_current(self, rows: Path, schema: pa.Schema, rejects: Path) -> VersionRecord | None:
        """The current version of the table, when the staged load holds exactly its content:
        the same fingerprint (schema, row count, sum and xor of row hashes) for the rows, and
        for the rejects the same as the quarantine version that the current load committed."""
        ws = self.ctx.ws
        current = ws.catalog.current_version(self.name)
        committed = self.committed_state(required=False)
        if current is None or committed is None or committed[0] != current.version:
            return None
        digest = ws.engine.fingerprint(TableFiles((str(rows),), schema)).digest
        if digest != current.fingerprint:
            return None
        staged = self.display_files(pq.read_table(rejects).cast(QUARANTINE_SCHEMA))
        quarantine = ws.catalog.current_version(self.name + QUARANTINE_SUFFIX)
        if quarantine is None:
            return current if staged.num_rows == 0 else None
        load = ws.lake.commit_metadata(quarantine.table, LOAD_KEY)
        if load != (quarantine.version, committed[1].get("load")):
            return None  # the quarantine holds rejects of another load
        same = ws.engine.fingerprint(staged).digest == quarantine.fingerprint
        return current if same else None

    # helpers --------------------------------------------------------------------------------

    def display_files(self, rejects: pa.Table) -> pa.Table:
        files = rejects.column("file").to_pylist()
        shown = [None if f is None else self.ctx.ws.display_path(f) for f in files]
        return rejects.set_column(0, "file", pa.array(shown, pa.string()))

    def with_existing_rows(
        self, contract: Contract, new_rows: pa.RecordBatchReader
    ) -> pa.RecordBatchReader:
        """A widened column: the stored rows are cast to the new type and written again with
        the new ones, as one overwrite commit."""
        current = self.ctx.current(self.name)
        existing = self.ctx.ws.lake.dataset(self.name, current.version)

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in existing.to_batches():
                yield contract.apply(batch, [])
            yield from new_rows

        return pa.RecordBatchReader.from_batches(contract.target, batches())
