"""What Weir writes into the lake besides the rows: the names it reserves (a table's
quarantine, a model's prediction log), and the metadata of every commit, so that the lake
alone can rebuild the catalog's table versions (`weir catalog rebuild`)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from weir.catalog import VersionRecord
from weir.core.version import __version__

# the names reserved for a quarantine and a prediction log (weir.app.prediction_log) are
# the project's to refuse, so they live with its names; the lake format says them here too
from weir.project.model import PREDICTION_LOG_SUFFIX as PREDICTION_LOG_SUFFIX
from weir.project.model import QUARANTINE_SUFFIX as QUARANTINE_SUFFIX
from weir.project.model import RESERVED_SUFFIXES as RESERVED_SUFFIXES

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
# the prediction log's commits: the model, and the versions of it whose answers the commit holds
MODEL_KEY, MODEL_VERSIONS_KEY = "weir.model", "weir.model_versions"
# the id every commit of Weir's carries (weir.lake names it too; a test pins the two)
COMMIT_ID_KEY = "weir.commit"


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
