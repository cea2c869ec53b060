"""The source kind: read a source, hold it to its schema contract, commit it exactly once.

The position and the staged rejects that make a load exactly-once are kept by
`weir.app.kinds.source_state`; this module plans the steps, observes what a source offers
(files by hash, a SQLite file), and runs one load from the read to its summary.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from weir.app.kinds.base import Observed, RunContext, StepKind, table_inputs, table_present
from weir.app.kinds.commits import commit, refuse_lost_table
from weir.app.kinds.planning import Planning, related_tables
from weir.app.kinds.quarantine import quarantine_rules, record_quarantine_checks
from weir.app.kinds.source_state import LOAD_KEY, SourceLoad
from weir.app.kinds.summaries import Quarantined, SourceSummary
from weir.app.lake_format import QUARANTINE_SUFFIX, STATE_KEY
from weir.catalog import VersionRecord
from weir.core.errors import LakeError
from weir.core.secrets import Secrets
from weir.core.version import __version__
from weir.dag import PriorRun, Step
from weir.ingest import (
    Connector,
    ReadOptions,
    RereadError,
    SourceContext,
    SourceRead,
    connector_for,
    load_position,
)
from weir.ingest.contract import Contract, plan
from weir.lake import InputStreamError
from weir.quality.sample import StreamSample


class SourceKind(StepKind):
    name = "source"

    def plan(self, planning: Planning) -> list[Step]:
        steps = []
        for name, source in planning.project.config.sources.items():
            related = related_tables(planning.checks_of(name, ("quarantine",)))
            steps.append(
                Step(
                    name=f"source:{name}",
                    kind=self.name,
                    target=name,
                    after=tuple(planning.ready_step(t) for t in related),
                    definition={
                        **_without_secrets(source.model_dump(mode="json"), planning.secrets),
                        "quarantine_checks": planning.quarantine_definition(name),
                    },
                    code=f"weir {__version__} {source.kind} source",
                    where=f"weir.yaml sources.{name}",
                )
            )
        return steps

    def reads(self, step: Step, ctx: RunContext) -> list[str]:
        checks = ctx.config.checks.get(step.target, [])
        return sorted(
            {c.to for c in checks if c.rule == "relationships" and c.severity == "quarantine"}
        )

    def writes(self, step: Step) -> list[str]:
        return [step.target]

    def observe(self, step: Step, ctx: RunContext) -> Observed:
        """What the source's connector can tell cheaply (each file's SHA-256, an SQLite
        file's); a source it cannot look at cheaply (a database server, an API) says why it
        must be read, and the step runs every time. The observation goes to the load, which
        reads exactly the files the key was made of."""
        seen = _connector(ctx, step.target).observe()
        inputs = {**seen.inputs, **table_inputs(ctx, self.reads(step, ctx))}
        return Observed(inputs, always=seen.always, source=seen)

    def output_present(self, step: Step, ctx: RunContext, prior: PriorRun) -> bool:
        return table_present(ctx, step.target)

    def execute(self, step: Step, ctx: RunContext, token: int, observed: Observed) -> SourceSummary:
        """Load a source. A CSV read that cannot be trusted (DuckDB's rejects or its line
        count say a quote swallowed lines) committed nothing; it is read again, carefully."""
        try:
            return _load(SourceLoad(ctx, step.target, token), observed)
        except RereadError as first:
            again = _load(SourceLoad(ctx, step.target, token), observed, careful=True)
            return dataclasses.replace(again, reread=first.reason)

    def summary_from_record(self, record: Mapping[str, Any]) -> SourceSummary:
        return SourceSummary.from_record(record)


def _without_secrets(value: Any, secrets: Secrets) -> Any:
    """A source's configuration as its definition keeps it: every secret (a URL's password,
    credential headers and parameters, the bearer token) replaced by ***. The catalog keeps
    the definition's digest, which must not let a guess of a secret be tested; and a rotated
    password changes no data."""
    if isinstance(value, str):
        return secrets.redact(value)
    if isinstance(value, dict):
        return {k: _without_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v, secrets) for v in value]
    return value


@dataclass(frozen=True)
class _Written:
    """What a load committed: its rows' version and how they were written."""

    record: VersionRecord
    before: int  # rows the table held before an append
    contract: Contract
    schema_version: int
    staging: Path  # its staged rejects, published after the rows' commit


def _load(load: SourceLoad, observed: Observed, careful: bool = False) -> SourceSummary:
    ctx, name = load.ctx, load.name
    refuse_lost_table(ctx, name + QUARANTINE_SUFFIX)  # before the table gets a commit
    recovered = tuple(load.recover())
    committed = None if ctx.options.full_refresh else load.committed_state()
    prior = None if committed is None else committed[1]
    connector = _connector(ctx, name)
    options = ReadOptions(_progress_reporter(ctx.options.progress), careful, load.staging() / "csv")
    with connector.read(
        load_position(connector, prior), observation=observed.source, options=options
    ) as read:
        if read.nothing_new:
            return _untouched(name, ctx.current(name), recovered, incremental="nothing new")
        written = _write(load, read, prior, compare=connector.repeats_content)
        if isinstance(written, VersionRecord):
            return _untouched(name, written, recovered, unchanged=_unchanged(name, written))
    table, rejected = load.publish(written.staging)
    connector.after_commit(read.position)  # the rows and their rejects are committed
    summary = SourceSummary(
        table=name,
        version=written.record.version,
        rows=written.record.row_count,
        new_rows=written.record.row_count - written.before,
        quarantine=Quarantined(rows=rejected, table=table),
        incremental=read.incremental,
        schema=f"v{written.schema_version}: " + "; ".join(written.contract.changes)
        if written.contract.changes
        else None,
        lines=read.lines,
        recovered=recovered,
    )
    return dataclasses.replace(summary, **_read_detail(read))


