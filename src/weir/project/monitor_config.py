"""The `monitor:` section of weir.yaml: how each deployed model is watched.

One entry per model of `ml:` (the key is the model's name). Every key has a default, so
`monitor: {fraud: {}}` watches the served model's inputs and outputs against its own
training rows in daily windows of its prediction log. What each default is and why is in
docs/monitoring.md; the statistics themselves are weir.monitor's.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from weir.project.base import Strict

FeatureKind = Literal["numeric", "categorical", "binary"]
EffectStatistic = Literal[
    "wasserstein_iqr", "ks", "psi", "jensen_shannon", "rate_diff", "null_rate_diff", "new_share"
]
_VERSIONED = re.compile(r"^[a-z_][a-z0-9_]*(@[0-9]+)?$")
_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def window_seconds(text: str) -> int:
    """'1d' -> 86400. Units: s, m, h, d, w."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"'{text}' is not a window length; write a number and a unit, e.g. 6h, 1d")
    return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]


class WindowConfig(Strict):
    """Which rows of the current data form one judged window: consecutive blocks of `rows`
    rows in log order, or calendar intervals of `every` (aligned to UTC midnight of
    1970-01-01, so windows are the same whoever computes them) on a time column."""

    every: str | None = Field(
        default=None, description="e.g. 1h, 1d: a window per interval; default 1d"
    )
    rows: int | None = Field(default=None, ge=30, description="a window per this many rows")
    column: str = Field(
        default="logged_at",
        description="with every: the time column that places a row in a window",
    )

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None:
            window_seconds(value)
        return value

    @model_validator(mode="after")
    def _one(self) -> WindowConfig:
        if self.every is not None and self.rows is not None:
            raise ValueError("give 'every' (time windows) or 'rows' (row windows), not both")
        return self

    @property
    def seconds(self) -> int | None:
        """The length of a time window; None for row windows."""
        if self.rows is not None:
            return None
        return window_seconds(self.every or "1d")


class DriftConfig(Strict):
    enabled: bool = True
    features: list[str] | None = Field(
        default=None, description="model inputs to watch; default: every input of the model"
    )
    output: bool = Field(default=True, description="also watch the model's answers")
    kinds: dict[str, FeatureKind] = Field(
        default_factory=dict,
        description="column -> numeric | categorical | binary, where the model's own feature "
        "spec does not say (the spec's numeric/categorical groups decide otherwise)",
    )
    budget: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="the chance that a window with no drift at all raises a drift alarm "
        "(family-wise over every feature and test of the window)",
    )
    resamples: int | None = Field(
        default=None, ge=50, le=100_000, description="null draws; default: weir.monitor's"
    )
    seed: int = 0
    min_effect: dict[EffectStatistic, float] = Field(
        default_factory=dict,
        description="statistic -> smallest value that may count as drift, e.g. "
        "{wasserstein_iqr: 0.1}; none by default (see docs/monitoring.md)",
    )

    @field_validator("min_effect")
    @classmethod
    def _floors(cls, value: dict[str, float]) -> dict[str, float]:
        negative = [name for name, floor in value.items() if floor < 0]
        if negative:
            raise ValueError(f"effect floors must be 0 or more: {negative}")
        return value


class LabelsConfig(Strict):
    """Where true answers arrive, late: any table of the project (a source, a model)."""

    table: str = Field(description="the table holding true labels")
    key: str = Field(
        default="request_id", description="the labels table's column that names the answer"
    )
    log_key: str = Field(
        default="request_id",
        description="the current data's column it matches: request_id (the X-Request-ID a "
        "client sent) or a model input",
    )
    column: str | None = Field(
        default=None, description="the labels table's label column; default: the model's target"
    )


class PerformanceConfig(Strict):
    enabled: bool = True
    metric: str | None = Field(
        default=None, description="default: the model's tuning metric, else the task's default"
    )
    max_drop: float = Field(
        default=0.05,
        ge=0,
        description="a window is bad when the metric falls more than this below the model "
        "version's own test score (absolute; for error metrics, rises more than this)",
    )
    min_labels: int = Field(
        default=100, ge=1, description="labels a window needs before its realised metric counts"
    )
    estimate: bool = Field(
        default=True,
        description="binary classifiers: estimate the metric from calibrated confidence "
        "(CBPE) while labels are missing",
    )


