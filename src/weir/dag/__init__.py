"""The pipeline as data, its cache keys, and the runner that executes it."""

from weir.dag.cache import CacheKey, InputState, cache_key, explain_change
from weir.dag.graph import Pipeline, Step
from weir.dag.runner import (
    Executor,
    History,
    Observation,
    PriorRun,
    Runner,
    StepReport,
    StepSummary,
)

__all__ = [
    "CacheKey",
    "Executor",
    "History",
    "InputState",
    "Observation",
    "Pipeline",
    "PriorRun",
    "Runner",
    "Step",
    "StepReport",
    "StepSummary",
    "cache_key",
    "explain_change",
]
