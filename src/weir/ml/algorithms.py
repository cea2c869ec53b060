"""Estimators by name, per task. Add one with ALGORITHMS.add(('task', 'name'), factory)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression

from weir.core.errors import ConfigError
from weir.core.suggest import suggestion_text

Factory = Callable[[int], Any]

ALGORITHMS: dict[tuple[str, str], Factory] = {
    ("classification", "logistic_regression"): lambda seed: LogisticRegression(
        max_iter=1000, random_state=seed
    ),
    ("classification", "random_forest"): lambda seed: RandomForestClassifier(
        n_estimators=200, random_state=seed
    ),
    ("classification", "hist_gradient_boosting"): lambda seed: HistGradientBoostingClassifier(
        random_state=seed
    ),
    ("regression", "linear_regression"): lambda seed: LinearRegression(),
    ("regression", "random_forest"): lambda seed: RandomForestRegressor(
        n_estimators=200, random_state=seed
    ),
    ("regression", "hist_gradient_boosting"): lambda seed: HistGradientBoostingRegressor(
        random_state=seed
    ),
}


def make_estimator(task: str, name: str, params: dict[str, Any], seed: int, where: str) -> Any:
    """A configured estimator; unknown algorithms and parameters are errors with suggestions."""
    factory = ALGORITHMS.get((task, name))
    if factory is None:
        choices = [n for t, n in ALGORITHMS if t == task]
        raise ConfigError(
            f"{where}.algorithm: '{name}' is not a {task} algorithm",
            fix=suggestion_text(name, choices),
        )
    estimator = factory(seed)
    valid = estimator.get_params()
    for key in params:
        if key not in valid:
            raise ConfigError(
                f"{where}.params.{key}: {name} has no parameter '{key}'",
                fix=suggestion_text(key, valid),
            )
    if "random_state" in params:
        raise ConfigError(
            f"{where}.params.random_state: set the seed with {where}.seed instead",
            fix="one seed per model keeps runs reproducible and recorded",
        )
    return estimator.set_params(**params)
