"""Writing a step's output: one Delta commit, then its record in the catalog, with lineage.

Every kind that makes a table commits through here, so every version is profiled, recorded
with the versions it was made from, and refused when the catalog and the lake disagree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from weir.app.kinds.base import RunContext
from weir.app.lake_format import commit_metadata
from weir.catalog import VersionRecord
from weir.core.errors import LakeError
from weir.engines import Materialise, schema_record
from weir.quality import profile_table
from weir.quality.sample import StreamSample


@dataclass(frozen=True)
class Commit:
    """What a commit did: the version it recorded, and for a merge, the lake's counts of
    rows inserted, updated, ... (`num_target_rows_*`)."""

    record: VersionRecord
    merged: Mapping[str, int] | None = None


def commit(
    ctx: RunContext,
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
) -> Commit:
    """Write one Delta commit (replace, append or merge) and record it, with lineage.
    `sample`, on a replacing write, is fed the rows as they stream, for the profile."""
    if sample is not None and mode == "overwrite" and not merge_on:
        data = sample.passing(data)
    else:
        sample = None
    refuse_lost_table(ctx, table)
    metadata = {**(metadata or {}), **commit_metadata(ctx.run_id, token, kind, parents)}
    merged = None
    if merge_on:
        version, merged = ctx.ws.lake.merge(table, data, merge_on, metadata=metadata)
    else:
        version = ctx.ws.lake.write(table, data, mode=mode, metadata=metadata)
    recorded = record(
        ctx,
        table,
        kind,
        version,
        token,
        parents,
        description,
        sample=sample.table() if sample is not None else None,
    )
    return Commit(recorded, merged)


def materialise(
    ctx: RunContext,
    request: Materialise,
    kind: str,
    token: int,
    parents: list[VersionRecord],
    description: str | None = None,
) -> Commit:
    """Have the engine run a query and commit its result (one Delta commit, with this
    run's commit metadata added to the request's), then record it, with lineage. The rows
    never pass through Weir's process unless the engine streams them (DuckDB does; an engine
    like Spark writes the table itself)."""
    refuse_lost_table(ctx, request.target)
    metadata = {**dict(request.metadata), **commit_metadata(ctx.run_id, token, kind, parents)}
    done = ctx.ws.engine.materialise(
        dataclasses.replace(request, metadata=tuple(sorted(metadata.items()))), ctx.ws.lake
    )
    recorded = record(ctx, request.target, kind, done.version, token, parents, description)
    return Commit(recorded, dict(done.merge_counts) if request.mode == "merge" else None)


def refuse_lost_table(ctx: RunContext, table: str) -> None:
    """The catalog records versions of `table` that the lake no longer has: writing would
    give the next commit a number the catalog records for other rows (the log lost its
    newest commit files), or start the table again at version 0 (its folder is gone)."""
    lake = ctx.ws.lake
    recorded = ctx.ws.catalog.current_version(table)
    if recorded is None:
        return
    if lake.exists(table):
        latest = lake.latest_version(table)
        if latest is None or latest >= recorded.version:
            return
        missing = f"_delta_log/{latest + 1:020d}.json"
        raise LakeError(
            f"table '{table}': the catalog records versions up to {recorded.version}, but "
            f"the Delta log at {lake.path(table)} ends at version {latest}: its "
            f"newest commit file(s) from {missing} on are gone; a new commit would take "
            "a number the catalog records for other rows",
            fix=f"restore {missing} (and any after it) from a backup of the lake; or, to "
            "go on from what the lake holds, run 'weir catalog rebuild --force' (it keeps "
            "the old catalog beside the new one), then 'weir run'",
        )
    raise LakeError(
        f"table '{table}': the catalog records versions up to {recorded.version}, but "
        f"the lake has no table at {lake.path(table)} (deleted or moved)",
        fix="restore the folder from a backup of the lake; or, to build the table from "
        "scratch, run 'weir catalog rebuild --force' (it keeps the old catalog beside "
        "the new one and rebuilds from what the lake holds), then 'weir run'",
    )


def record(
    ctx: RunContext,
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
    scan = ctx.ws.lake.scan(table, version)
    fingerprint = ctx.ws.engine.fingerprint(scan)
    recorded = ctx.ws.catalog.record_version(
        table,
        kind=kind,
        version=version,
        row_count=fingerprint.row_count,
        fingerprint=fingerprint.digest,
        schema=schema_record(scan.schema),
        run_id=ctx.run_id,
        step_run_id=token,
        parents=[p.id for p in parents],
        description=description,
    )
    settings = ctx.config.profiles
    if settings.enabled:
        profile = profile_table(
            ctx.ws.engine,
            scan,
            sample_above=settings.sample_above,
            sample_rows=settings.sample_rows,
            counts=(fingerprint.row_count, *fingerprint.non_null),
            not_finite=fingerprint.not_finite,
            sample=sample,
            withheld=ctx.withheld(table, scan.schema.names),
        )
        ctx.ws.catalog.record_profile(recorded.id, profile.as_record())
    return recorded
