"""The declared features as model input: a frame with fixed dtypes, then one preprocessor.

Two stages, on purpose. `prepare_frame` has no learned state (types, date parts, elapsed
days), so it is the same function in training and at prediction time. Everything that
learns from data (imputation, scaling, encoding, PCA, selection) is inside the fitted
scikit-learn pipeline, so it is fitted on training rows only and stored with the model.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.feature_selection import (
    SelectFromModel,
    SelectKBest,
    VarianceThreshold,
    f_classif,
    f_regression,
    mutual_info_classif,
    mutual_info_regression,
)
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from weir.core.errors import ConfigError
from weir.core.suggest import suggestion_text
from weir.ml.rows import MISSING as MISSING
from weir.ml.transformers import CategoryMap, Clip, Log1p
from weir.project.ml_config import CategoricalFeature, FeatureSpec, NumericFeature

_SECONDS_PER_DAY = 86_400.0


def check_columns(schema: pa.Schema, features: FeatureSpec, table: str, where: str) -> None:
    """Every declared column exists and has a type its feature kind can use."""
    names = schema.names
    for column in features.columns:
        if column not in names:
            raise ConfigError(
                f"{where}: table '{table}' has no column '{column}'",
                fix=suggestion_text(column, names),
            )
    for column in features.numeric:
        kind = schema.field(column).type
        if not (
            pat.is_integer(kind)
            or pat.is_floating(kind)
            or pat.is_boolean(kind)
            or pat.is_decimal(kind)
        ):
            raise ConfigError(
                f"{where}.features.numeric: column '{column}' is {kind}, not a number",
                fix="list it under features.categorical, or cast it in a SQL model",
            )
    for column, spec in features.dates.items():
        for name in [column, *spec.since]:
            kind = schema.field(name).type
            if not (pat.is_timestamp(kind) or pat.is_date(kind)):
                raise ConfigError(
                    f"{where}.features.dates: column '{name}' is {kind}, not a date or timestamp",
                    fix="declare it as date or timestamp in the source, or cast it in a SQL model",
                )


def derived_columns(features: FeatureSpec) -> list[str]:
    """The numeric columns `prepare_frame` makes from dates, in a fixed order."""
    names = []
    for column, spec in features.dates.items():
        names += [f"{column}__{part}" for part in spec.parts]
        names += [f"{column}__days_since_{other}" for other in spec.since]
    return names


def prepare_frame(table: pa.Table, features: FeatureSpec) -> pd.DataFrame:
    """The model's input columns as pandas, one representation for training and serving.

    Numbers are float64 with NaN for missing; categories are strings with "" for missing;
    text is a string with '' for missing; dates become numeric parts and elapsed days.
    """
    frame: dict[str, Any] = {}
    for column in features.numeric:
        frame[column] = table.column(column).cast(pa.float64()).to_numpy(zero_copy_only=False)
    for column in features.categorical:  # missing is "" (ONNX string tensors hold no NaN)
        values = table.column(column).cast(pa.string()).fill_null("").to_pylist()
        frame[column] = pd.Series(values, dtype=object)
    for column, spec in features.dates.items():
        values = _as_timestamp(table.column(column))
        for part in spec.parts:
            frame[f"{column}__{part}"] = _date_part(values, part)
        for other in spec.since:
            delta = pc.subtract(values, _as_timestamp(table.column(other)))
            seconds = pc.cast(delta, pa.int64()).to_numpy(zero_copy_only=False)
            frame[f"{column}__days_since_{other}"] = _float(seconds) / 1e6 / _SECONDS_PER_DAY
    for column in features.text:
        frame[column] = pd.Series(
            table.column(column).cast(pa.string()).fill_null("").to_pylist(), dtype=object
        )
    return pd.DataFrame(frame, index=range(table.num_rows))


def _as_timestamp(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dates and timestamps as UTC microseconds, so parts and differences agree everywhere."""
    if pat.is_date(column.type):
        return column.cast(pa.timestamp("us"))
    if column.type.tz is not None:
        column = column.cast(pa.timestamp("us", tz="UTC"))
    return column.cast(pa.timestamp("us"))


def _date_part(values: pa.ChunkedArray, part: str) -> np.ndarray:
    if part == "is_weekend":
        result = pc.greater_equal(pc.day_of_week(values), 5)
    else:
        function = {"dayofweek": pc.day_of_week, "dayofyear": pc.day_of_year}.get(part)
        result = (function or getattr(pc, part))(values)
    return _float(result.cast(pa.float64()).to_numpy(zero_copy_only=False))


def _float(values: Any) -> np.ndarray:
    return np.asarray(pd.array(values, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan))


