"""Weir's own scikit-learn transformers, for what scikit-learn does not offer as declared.

Everything here is plain data after fitting (lists, floats), so the artifact format can store
and reload it without running code, and the ONNX export can translate it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

INFREQUENT = "__infrequent__"
UNKNOWN = "__unknown__"


class CategoryMap(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Rare categories become one "infrequent" category; unknown ones follow the declared rule.

    Fitted per column: categories seen at least `min_frequency` times (a share below 1, or a
    count) map to themselves, rarer ones to INFREQUENT. A category never seen in training
    maps to the most frequent one, to INFREQUENT, or stays as it is (for the encoder to
    ignore or refuse). Placed before the encoder, it is a plain lookup table, the same in
    scikit-learn and in ONNX (a LabelEncoder per column).
    """

    def __init__(self, min_frequency: float | None = None, unknown: str = "ignore") -> None:
        self.min_frequency = min_frequency
        self.unknown = unknown

    def fit(self, x: Any, y: Any = None) -> CategoryMap:
        values = np.asarray(x, dtype=object).astype(str)
        self.mapping_: list[dict[str, str]] = []
        self.default_: list[str | None] = []
        for column in range(values.shape[1]):
            labels, counts = np.unique(values[:, column], return_counts=True)
            floor = 0.0
            if self.min_frequency is not None:
                floor = (
                    self.min_frequency * len(values)
                    if self.min_frequency < 1
                    else self.min_frequency
                )
            mapping = {
                str(v): (str(v) if c >= floor else INFREQUENT)
                for v, c in zip(labels, counts, strict=True)
            }
            self.mapping_.append(mapping)
            # ties go to the smallest label, so the choice does not depend on row order
            frequent = str(labels[int(np.argmax(counts))]) if len(labels) else UNKNOWN
            self.default_.append(
                {"most_frequent": frequent, "infrequent": INFREQUENT}.get(self.unknown)
            )
        self.n_features_in_ = values.shape[1]
        return self

    def transform(self, x: Any) -> np.ndarray:
        check_is_fitted(self, "mapping_")
        values = np.asarray(x, dtype=object).astype(str)
        out = np.empty(values.shape, dtype=object)
        for column in range(values.shape[1]):
            mapping, default = self.mapping_[column], self.default_[column]
            out[:, column] = [
                mapping.get(v, v if default is None else default) for v in values[:, column]
            ]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features if input_features is not None else [], dtype=object)


class Clip(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Limit values to [low, high] (either may be None): declared, so nothing is learned."""

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        self.low = low
        self.high = high

    def fit(self, x: Any, y: Any = None) -> Clip:
        self.n_features_in_ = np.asarray(x).shape[1]
        return self

    def transform(self, x: Any) -> np.ndarray:
        return np.clip(np.asarray(x, dtype=np.float64), self.low, self.high)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features if input_features is not None else [], dtype=object)


class Log1p(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """log(1 + x), refusing negative values with the column's name instead of making NaN."""

    def __init__(self, columns: tuple[str, ...] = ()) -> None:
        self.columns = columns

    def fit(self, x: Any, y: Any = None) -> Log1p:
        self._check(x)
        self.n_features_in_ = np.asarray(x).shape[1]
        return self

    def transform(self, x: Any) -> np.ndarray:
        logged: np.ndarray = np.log1p(self._check(x))
        return logged

    def _check(self, x: Any) -> np.ndarray:
        values = np.asarray(x, dtype=np.float64)
        negative = np.nanmin(values, axis=0, initial=0.0) < 0
        if negative.any():
            names = [
                self.columns[i] if i < len(self.columns) else str(i)
                for i in np.flatnonzero(negative)
            ]
            raise ValueError(
                f"log is declared for {', '.join(names)} but it has negative values; "
                "add clip: [0, null] or drop log"
            )
        return values

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features if input_features is not None else [], dtype=object)
