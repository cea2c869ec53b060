"""Read-side helpers the CLI and UI share: things computed on demand and then kept."""

from __future__ import annotations

from typing import Any

from weir.app.pii import keeps_pii, withheld_columns
from weir.app.plan import build_plan
from weir.app.workspace import Workspace
from weir.catalog import VersionRecord
from weir.quality import TableProfile, profile_table


def table_profile(ws: Workspace, record: VersionRecord) -> dict[str, Any]:
    """The stored profile of a version; computed and stored first if the version has none
    (versions made before profiling existed, or by a run that was interrupted)."""
    models = build_plan(ws.project).sql_models if keeps_pii(ws.project) else None
    withheld = withheld_columns(
        ws.project,
        record.table,
        catalog=ws.catalog,
        models=models,
        columns=[f["name"] for f in record.schema],
    )
    stored = ws.catalog.profile(record.id)
    if stored is not None:
        # a profile stored before a column was governed may still hold its values
        return TableProfile.from_record(stored).without_values(withheld).as_record()
    settings = ws.project.config.profiles
    scan = ws.lake.scan(record.table, record.version)
    profile = profile_table(
        ws.engine,
        scan,
        sample_above=settings.sample_above,
        sample_rows=settings.sample_rows,
        withheld=withheld,
    ).as_record()
    ws.catalog.record_profile(record.id, profile)
    return profile
