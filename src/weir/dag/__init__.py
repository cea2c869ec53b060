"""The pipeline as data, its cache keys, and the runner that executes it."""

from weir.dag.cache import CacheKey, InputState, cache_key, explain_change
from weir.dag.graph import Pipeline, Step
from weir.dag.runner import Executor, History, PriorRun, Runner, StepReport

__all__ = [
    "CacheKey",
    "Executor",
    "History",
    "InputState",
    "Pipeline",
    "PriorRun",
    "Runner",
    "Step",
    "StepReport",
    "cache_key",
    "explain_change",
]
