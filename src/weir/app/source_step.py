"""The source step: read a source, hold it to its schema contract, commit it exactly once.

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

import dataclasses
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from weir.app.lake_format import QUARANTINE_SUFFIX, STATE_KEY
from weir.app.quality_steps import QualitySteps
from weir.catalog import VersionRecord
from weir.core.errors import WRITE_FIXES, LakeError
from weir.core.tables import TableFiles
from weir.dag import Step
from weir.engines.split import QUARANTINE_SCHEMA
from weir.ingest import FileState, RereadError, open_source
from weir.ingest.contract import Contract, plan
from weir.lake import InputStreamError, stream_failure
from weir.project.sources import FileSource
from weir.quality.sample import StreamSample

LOAD_KEY = "weir.load"


class SourceSteps(QualitySteps):
    def _source(self, step: Step, token: int) -> dict[str, Any]:
        """Load a source. A CSV read that cannot be trusted (DuckDB's rejects or its line
        count say a quote swallowed lines) committed nothing; it is read again, carefully."""
        observed = self.observed_files.pop(step.target, None)
        try:
            return self._load(step, token, observed)
        except RereadError as first:
            return self._load(step, token, observed, careful=True) | {"reread": first.reason}

    def _load(
        self, step: Step, token: int, observed: list[FileState] | None, careful: bool = False
    ) -> dict[str, Any]:
        name = step.target
        source = self.config.sources[name]
        self._refuse_lost_table(name + QUARANTINE_SUFFIX)  # before the table gets a commit
        recovered = self._recover(name, token)
        committed = None if self.full_refresh else self._committed_state(name)
        prior = None if committed is None else committed[1]
        load_id = uuid.uuid4().hex
        report = self._progress_reporter()
        with open_source(
            self.ws.local,
            self.ws.project.root,
            name,
            source,
            prior=prior,
            progress=report,
            observed=observed,
            careful=careful,
            scratch=self._staging(name) / "csv",
        ) as read:
            if read.nothing_new:
                return _untouched(name, self._current(name), recovered, incremental="nothing new")
            append = bool(read.detail.get("append")) and self.ws.lake.exists(name)
            contract = plan(
                self.ws.lake.schema(name), read.batches.schema, source.schema_policy, name
            )
            schema_rejects: list[pa.Table] = []
            stream = contract.stream(read.batches, schema_rejects)
            mode: Literal["append", "overwrite"] = "append" if append else "overwrite"
            if append and contract.rewrite_existing:
                stream, mode = self._with_existing_rows(name, contract, stream), "overwrite"
            before = self._current(name).row_count if append else 0
            state = {**read.state, "load": load_id, "schema": _schema_version(prior, contract)}
            # rejects follow the load, not the commit: a widening rewrite of an incremental
            # load still adds to the quarantine rather than replacing it
            staging = (
                self._staging(name) / f"{load_id}.{'append' if append else 'overwrite'}.parquet"
            )
            with self._quarantine_rules(name, stream) as (checked, diverted):

                def stage() -> None:
                    rejects = pa.concat_tables([read.rejects(), *schema_rejects, diverted.table()])
                    _write_atomically(rejects, staging)

                rows = _then(checked, stage)
                staged_rows = self._staging(name) / f"{load_id}.rows.tmp"
                try:
                    if (
                        mode == "overwrite"
                        and source.kind in ("sql", "http")
                        and not contract.changes
                        and self.ws.catalog.current_version(name) is not None
                    ):
                        # no cheap look at the source says it is unchanged: stage the load,
                        # compare it with the current version, commit only what differs
                        rows = self._stage_rows(name, rows, staged_rows)
                        same = self._same_as_current(name, staged_rows, rows.schema, staging)
                        if same is not None:
                            staged_rows.unlink()
                            staging.unlink()
                            self._record_quarantine_checks(name, diverted, same, token)
                            return _unchanged(name, same, recovered)
                    record = self._commit(
                        name,
                        "source",
                        rows,
                        token,
                        [],
                        source.description,
                        mode=mode,
                        metadata={STATE_KEY: json.dumps(state), LOAD_KEY: load_id},
                        sample=StreamSample(checked.schema, self.config.profiles.sample_rows)
                        if self.config.profiles.enabled
                        else None,
                    )
                except (LakeError, InputStreamError):
                    staging.unlink(missing_ok=True)
                    staged_rows.unlink(missing_ok=True)
                    if read.failure is not None:  # the source said what broke, and where
                        raise read.failure from None
                    raise
                except BaseException:
                    staging.unlink(missing_ok=True)
                    staged_rows.unlink(missing_ok=True)
                    raise
                staged_rows.unlink(missing_ok=True)
            self._record_quarantine_checks(name, diverted, record, token)
        quarantine = self._publish(name, staging, token)
        summary: dict[str, Any] = {
            "table": name,
            "version": record.version,
            "rows": record.row_count,
            "new_rows": record.row_count - before,
            "quarantined_rows": quarantine[1],
            "quarantine_table": quarantine[0],
        }
        if isinstance(source, FileSource) and source.incremental:
            summary["incremental"] = (
                f"{read.detail.get('files', 0)} new file(s)" if append else "full"
            )
        if source.kind == "sql" and getattr(source, "cursor", None):
            summary["incremental"] = "rows above the cursor" if append else "full"
        if contract.changes:
            summary["schema"] = f"v{state['schema']}: " + "; ".join(contract.changes)
        if read.lines is not None:
            summary["lines"] = dataclasses.asdict(read.lines)
        if recovered:
            summary["recovered"] = recovered
        if read.coerced:  # values repaired by a rule the source declared, counted
            summary["coerced"] = "coerced " + ", ".join(
                f"{what} ({count:,})" for what, count in sorted(read.coerced.items())
            )
        return summary | {k: v for k, v in read.detail.items() if k in ("pages", "requests")}

    # an unchanged load ----------------------------------------------------------------------

    def _stage_rows(
        self, name: str, rows: pa.RecordBatchReader, path: Path
    ) -> pa.RecordBatchReader:
        """Write the load's rows to `path` (Parquet); return a reader of them for the commit.
        A failure of the rows' stream is raised as the lake's write raises it."""
        try:
            with pq.ParquetWriter(path, rows.schema) as writer:
                for batch in rows:
                    writer.write_batch(batch)
        except BaseException as exc:
            path.unlink(missing_ok=True)
            raise stream_failure(name, exc) from exc
        staged = pq.ParquetFile(path)
        return pa.RecordBatchReader.from_batches(staged.schema_arrow, staged.iter_batches())

    def _same_as_current(
        self, name: str, rows: Path, schema: pa.Schema, rejects: Path
    ) -> VersionRecord | None:
        """The current version of `name`, when the staged load holds exactly its content:
        the same fingerprint (schema, row count, sum and xor of row hashes) for the rows, and
        for the rejects the same as the quarantine version that the current load committed."""
        current = self.ws.catalog.current_version(name)
        committed = self._committed_state(name, required=False)
        if current is None or committed is None or committed[0] != current.version:
            return None
        digest = self.ws.engine.fingerprint(TableFiles((str(rows),), schema)).digest
        if digest != current.fingerprint:
            return None
        staged = self._display_files(pq.read_table(rejects).cast(QUARANTINE_SCHEMA))
        quarantine = self.ws.catalog.current_version(name + QUARANTINE_SUFFIX)
        if quarantine is None:
            return current if staged.num_rows == 0 else None
        load = self.ws.lake.commit_metadata(quarantine.table, LOAD_KEY)
        if load != (quarantine.version, committed[1].get("load")):
            return None  # the quarantine holds rejects of another load
        same = self.ws.engine.fingerprint(staged).digest == quarantine.fingerprint
        return current if same else None

    # crash recovery -------------------------------------------------------------------------

    def _recover(self, name: str, token: int) -> list[str]:
        """Adopt a commit a killed run left unrecorded; publish or drop its staged rejects.
        Returns what it did, in words, for the step's output: nothing is repaired unseen."""
        done: list[str] = []
        latest = self._committed_state(name, required=not self.full_refresh)
        current = self.ws.catalog.current_version(name)
        if latest is not None and (current is None or current.version < latest[0]):
            self._record(name, "source", latest[0], token, [])
            done.append(
                f"adopted {name}@{latest[0]}: a run that was stopped committed it but did not "
                "record it"
            )
        committed_load = latest[1].get("load") if latest else None
        for leftover in self._staging(name).glob("*.tmp"):
            leftover.unlink()
            done.append(f"removed a half-written staging file ({leftover.name})")
        for staged in sorted(self._staging(name).glob("*.parquet")):
            if staged.name.split(".")[0] == committed_load:
                table, rows = self._publish(name, staged, token)
                done.append(f"published {rows:,} staged reject(s) of the committed load to {table}")
            else:
                try:
                    what = f"{pq.read_metadata(staged).num_rows:,} staged reject(s)"
                except (OSError, pa.ArrowException):
                    what = "an unreadable staged file"  # its load never committed: no loss
                staged.unlink()
                done.append(f"dropped {what} of a load that never committed ({staged.name})")
        return done

    def _committed_state(
        self, name: str, *, required: bool = True
    ) -> tuple[int, dict[str, Any]] | None:
        """(version, position) the newest load of `name` committed with its rows, or None.
        A position that cannot be read is an error naming its commit (unless not
        `required`: a full refresh does not use it)."""
        found = self.ws.lake.commit_metadata(name, STATE_KEY)
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
                f"table '{name}' version {version}: the source's position committed with it "
                f"({STATE_KEY} in {self.ws.lake.path(name)}/_delta_log/{version:020d}.json) "
                f"cannot be read: {exc}",
                fix="restore that commit file from a backup of the lake; or load the source "
                "again from its start with 'weir run --full-refresh' (which does not read "
                "the old position)",
            ) from None
        return version, state

    def _publish(self, name: str, staged: Path, token: int) -> tuple[str, int]:
        """Commit staged rejects to the quarantine table once, then drop the staged file."""
        table = name + QUARANTINE_SUFFIX
        load_id, mode = staged.name.split(".")[:2]
        done = self.ws.lake.commit_metadata(table, LOAD_KEY)
        try:
            rejects = pq.read_table(staged)
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(
                f"the rejects of load {load_id} of '{name}' (committed) were staged in "
                f"{staged}, which cannot be read: {type(exc).__name__}: {exc}",
                fix="restore that file from a backup; or delete it (those rejects are lost) "
                "and run 'weir run --full-refresh' to load the source again, which "
                "quarantines them again",
            ) from None
        if done is not None and done[1] == load_id:
            current = self.ws.catalog.current_version(table)
            if current is None or current.version < done[0]:
                self._record(table, "quarantine", done[0], token, [])
        else:
            rejects = rejects.cast(QUARANTINE_SCHEMA)
            rejects = self._display_files(rejects)
            self._commit(
                table,
                "quarantine",
                rejects,
                token,
                [],
                mode="append" if mode == "append" and self.ws.lake.exists(table) else "overwrite",
                metadata={LOAD_KEY: load_id},
            )
        staged.unlink()
        record = self.ws.catalog.current_version(table)
        assert record is not None
        return f"{table}@{record.version}", rejects.num_rows

    # helpers --------------------------------------------------------------------------------

    def _staging(self, name: str) -> Path:
        path = self.ws.project.workspace / "staging" / name
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

    def _display_files(self, rejects: pa.Table) -> pa.Table:
        files = rejects.column("file").to_pylist()
        shown = [None if f is None else self.ws.display_path(f) for f in files]
        return rejects.set_column(0, "file", pa.array(shown, pa.string()))

    def _with_existing_rows(
        self, name: str, contract: Contract, new_rows: pa.RecordBatchReader
    ) -> pa.RecordBatchReader:
        """A widened column: the stored rows are cast to the new type and written again with
        the new ones, as one overwrite commit."""
        current = self._current(name)
        existing = self.ws.lake.dataset(name, current.version)

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in existing.to_batches():
                yield contract.apply(batch, [])
            yield from new_rows

        return pa.RecordBatchReader.from_batches(contract.target, batches())

    def _progress_reporter(self) -> Callable[[int, int], None]:
        started = time.monotonic()
        last = [0.0]

        def report(rows: int, size: int) -> None:
            now = time.monotonic()
            if self.progress is None or now - last[0] < 0.2:
                return
            last[0] = now
            rate = rows / max(now - started, 1e-6)
            self.progress(f"{rows:,} rows · {size / 1e6:,.1f} MB · {rate:,.0f} rows/s")

        return report


def _untouched(
    name: str, current: VersionRecord, recovered: list[str], **said: str
) -> dict[str, Any]:
    """The summary of a load that committed nothing: the table stays at `current`."""
    return {
        "table": name,
        "version": current.version,
        "rows": current.row_count,
        "new_rows": 0,
        "quarantined_rows": 0,
        **said,
    } | ({"recovered": recovered} if recovered else {})


def _unchanged(name: str, current: VersionRecord, recovered: list[str]) -> dict[str, Any]:
    said = f"unchanged: the same content as {name}@{current.version}, not committed"
    return _untouched(name, current, recovered, unchanged=said)


def _schema_version(prior: dict[str, Any] | None, contract: Contract) -> int:
    version = int((prior or {}).get("schema", 1))
    return version + 1 if contract.changes and prior is not None else version


def _then(reader: pa.RecordBatchReader, finish: Callable[[], None]) -> pa.RecordBatchReader:
    """`reader`, calling `finish` once the last batch has been taken (before the commit)."""

    def batches() -> Iterator[pa.RecordBatch]:
        yield from reader
        finish()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _write_atomically(table: pa.Table, path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    pq.write_table(table, temporary)
    temporary.replace(path)


__all__ = ["STATE_KEY", "SourceSteps"]