class WebhookConfig(Strict):
    url: str = Field(description="http(s) URL that receives each alert as a JSON POST")
    headers: dict[str, str] = Field(
        default_factory=dict, description="e.g. Authorization: 'Bearer ${ALERT_TOKEN}'"
    )
    secret: str | None = Field(
        default=None, description="signs each body (X-Weir-Signature-256: sha256=HMAC)"
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    attempts: int = Field(default=3, ge=1, le=10)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class AlertsConfig(Strict):
    raise_after: int = Field(
        default=1, ge=1, description="consecutive bad windows that open an incident"
    )
    clear_after: int = Field(
        default=2, ge=1, description="consecutive good windows that resolve it"
    )
    log: bool = Field(default=True, description="append each alert to .weir/logs/alerts.jsonl")
    webhook: WebhookConfig | None = None


RetrainTrigger = Literal["drift", "performance", "labels"]


def _default_triggers() -> list[RetrainTrigger]:
    return ["drift", "performance"]


class RetrainConfig(Strict):
    """When a challenger is trained, what it must prove to replace the champion, and
    whether a champion promoted this way is rolled back when its first labelled window
    says it is worse (`weir retrain MODEL`; docs/retraining.md)."""

    when: list[RetrainTrigger] = Field(
        default_factory=_default_triggers,
        description="what makes a retrain due: an open drift or performance incident (each "
        "incident once), or new_labels newly labelled answers; a schedule is 'weir schedule' "
        "running 'weir retrain MODEL' (the key is not 'on': YAML 1.1 reads a bare on as true)",
    )
    new_labels: int = Field(
        default=1000,
        ge=1,
        description="with when: [labels]: labelled answers logged since the champion was "
        "trained (or the last challenger, if later) that make a retrain due",
    )
    metric: str | None = Field(
        default=None,
        description="the metric champion and challenger are compared on; default: "
        "performance.metric, else the model's tuning metric, else the task's default",
    )
    margin: float = Field(
        default=0.01,
        description="the challenger must beat the champion by at least this on the metric "
        "(absolute, in the metric's units; negative accepts a slightly worse challenger)",
    )
    min_rows: int = Field(
        default=100, ge=10, description="rows a comparison needs before it may decide"
    )
    rollback: bool = Field(
        default=True,
        description="roll a champion promoted by a retrain back when its first labelled "
        "window shows it worse than its predecessor by more than rollback_margin",
    )
    rollback_margin: float | None = Field(
        default=None, ge=0, description="default: the size of margin"
    )

    @field_validator("when")
    @classmethod
    def _once_each(cls, value: list[RetrainTrigger]) -> list[RetrainTrigger]:
        return list(dict.fromkeys(value))

    @property
    def tolerance(self) -> float:
        """How much worse than its predecessor a promoted champion may be before it is
        rolled back."""
        return abs(self.margin) if self.rollback_margin is None else self.rollback_margin


class MonitorConfig(Strict):
    """How one model is watched."""

    reference: str = Field(
        default="training",
        description="training (the served version's own training rows) or TABLE or TABLE@VERSION",
    )
    current: str = Field(
        default="predictions",
        description="predictions (the model's prediction log) or a table written by 'weir predict'",
    )
    window: WindowConfig = Field(default_factory=WindowConfig)
    max_windows: int = Field(
        default=30, ge=1, description="windows judged at most per check (the newest due)"
    )
    drift: DriftConfig = Field(default_factory=DriftConfig)
    labels: LabelsConfig | None = None
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    retrain: RetrainConfig | None = None

    @field_validator("reference", "current")
    @classmethod
    def _table(cls, value: str) -> str:
        if not _VERSIONED.match(value):
            raise ValueError(f"'{value}' is not a table name (or TABLE@VERSION)")
        return value

    @model_validator(mode="after")
    def _current_unversioned(self) -> MonitorConfig:
        if "@" in self.current:
            raise ValueError("current data is watched as it grows: name it without @VERSION")
        return self
