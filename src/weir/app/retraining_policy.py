"""The retraining policy of a model as the project and the registry hold it: its settings
(monitor.MODEL.retrain), the state a retrain leaves for the next (which incidents it has
answered, since when labels count), and which promotions a retrain made.

A promotion by a retrain is told by its stage-change reason, which starts with
RETRAIN_REASON; its predecessor is the version that was in production just before (the
registry's stage history, replayed). Both live in the catalog, so a rollback check in any
later process (`weir monitor`, `weir retrain`, the scheduler) finds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from weir.app.workspace import Workspace
from weir.catalog import StageMove
from weir.core.errors import ConfigError, MonitorError
from weir.core.suggest import suggestion_text
from weir.project.monitor_config import MonitorConfig, RetrainConfig

RETRAIN_REASON = "retrain: "
RETRAIN, ROLLBACK = "retrain", "rollback"  # the monitor checks a retrain records
_KEEP_INCIDENTS = 100  # incident ids remembered (the newest)


def monitor_config(ws: Workspace, model: str) -> MonitorConfig:
    """monitor.MODEL, or the error that says how to add it."""
    config = ws.project.config.monitor.get(model)
    if config is None:
        known = ws.project.config.ml
        raise ConfigError(
            f"model '{model}' has no monitor: section in weir.yaml",
            fix=f"add 'monitor: {{{model}: {{retrain: {{}}}}}}' to weir.yaml"
            if model in known
            else suggestion_text(model, list(known) or list(ws.project.config.monitor)),
        )
    return config


def retrain_config(ws: Workspace, model: str) -> tuple[MonitorConfig, RetrainConfig]:
    config = monitor_config(ws, model)
    if config.retrain is None:
        raise ConfigError(
            f"monitor.{model} has no retrain: section, so Weir has no policy to retrain it by",
            fix=f"add 'retrain: {{}}' under monitor.{model} in weir.yaml (docs/retraining.md); "
            f"or train by hand: weir train {model} --force",
        )
    if "labels" in config.retrain.when and config.labels is None:
        raise ConfigError(
            f"monitor.{model}.retrain.when names labels, but monitor.{model} has no labels: "
            "section to count labelled answers in",
            fix=f"add monitor.{model}.labels (table, key, column), or drop labels from when",
        )
    return config, config.retrain


class RetrainState(BaseModel):
    """What one retrain leaves for the next (JSON in the catalog under `state_key`)."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    answered: list[str] = []  # ids of the incidents a challenger was trained for
    labels_since: datetime | None = None  # when the last challenger was trained

    def after(self, incidents: Sequence[str], at: datetime) -> RetrainState:
        kept = [i for i in self.answered if i not in incidents] + list(incidents)
        return RetrainState(answered=kept[-_KEEP_INCIDENTS:], labels_since=at)


def state_key(model: str) -> str:
    return f"retrain:{model}"


def load_state(ws: Workspace, model: str) -> RetrainState:
    stored = ws.catalog.monitor_state(state_key(model))
    if not stored:
        return RetrainState()
    try:
        return RetrainState.model_validate_json(stored)
    except ValidationError:
        raise MonitorError(
            f"the stored retraining state of {model} cannot be read",
            fix="it was edited by hand or written by another Weir; delete the catalog's "
            f"monitor state '{state_key(model)}' (retraining then starts afresh)",
        ) from None


def save_state(ws: Workspace, model: str, state: RetrainState) -> None:
    ws.catalog.set_monitor_state(state_key(model), state.model_dump_json())


@dataclass(frozen=True)
class Promotion:
    """How the production version got there: when, why, and what it replaced."""

    version: int
    at: datetime
    reason: str
    predecessor: int | None  # the version in production just before (None: none known)

    @property
    def by_retrain(self) -> bool:
        return self.reason.startswith(RETRAIN_REASON)

    @property
    def key(self) -> str:
        """Names this promotion in the catalog's monitor results (one rollback verdict each)."""
        return f"v{self.version} promoted {self.at:%Y-%m-%dT%H:%M:%S.%fZ}"


def last_promotion(history: Sequence[StageMove], version: int) -> Promotion | None:
    """The last move of `version` into production, replaying the stage history to know
    which version production held just before. A version moved out of production by hand
    (archived, with nothing promoted in its place) leaves no predecessor."""
    holder: int | None = None
    found: Promotion | None = None
    for move in history:
        if move.to_stage == "production":
            if move.version == version:
                found = Promotion(version, move.at, move.reason, holder)
            holder = move.version
        elif move.from_stage == "production" and move.version == holder:
            holder = None
    return found
