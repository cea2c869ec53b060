"""What Weir writes into the lake besides the rows: the name of a table's quarantine, and the
metadata of every commit, so that the lake alone can rebuild the catalog's table versions
(`weir catalog rebuild`)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from weir.catalog import VersionRecord
from weir.core.version import __version__

QUARANTINE_SUFFIX = "__quarantine"
# a source's position (its cursor, the files it loaded), committed with the rows it read
STATE_KEY = "weir.source_state"

# Format 1 had the run and step run only; format 2 adds the table's kind, the versions it was
# made from, and the Weir version.
COMMIT_FORMAT = "2"
RUN_KEY, STEP_RUN_KEY = "weir.run", "weir.step_run"
FORMAT_KEY, KIND_KEY, PARENTS_KEY, VERSION_KEY = (
    "weir.format",
    "weir.kind",
    "weir.parents",
    "weir.version",
)


def commit_metadata(
    run_id: int, token: int | None, kind: str, parents: Iterable[VersionRecord]
) -> dict[str, str]:
    """The commit metadata Weir writes with every version (see COMMIT_FORMAT)."""
    record = {
        FORMAT_KEY: COMMIT_FORMAT,
        RUN_KEY: str(run_id),
        KIND_KEY: kind,
        PARENTS_KEY: json.dumps([[p.table, p.version] for p in parents]),
        VERSION_KEY: __version__,
    }
    if token is not None:
        record[STEP_RUN_KEY] = str(token)
    return record
