"""Training as a whole: no leakage, reproducibility, tasks, splits, metrics, tuning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as skm
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from weir.core import ConfigError, StepError
from weir.ml.metrics import classification_metrics, regression_metrics
from weir.ml.train import train
from weir.project.ml_config import TrainConfig


def config(**overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "table": "t",
        "target": "y",
        "task": "classification",
        "algorithm": "logistic_regression",
        "seed": 7,
    }
    return TrainConfig.model_validate(base | overrides)


def noise(rows: int = 200, columns: int = 400, seed: int = 0) -> pa.Table:
    """Pure noise features and a coin-flip label: nothing can be learned from it."""
    rng = np.random.default_rng(seed)
    data = {f"x{i}": rng.normal(size=rows) for i in range(columns)}
    return pa.table(data | {"y": rng.integers(0, 2, rows)})


def test_feature_selection_inside_cv_does_not_leak() -> None:
    """The leakage-sensitive fixture: selecting the 10 features most correlated with a random
    label on all rows, then cross-validating, scores far above chance. Weir selects inside
    each fold, so its CV stays at chance. The first assertion proves the fixture can tell."""
    table = noise()
    x = np.column_stack([table.column(f"x{i}").to_numpy() for i in range(400)])
    y = table.column("y").to_numpy()
    leaked = SelectKBest(f_classif, k=10).fit_transform(x, y)
    leaky_score = cross_val_score(LogisticRegression(), leaked, y, cv=5, scoring="roc_auc").mean()
    assert leaky_score > 0.7

    features = {
        "numeric": [f"x{i}" for i in range(400)],
        "select": {"method": "kbest", "k": 10, "score": "f_test"},
    }
    trained = train(
        table, config(features=features, cv={"folds": 5}, split={"method": "random"}), "ml.m"
    )
    assert trained.cv["roc_auc"]["mean"] < 0.62
    assert trained.metrics["roc_auc"] < 0.7


def signal(rows: int = 3000, seed: int = 1, classes: int = 2) -> pa.Table:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    score = a + 0.8 * b + (colour == "red") + rng.normal(scale=0.7, size=rows)
    cuts = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    return pa.table(
        {
            "a": a,
            "b": b,
            "colour": colour,
            "y": np.digitize(score, cuts),
            "price": 3 * a - 2 * b + rng.normal(size=rows),
            "store": rng.integers(0, 30, rows),
        }
    )


FEATURES = {"numeric": ["a", "b"], "categorical": ["colour"]}


@pytest.mark.parametrize(
    "algorithm", ["lightgbm", "mlp", "random_forest", "hist_gradient_boosting"]
)
def test_same_seed_gives_identical_predictions(algorithm: str) -> None:
    params = {"n_estimators": 30} if algorithm in ("lightgbm", "random_forest") else {}
    spec = config(features=FEATURES, algorithm=algorithm, params=params)
    first, second = train(signal(), spec, "ml.m"), train(signal(), spec, "ml.m")
    assert first.evaluation is not None and second.evaluation is not None
    assert np.array_equal(first.evaluation.predictions, second.evaluation.predictions)
    other = train(
        signal(), config(features=FEATURES, algorithm=algorithm, params=params, seed=8), "ml.m"
    )
    assert other.evaluation is not None
    assert not np.array_equal(first.evaluation.predictions, other.evaluation.predictions)


def test_multiclass_reports_macro_metrics_and_a_confusion_matrix() -> None:
    trained = train(
        signal(classes=3),
        config(features=FEATURES, algorithm="lightgbm", params={"n_estimators": 40}),
        "ml.m",
    )
    assert trained.classes == [0, 1, 2]
    assert {"f1_macro", "roc_auc_ovr", "precision_macro", "log_loss"} <= set(trained.metrics)
    assert trained.metrics["roc_auc_ovr"] > 0.8
    assert trained.evaluation is not None and trained.evaluation.confusion is not None
    matrix = np.asarray(trained.evaluation.confusion)
    assert matrix.shape == (3, 3) and matrix.sum() == trained.rows["test"]


def test_regression_with_lightgbm_and_cv() -> None:
    spec = config(
        task="regression",
        target="price",
        features=FEATURES,
        algorithm="lightgbm",
        cv={"folds": 3},
        split={"method": "random"},
    )
    trained = train(signal(), spec, "ml.m")
    assert trained.metrics["r2"] > 0.8
    assert set(trained.cv) == {"mse", "rmse", "mae", "r2", "mape"}
    assert trained.cv["r2"]["mean"] > 0.8 and trained.cv["r2"]["std"] >= 0


def test_clustering_with_kmeans() -> None:
    rng = np.random.default_rng(0)
    centres = np.repeat([[0, 0], [6, 6], [0, 6]], 300, axis=0)
    points = centres + rng.normal(size=centres.shape)
    table = pa.table({"a": points[:, 0], "b": points[:, 1]})
    spec = TrainConfig.model_validate(
        {
            "table": "t",
            "task": "clustering",
            "algorithm": "kmeans",
            "params": {"n_clusters": 3},
            "features": {"numeric": ["a", "b"]},
        }
    )
    trained = train(table, spec, "ml.m")
    assert trained.metrics["silhouette"] > 0.6
    with pytest.raises(ValueError, match="without a target"):
        TrainConfig.model_validate(
            {
                "table": "t",
                "target": "a",
                "task": "clustering",
                "algorithm": "kmeans",
                "features": {"numeric": ["b"]},
            }
        )


def test_a_group_split_keeps_each_group_on_one_side() -> None:
    from weir.ml.splits import folds, holdout

    groups = np.repeat(np.arange(20), 10).astype(str)
    train_rows, test_rows = holdout(200, None, groups, "group", 0.25, 3, "train:m")
    assert not set(groups[train_rows]) & set(groups[test_rows])
    for fit, valid in folds(200, None, groups, "group", 4, 3, "train:m"):
        assert not set(groups[fit]) & set(groups[valid])
    trained = train(
        signal(),
        config(features=FEATURES, split={"method": "group", "column": "store"}, cv={"folds": 3}),
        "ml.m",
    )
    assert trained.metrics["roc_auc"] > 0.8


def test_a_group_split_needs_enough_groups() -> None:
    table = signal().set_column(5, "store", pa.array([1] * 3000))
    with pytest.raises(StepError, match="at least 2 groups"):
        train(
            table, config(features=FEATURES, split={"method": "group", "column": "store"}), "ml.m"
        )


def test_class_weights_raise_recall_on_a_rare_class() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=8000)
    table = pa.table(
        {
            "a": x,
            "b": rng.normal(size=8000),
            "colour": ["c"] * 8000,
            "y": (x + rng.normal(scale=0.6, size=8000) > 2.0).astype(int),
        }
    )
    plain = train(table, config(features=FEATURES), "ml.m")
    weighted = train(table, config(features=FEATURES, class_weight="balanced"), "ml.m")
    assert weighted.metrics["recall"] > plain.metrics["recall"] + 0.2
    # an estimator without class_weight gets the same weights as sample weights
    mlp = train(table, config(features=FEATURES, algorithm="mlp", class_weight="balanced"), "ml.m")
    assert mlp.metrics["recall"] > plain.metrics["recall"]


def test_metrics_match_scikit_learn_on_known_data() -> None:
    truth = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    scores = np.array([0.1, 0.6, 0.8, 0.4, 0.9, 0.2, 0.7, 0.3])
    predicted = (scores >= 0.5).astype(int)
    result = classification_metrics(
        truth, predicted, np.column_stack([1 - scores, scores]), np.array([0, 1])
    )
    assert result["accuracy"] == 0.75  # 6 of 8 right, by hand
    assert result["precision"] == 0.75 and result["recall"] == 0.75
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, scores)) == 0.9375
    assert result["log_loss"] == pytest.approx(skm.log_loss(truth, scores))
    assert result["pr_auc"] == pytest.approx(skm.average_precision_score(truth, scores))
    values = regression_metrics(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0]))
    assert values["mse"] == pytest.approx(5 / 3) and values["mae"] == pytest.approx(1.0)
    assert values["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert values["mape"] == pytest.approx((0 + 0.5 + 0.5) / 3)
    assert values["r2"] == pytest.approx(skm.r2_score([1, 2, 4], [1, 3, 2]))


# tuning ------------------------------------------------------------------------------------


def tuned(tmp_path: Path, tune: dict[str, Any], **overrides: Any) -> Any:
    spec = config(features=FEATURES, tune=tune, cv={"folds": 3}, **overrides)
    tmp_path.mkdir(parents=True, exist_ok=True)
    return train(
        signal(1500),
        spec,
        "ml.m",
        storage_url=f"sqlite:///{tmp_path / 'studies.db'}",
        study_name="weir.m.test",
    )


def test_grid_search_tries_every_combination_once(tmp_path: Path) -> None:
    result = tuned(
        tmp_path,
        {"method": "grid", "space": {"C": [0.01, 0.1, 1.0], "fit_intercept": [True, False]}},
    )
    assert result.tuning.trials == 6 and result.tuning.new_trials == 6
    # the reported CV is the chosen trial's own folds, not a second round of fits
    assert result.cv["roc_auc"] == {"mean": result.tuning.best_value, "std": result.tuning.best_std}
    assert set(result.cv) >= {"accuracy", "f1", "log_loss"}
    assert set(result.resolved_params) == {"C", "fit_intercept"}
    again = tuned(
        tmp_path,
        {"method": "grid", "space": {"C": [0.01, 0.1, 1.0], "fit_intercept": [True, False]}},
    )
    assert again.tuning.new_trials == 0 and again.resolved_params == result.resolved_params


def test_a_study_resumes_and_extends_from_the_catalog_database(tmp_path: Path) -> None:
    space = {"C": {"low": 0.001, "high": 10.0, "log": True}}
    first = tuned(tmp_path, {"method": "bayesian", "space": space, "trials": 4})
    assert (first.tuning.trials, first.tuning.new_trials) == (4, 4)
    resumed = tuned(tmp_path, {"method": "bayesian", "space": space, "trials": 4})
    assert (resumed.tuning.trials, resumed.tuning.new_trials) == (4, 0)
    assert resumed.resolved_params == first.resolved_params
    extended = tuned(tmp_path, {"method": "bayesian", "space": space, "trials": 6, "n_jobs": 2})
    assert (extended.tuning.trials, extended.tuning.new_trials) == (6, 2)


def test_random_search_is_seeded(tmp_path: Path) -> None:
    space = {"C": {"low": 0.001, "high": 10.0, "log": True}, "max_iter": {"low": 50, "high": 500}}
    a = tuned(tmp_path / "a", {"method": "random", "space": space, "trials": 5})
    b = tuned(tmp_path / "b", {"method": "random", "space": space, "trials": 5})
    assert a.resolved_params == b.resolved_params and isinstance(a.resolved_params["max_iter"], int)


def test_bad_trials_are_pruned_after_a_fold(tmp_path: Path) -> None:
    """C near zero makes a useless model; the median pruner stops those after one fold."""
    space = {"C": [1e-7, 1e-6, 1.0, 10.0]}
    result = tuned(
        tmp_path / "p", {"method": "random", "space": space, "trials": 14, "metric": "log_loss"}
    )
    assert result.tuning.pruned > 0
    assert result.resolved_params["C"] in (1.0, 10.0)


def test_tuning_metric_must_fit_the_task(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'roc_auc'"):
        tuned(tmp_path, {"space": {"C": [1.0]}, "metric": "roc_acu"})


def test_a_grid_range_needs_a_step(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a list of values or a step"):
        tuned(tmp_path, {"method": "grid", "space": {"C": {"low": 0.1, "high": 1.0}}})
    result = tuned(
        tmp_path, {"method": "grid", "space": {"max_iter": {"low": 100, "high": 300, "step": 100}}}
    )
    assert result.tuning.trials == 3


def test_layer_sizes_can_be_searched(tmp_path: Path) -> None:
    result = tuned(
        tmp_path,
        {"method": "grid", "space": {"hidden_layer_sizes": [[8], [8, 4]]}},
        algorithm="mlp",
        params={"max_iter": 50},
    )
    assert result.resolved_params["hidden_layer_sizes"] in ([8], [8, 4])


def test_tuning_and_fixed_parameters_cannot_overlap() -> None:
    with pytest.raises(ValueError, match="both fixed"):
        config(features=FEATURES, params={"C": 1.0}, tune={"space": {"C": [1.0, 2.0]}})


def test_a_time_budget_alone_bounds_the_search(tmp_path: Path) -> None:
    result = tuned(
        tmp_path,
        {"method": "random", "space": {"C": {"low": 0.01, "high": 1.0}}, "timeout_seconds": 1.0},
    )
    assert result.tuning.trials >= 1 and result.tuning.seconds < 30


@pytest.mark.integration
def test_a_study_lives_beside_the_catalog_on_postgresql(postgres_url: str) -> None:
    from weir.catalog import Catalog

    catalog = Catalog.open(postgres_url)  # Weir's tables first, as in a project
    url = catalog.engine.url.render_as_string(hide_password=False)
    spec = config(
        features=FEATURES,
        tune={"method": "random", "space": {"C": [0.1, 1.0, 10.0]}, "trials": 3, "n_jobs": 2},
        cv={"folds": 3},
    )
    first = train(signal(1000), spec, "ml.m", storage_url=url, study_name="weir.m.pg")
    again = train(signal(1000), spec, "ml.m", storage_url=url, study_name="weir.m.pg")
    assert first.tuning is not None and again.tuning is not None
    assert (first.tuning.new_trials, again.tuning.new_trials, again.tuning.trials) == (3, 0, 3)
    catalog.close()
    reopened = Catalog.open(postgres_url)  # the schema check passes with Optuna's tables present
    assert reopened.runs() == []
    reopened.close()


def test_a_trial_that_cannot_fit_fails_alone(tmp_path: Path) -> None:
    result = tuned(tmp_path, {"method": "grid", "space": {"solver": ["lbfgs", "no_such_solver"]}})
    assert result.tuning.trials == 1 and result.resolved_params == {"solver": "lbfgs"}
    with pytest.raises(ConfigError, match="no trial finished"):
        tuned(tmp_path / "b", {"method": "grid", "space": {"solver": ["no_such_solver"]}})