def build_preprocessor(
    features: FeatureSpec, task: str, seed: int, *, trees: bool = False
) -> list[tuple[str, Any]]:
    """Pipeline steps from model input to the estimator's matrix: columns, then PCA, selection."""
    transformers: list[tuple[str, Any, Any]] = []
    numeric = dict(features.numeric)
    numeric |= {name: NumericFeature() for name in derived_columns(features)}
    for index, (options, columns) in enumerate(_grouped(numeric).items()):
        transformers.append((f"numeric_{index}", _numeric(options, columns, trees), columns))
    for index, (options, columns) in enumerate(_grouped(features.categorical).items()):
        transformers.append((f"categorical_{index}", _categorical(options), columns))
    for column, spec in features.text.items():
        vectorizer = HashingVectorizer(n_features=spec.hash_features, alternate_sign=False)
        transformers.append((f"text_{column}", vectorizer, column))
    steps: list[tuple[str, Any]] = [
        (
            "columns",
            ColumnTransformer(transformers, sparse_threshold=0.0, verbose_feature_names_out=True),
        )
    ]
    if features.select is not None:
        steps.append(("select", _selector(features, task, seed)))
    if features.pca is not None:
        count = features.pca.components
        steps.append(
            ("pca", PCA(n_components=int(count) if count >= 1 else count, random_state=seed))
        )
    return steps


def _grouped(columns: dict[str, Any]) -> dict[Any, list[str]]:
    """Columns with identical options share one transformer (fewer, faster steps)."""
    groups: dict[Any, list[str]] = {}
    for name, options in columns.items():
        groups.setdefault(options, []).append(name)
    return groups


def _numeric(options: NumericFeature, columns: list[str], trees: bool) -> Pipeline:
    """Impute, clip, then log and scale, or bins.

    For tree ensembles log and scaling are left out: a tree's splits do not change under a
    monotone transform, and without them a value reaches the trees exactly as given, so a
    test value equal to a split threshold goes the same way in float64 (scikit-learn) and in
    float32 (ONNX). Scaled in float32 it could land one step over and take the other branch.
    """
    impute = SimpleImputer(strategy=options.impute, fill_value=options.fill_value)
    steps: list[tuple[str, Any]] = [("impute", impute)]
    if options.clip is not None:
        low, high = options.clip
        steps.append(("clip", Clip(low, high)))
    if options.log and not trees:
        steps.append(("log", Log1p(tuple(columns))))
    if options.bins is not None:
        steps.append(
            (
                "bins",
                KBinsDiscretizer(
                    n_bins=options.bins,
                    encode="onehot-dense",
                    strategy="quantile",
                    quantile_method="averaged_inverted_cdf",
                ),
            )
        )
    elif options.scale != "none" and not trees:
        scaler = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
        steps.append(("scale", scaler[options.scale]()))
    return Pipeline(steps)


def _categorical(options: CategoricalFeature) -> Pipeline:
    if options.impute == "constant":
        impute = SimpleImputer(missing_values="", strategy="constant", fill_value=MISSING)
    else:
        impute = SimpleImputer(missing_values="", strategy="most_frequent")
    steps: list[tuple[str, Any]] = [("impute", impute)]
    if options.min_frequency is not None or options.unknown in ("most_frequent", "infrequent"):
        steps.append(("categories", CategoryMap(options.min_frequency, options.unknown)))
    if options.encode == "ordinal":
        if options.unknown == "error":
            encoder: Any = OrdinalEncoder(handle_unknown="error")
        else:
            encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    else:
        encoder = OneHotEncoder(
            handle_unknown="error" if options.unknown == "error" else "ignore", sparse_output=False
        )
    steps.append(("encode", encoder))
    return Pipeline(steps)


def _selector(features: FeatureSpec, task: str, seed: int) -> Any:
    select = features.select
    assert select is not None
    if select.method == "variance":
        return VarianceThreshold(threshold=float(select.threshold or 0.0))
    if task == "clustering":
        raise ConfigError(
            f"features.select.method: {select.method} scores features against a target",
            fix="clustering has no target; use method: variance or pca",
        )
    classify = task == "classification"
    if select.method == "kbest":
        if select.score == "mutual_info":
            score = mutual_info_classif if classify else mutual_info_regression
            # seeded: mutual information adds random jitter to continuous features
            return SelectKBest(functools.partial(score, random_state=seed), k=select.k)
        return SelectKBest(f_classif if classify else f_regression, k=select.k)
    forest = RandomForestClassifier if classify else RandomForestRegressor
    return SelectFromModel(
        forest(n_estimators=100, random_state=seed, n_jobs=1), threshold=select.threshold
    )
