"""Whether a retrain is due, and why (or why not), from the triggers of retrain.when.

- drift, performance: an open incident of that check (weir.monitor.alerts keeps it in the
  catalog under incident:MODEL:CHECK). Each incident is answered once: a challenger trained
  for it, promoted or not, is the answer, and the next is trained for a new incident (or
  new labels, or --force). Retraining at every scheduled tick of a long incident would
  train the same data into version after version.
- labels: at least new_labels labelled answers logged since the champion was trained, or
  since the last challenger was, if later (the same labels do not count twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from weir.app.monitor_data import LOGGED_AT
from weir.app.retraining_compare import labelled_log
from weir.app.retraining_policy import RetrainState
from weir.app.workspace import Workspace
from weir.catalog import ModelVersionRecord
from weir.monitor.alerts import IncidentState
from weir.project.monitor_config import MonitorConfig


@dataclass(frozen=True)
class Due:
    due: bool
    reasons: tuple[str, ...]  # the triggers that fired
    waiting: tuple[str, ...]  # the triggers that did not, each with why
    incidents: tuple[str, ...] = ()  # the incidents this retrain answers

    def text(self) -> str:
        return "; ".join(self.reasons if self.due else self.waiting) or "no trigger in retrain.when"


def is_due(
    ws: Workspace,
    model: str,
    config: MonitorConfig,
    champion: ModelVersionRecord,
    state: RetrainState,
    *,
    force: bool,
    record: bool,
) -> Due:
    assert config.retrain is not None
    reasons: list[str] = ["--force"] if force else []
    waiting: list[str] = []
    incidents: list[str] = []
    for check in ("drift", "performance"):
        if check in config.retrain.when:
            fired, said, incident = _incident(ws, model, check, state)
            (reasons if fired else waiting).append(said)
            incidents += [incident] if fired and incident else []
    if "labels" in config.retrain.when:
        fired, said = _labels(ws, model, config, champion, state, record=record)
        (reasons if fired else waiting).append(said)
    return Due(bool(reasons), tuple(reasons), tuple(waiting), tuple(incidents))


def _incident(
    ws: Workspace, model: str, check: str, state: RetrainState
) -> tuple[bool, str, str | None]:
    stored = ws.catalog.monitor_state(f"incident:{model}:{check}")
    incident = IncidentState.from_json(stored).incident if stored else None
    if incident is None:
        return False, f"no open {check} incident", None
    since = (
        f"{check} incident open since window {incident.opened_window} ({incident.bad_windows} bad)"
    )
    if incident.id in state.answered:
        return False, f"{since}: a challenger was trained for it already", None
    return True, since, incident.id


def _labels(
    ws: Workspace,
    model: str,
    config: MonitorConfig,
    champion: ModelVersionRecord,
    state: RetrainState,
    *,
    record: bool,
) -> tuple[bool, str]:
    assert config.retrain is not None
    target = str((champion.details.config or {}).get("target") or "")
    read = labelled_log(ws, model, config, target, record=record)
    assert read is not None  # retrain_config refuses labels in when without labels:
    since = max(champion.created_at, state.labels_since or champion.created_at)
    count = _logged_after(read.labelled, since)
    needed = config.retrain.new_labels
    what = f"{count} labelled answers logged since {since:%Y-%m-%d %H:%M:%S}Z (retrain.new_labels {needed})"
    return count >= needed, what


def _logged_after(labelled: pa.Table, since: datetime) -> int:
    if labelled.num_rows == 0 or LOGGED_AT not in labelled.column_names:
        return 0
    times = pc.cast(labelled.column(LOGGED_AT), pa.timestamp("us", tz="UTC"))
    after = pc.greater(times, pa.scalar(since, pa.timestamp("us", tz="UTC")))
    return int(pc.sum(pc.cast(after, pa.int64())).as_py() or 0)
