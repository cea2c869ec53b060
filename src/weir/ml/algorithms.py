"""Estimators by name. More come from the `weir.algorithms` entry-point group.

A plug-in is an `Algorithm`: a factory per task, seeded by Weir, plus the extra object
types its fitted model contains (so the artifact format may store and reload them).
A package adds one with, in its pyproject.toml:

    [project.entry-points."weir.algorithms"]
    my_booster = "my_package.weir_plugin:ALGORITHM"
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from weir.core.errors import ConfigError
from weir.core.suggest import suggestion_text

Factory = Callable[[int], Any]


@dataclass(frozen=True)
class Algorithm:
    name: str
    factories: Mapping[str, Factory]  # task -> seed -> unfitted estimator
    trusted_types: tuple[str, ...] = field(default=())
    description: str = ""
    trees: bool = False  # a tree ensemble: numeric log and scaling are left out (see features)


def _logistic(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, random_state=seed)


def _linear(seed: int) -> Any:
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


def _forest(task: str) -> Factory:
    def make(seed: int) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        kind = RandomForestClassifier if task == "classification" else RandomForestRegressor
        return kind(n_estimators=200, random_state=seed)

    return make


def _hist(task: str) -> Factory:
    def make(seed: int) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        if task == "classification":
            return HistGradientBoostingClassifier(random_state=seed)
        return HistGradientBoostingRegressor(random_state=seed)

    return make


def _lightgbm(task: str) -> Factory:
    def make(seed: int) -> Any:
        from lightgbm import LGBMClassifier, LGBMRegressor

        kind = LGBMClassifier if task == "classification" else LGBMRegressor
        # deterministic + row-wise histograms: the same seed gives the same trees
        return kind(random_state=seed, deterministic=True, force_row_wise=True, verbose=-1)

    return make


def _mlp(task: str) -> Factory:
    def make(seed: int) -> Any:
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        kind = MLPClassifier if task == "classification" else MLPRegressor
        return kind(
            hidden_layer_sizes=(64, 32), max_iter=300, early_stopping=True, random_state=seed
        )

    return make


def _kmeans(seed: int) -> Any:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=8, n_init=10, random_state=seed)


BUILT_IN: dict[str, Algorithm] = {
    a.name: a
    for a in [
        Algorithm(
            "logistic_regression",
            {"classification": _logistic},
            description="linear, calibrated probabilities",
        ),
        Algorithm(
            "linear_regression", {"regression": _linear}, description="ordinary least squares"
        ),
        Algorithm(
            "random_forest",
            {"classification": _forest("classification"), "regression": _forest("regression")},
            trees=True,
        ),
        Algorithm(
            "hist_gradient_boosting",
            {"classification": _hist("classification"), "regression": _hist("regression")},
            trusted_types=("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",),
            trees=True,
        ),
        Algorithm(
            "lightgbm",
            {"classification": _lightgbm("classification"), "regression": _lightgbm("regression")},
            trusted_types=(
                "lightgbm.basic.Booster",
                "lightgbm.sklearn.LGBMClassifier",
                "lightgbm.sklearn.LGBMRegressor",
                "collections.OrderedDict",
            ),
            trees=True,
        ),
        Algorithm(
            "mlp",
            {"classification": _mlp("classification"), "regression": _mlp("regression")},
            trusted_types=(
                "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
                "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
            ),
            description="multi-layer perceptron (scale the inputs)",
        ),
        Algorithm("kmeans", {"clustering": _kmeans}, description="k-means; set n_clusters"),
    ]
}


def algorithms() -> dict[str, Algorithm]:
    """Built-in algorithms and those installed packages add through entry points."""
    found = dict(BUILT_IN)
    for point in entry_points(group="weir.algorithms"):
        algorithm = point.load()
        if not isinstance(algorithm, Algorithm):
            raise ConfigError(
                f"entry point weir.algorithms:{point.name} is not a weir.ml.Algorithm",
                fix=f"check the package that provides {point.value}",
            )
        found.setdefault(algorithm.name, algorithm)
    return found


def get_algorithm(name: str, task: str, where: str) -> Algorithm:
    known = algorithms()
    algorithm = known.get(name)
    if algorithm is None or task not in algorithm.factories:
        choices = [n for n, a in known.items() if task in a.factories]
        raise ConfigError(
            f"{where}.algorithm: '{name}' is not a {task} algorithm",
            fix=suggestion_text(name, choices)
            if algorithm is None
            else f"choose one of: {', '.join(sorted(choices))}",
        )
    return algorithm


def make_estimator(task: str, name: str, params: dict[str, Any], seed: int, where: str) -> Any:
    """A configured estimator; unknown algorithms and parameters are errors with suggestions."""
    estimator = get_algorithm(name, task, where).factories[task](seed)
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


def supports_class_weight(estimator: Any) -> bool:
    return "class_weight" in estimator.get_params()


def accepts_sample_weight(estimator: Any) -> bool:
    return "sample_weight" in inspect.signature(estimator.fit).parameters


#: Types in the feature pipelines Weir builds that skops does not trust by default.
FEATURE_TYPES = (
    "numpy.dtype",
    "functools.partial",
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.tree._tree.Tree",  # forests: the random_forest algorithm and select: model
    "weir.ml.transformers.Clip",
    "weir.ml.transformers.Log1p",
    "weir.ml.transformers.CategoryMap",
)


def trusted_types(name: str) -> list[str]:
    """What a model of this algorithm may contain: the allow-list for loading its artifact."""
    algorithm = algorithms().get(name)
    return sorted({*FEATURE_TYPES, *(algorithm.trusted_types if algorithm else ())})
