"""Hyper-parameter search with Optuna: grid, random or TPE, scored by k-fold CV.

The study lives in the catalog database (Optuna's own tables beside Weir's), named by
everything that makes its scores comparable. Re-running the same configuration resumes it:
finished trials are kept and only the missing ones run; raising `trials` extends it.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from weir.core.errors import ConfigError, StepError
from weir.ml.metrics import direction
from weir.project.ml_config import ParamRange, TuneConfig

Progress = Callable[[str], None]
# params, fit rows, validation rows -> every metric of the task on that fold
Scorer = Callable[[dict[str, Any], np.ndarray, np.ndarray], dict[str, float]]


@dataclass(frozen=True)
class TuneResult:
    study: str
    method: str
    metric: str
    direction: str
    best_params: dict[str, Any]
    best_value: float
    best_std: float | None
    best_cv: dict[str, dict[str, float]]  # every metric's fold mean and std, best trial
    trials: int
    new_trials: int
    pruned: int
    seconds: float

    def summary(self) -> dict[str, Any]:
        return dict(self.__dict__)


def grid_values(name: str, choices: list[Any] | ParamRange, where: str) -> list[Any]:
    if isinstance(choices, list):
        return choices
    if choices.step is None:
        raise ConfigError(
            f"{where}.tune.space.{name}: a grid needs a list of values or a step",
            fix=f"e.g. {name}: {{low: {choices.low:g}, high: {choices.high:g}, step: ...}}",
        )
    values = np.arange(choices.low, choices.high + choices.step / 2, choices.step)
    return [int(v) for v in values] if _is_int(choices) else [float(v) for v in values]


def _is_int(spec: ParamRange) -> bool:
    if spec.type is not None:
        return spec.type == "int"
    return not spec.log and float(spec.low).is_integer() and float(spec.high).is_integer()


def _encode(value: Any) -> Any:
    """Optuna keeps categorical choices as scalars; lists (layer sizes) travel as JSON."""
    return (
        value if value is None or isinstance(value, bool | int | float | str) else json.dumps(value)
    )


def _decode(value: Any, choices: list[Any]) -> Any:
    for choice in choices:
        if _encode(choice) == value:
            return tuple(choice) if isinstance(choice, list) else choice
    return value


def suggest(trial: Any, space: dict[str, list[Any] | ParamRange]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            value = trial.suggest_categorical(name, [_encode(c) for c in spec])
            params[name] = _decode(value, spec)
        elif _is_int(spec):
            step = int(spec.step) if spec.step else 1
            params[name] = trial.suggest_int(
                name, int(spec.low), int(spec.high), step=step, log=spec.log
            )
        else:
            params[name] = trial.suggest_float(
                name, spec.low, spec.high, step=spec.step, log=spec.log
            )
    return params


def run_study(
    config: TuneConfig,
    *,
    study_name: str,
    storage_url: str,
    metric: str,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    score_fold: Scorer,
    seed: int,
    where: str,
    progress: Progress | None = None,
) -> TuneResult:
    """Search `config.space`, scoring each candidate by the mean over `folds`."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    goal: Literal["minimize", "maximize"] = (
        "minimize" if direction(metric) == "minimize" else "maximize"
    )
    sampler, total = _sampler(config, seed, where)
    storage = _storage(storage_url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            study_name=study_name,
            storage=storage,
            sampler=sampler,
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
            if config.pruning
            else optuna.pruners.NopPruner(),
            direction=goal,
            load_if_exists=True,
        )
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    before = len(study.get_trials(deepcopy=False, states=finished))
    remaining = max(0, total - before) if total is not None else None
    started = time.perf_counter()

    def objective(trial: Any) -> float:
        params = suggest(trial, config.space)
        scores: list[dict[str, float]] = []
        for step, (train, valid) in enumerate(folds):
            scores.append(score_fold(params, train, valid))
            trial.report(float(np.mean([s[metric] for s in scores])), step)
            if config.pruning and step < len(folds) - 1 and trial.should_prune():
                raise optuna.TrialPruned()
        cv = summarise_folds(scores)
        trial.set_user_attr("cv", cv)  # kept with the study: a resumed run reads it back
        return cv[metric]["mean"]

    def report(study: Any, trial: Any) -> None:
        if progress is None:
            return
        done = len(study.get_trials(deepcopy=False, states=finished))
        target = f"/{total}" if total is not None else ""
        best = _best(study)
        shown = f", best {metric} {best.value:.4f}" if best is not None else ""
        progress(f"tuning: trial {done}{target}{shown}")

    if remaining is None or remaining > 0:
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=config.timeout_seconds,
            n_jobs=config.n_jobs,
            callbacks=[report],
            catch=(StepError, ArithmeticError),  # a trial whose fit fails is recorded as failed
        )
    best = _best(study)
    if best is None:
        raise ConfigError(
            f"{where}.tune: no trial finished",
            fix="every trial failed or was pruned; widen the space or raise trials/timeout_seconds",
        )
    trials = study.get_trials(deepcopy=False, states=finished)
    return TuneResult(
        study=study_name,
        method=config.method,
        metric=metric,
        direction=goal,
        best_params={
            name: _decode(best.params[name], spec) if isinstance(spec, list) else best.params[name]
            for name, spec in config.space.items()
        },
        best_value=float(best.value),
        best_std=best.user_attrs.get("cv", {}).get(metric, {}).get("std"),
        best_cv=best.user_attrs.get("cv", {}),
        trials=len(trials),
        new_trials=len(trials) - before,
        pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
        seconds=time.perf_counter() - started,
    )


def summarise_folds(scores: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each metric's mean and standard deviation over folds."""
    return {
        name: {
            "mean": float(np.nanmean([s[name] for s in scores])),
            "std": float(np.nanstd([s[name] for s in scores])),
        }
        for name in scores[0]
    }


def _best(study: Any) -> Any:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    complete = [t for t in complete if t.value is not None and math.isfinite(t.value)]
    if not complete:
        return None
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1.0
    # ties go to the earliest trial, so the choice does not depend on thread timing
    return min(complete, key=lambda t: (sign * t.value, t.number))


def _sampler(config: TuneConfig, seed: int, where: str) -> tuple[Any, int | None]:
    import optuna

    if config.method == "grid":
        grid = {
            name: [_encode(v) for v in grid_values(name, spec, where)]
            for name, spec in config.space.items()
        }
        size = math.prod(len(v) for v in grid.values())
        return optuna.samplers.GridSampler(grid, seed=seed), min(config.trials or size, size)
    if config.method == "random":
        sampler: Any = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    if config.trials is None and config.timeout_seconds is not None:
        return sampler, None
    return sampler, config.trials or 20


def _storage(url: str) -> Any:
    import optuna

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 60}}  # parallel trials write to one file
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