def _write(
    load: SourceLoad, read: SourceRead, prior: dict[str, Any] | None, *, compare: bool
) -> _Written | VersionRecord:
    """Hold the rows to the schema contract and the quarantine rules, stage their rejects,
    and commit them with the source's position; or, when a full load equals the current
    version, commit nothing and return that version."""
    ctx, name = load.ctx, load.name
    source = ctx.config.sources[name]
    append = bool(read.detail.get("append")) and ctx.ws.lake.exists(name)
    contract = plan(ctx.ws.lake.schema(name), read.batches.schema, source.schema_policy, name)
    schema_rejects: list[pa.Table] = []
    stream = contract.stream(read.batches, schema_rejects)
    mode: Literal["append", "overwrite"] = "append" if append else "overwrite"
    if append and contract.rewrite_existing:
        stream, mode = load.with_existing_rows(contract, stream), "overwrite"
    before = ctx.current(name).row_count if append else 0
    load_id = uuid.uuid4().hex
    state = {**read.state, "load": load_id, "schema": _schema_version(prior, contract)}
    # rejects follow the load, not the commit: a widening rewrite of an incremental load
    # still adds to the quarantine rather than replacing it
    staging = load.staging() / f"{load_id}.{'append' if append else 'overwrite'}.parquet"
    with quarantine_rules(ctx, name, stream) as (checked, diverted):

        def stage() -> None:
            rejects = pa.concat_tables([read.rejects(), *schema_rejects, diverted.table()])
            _write_atomically(rejects, staging)

        rows = _then(checked, stage)
        record, committed = _commit_rows(
            load,
            read,
            rows,
            checked.schema,
            mode=mode,
            compare=compare and not contract.changes,
            metadata={STATE_KEY: json.dumps(state), LOAD_KEY: load_id},
            staging=staging,
        )
        if not committed:  # the same content as the current version
            record_quarantine_checks(ctx, name, diverted, record, load.token)
            return record
    record_quarantine_checks(ctx, name, diverted, record, load.token)
    return _Written(record, before, contract, int(state["schema"]), staging)


def _commit_rows(
    load: SourceLoad,
    read: SourceRead,
    rows: pa.RecordBatchReader,
    schema: pa.Schema,
    *,
    mode: Literal["append", "overwrite"],
    compare: bool,
    metadata: dict[str, str],
    staging: Path,
) -> tuple[VersionRecord, bool]:
    """Commit the rows: (the version, True); or, when `compare`d equal to the current
    version, (that version, False), and nothing is committed. On failure, the staged files go, and the source's own error, if it gave
    one, is raised: it says what broke, and where."""
    ctx, name = load.ctx, load.name
    source = ctx.config.sources[name]
    staged_rows = load.staging() / f"{metadata[LOAD_KEY]}.rows.tmp"
    try:
        if mode == "overwrite" and compare and ctx.ws.catalog.current_version(name) is not None:
            # no cheap look at the source says it is unchanged: stage the load, compare it
            # with the current version, commit only what differs
            rows = load.stage_rows(rows, staged_rows)
            same = load.same_as_current(staged_rows, rows.schema, staging)
            if same is not None:
                staged_rows.unlink()
                staging.unlink()
                return same, False
        profiles = ctx.config.profiles
        record = commit(
            ctx,
            name,
            "source",
            rows,
            load.token,
            [],
            source.description,
            mode=mode,
            metadata=metadata,
            sample=StreamSample(schema, profiles.sample_rows) if profiles.enabled else None,
        ).record
    except (LakeError, InputStreamError):
        staging.unlink(missing_ok=True)
        staged_rows.unlink(missing_ok=True)
        if read.failure is not None:
            raise read.failure from None
        raise
    except BaseException:
        staging.unlink(missing_ok=True)
        staged_rows.unlink(missing_ok=True)
        raise
    staged_rows.unlink(missing_ok=True)
    return record, True


def _connector(ctx: RunContext, name: str) -> Connector:
    """The connector of source `name`, by its kind (weir.ingest.connectors)."""
    context = SourceContext(ctx.ws.local, ctx.ws.project.root, name)
    return connector_for(context, ctx.config.sources[name])


def _read_detail(read: SourceRead) -> dict[str, Any]:
    """What the read reports besides its rows: values repaired under a declared rule, and
    an API's pages and requests."""
    detail: dict[str, Any] = {k: v for k, v in read.detail.items() if k in ("pages", "requests")}
    if read.coerced:  # values repaired by a rule the source declared, counted
        detail["coerced"] = "coerced " + ", ".join(
            f"{what} ({count:,})" for what, count in sorted(read.coerced.items())
        )
    return detail


def _untouched(
    name: str,
    current: VersionRecord,
    recovered: tuple[str, ...],
    *,
    incremental: str | None = None,
    unchanged: str | None = None,
) -> SourceSummary:
    """The summary of a load that committed nothing: the table stays at `current`."""
    return SourceSummary(
        table=name,
        version=current.version,
        rows=current.row_count,
        new_rows=0,
        incremental=incremental,
        unchanged=unchanged,
        recovered=recovered,
    )


def _unchanged(name: str, current: VersionRecord) -> str:
    return f"unchanged: the same content as {name}@{current.version}, not committed"


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


def _progress_reporter(progress: Callable[[str], None] | None) -> Callable[[int, int], None]:
    started = time.monotonic()
    last = [0.0]

    def report(rows: int, size: int) -> None:
        now = time.monotonic()
        if progress is None or now - last[0] < 0.2:
            return
        last[0] = now
        rate = rows / max(now - started, 1e-6)
        progress(f"{rows:,} rows · {size / 1e6:,.1f} MB · {rate:,.0f} rows/s")

    return report
