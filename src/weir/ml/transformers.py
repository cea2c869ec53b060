"""Weir's own scikit-learn transformers, for what scikit-learn does not offer as declared.

Everything here is plain data after fitting (lists, floats), so the artifact format can store
and reload it without running code, and the ONNX export can translate it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class UnknownToMostFrequent(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Replace categories not seen in training by the most frequent training category.

    Placed before the encoder, it makes `unknown: most_frequent` exact: the encoder never
    meets a category it does not know, in training or at prediction time.
    """

    def fit(self, x: Any, y: Any = None) -> UnknownToMostFrequent:
        values = np.asarray(x, dtype=object)
        self.known_: list[list[str]] = []
        self.most_frequent_: list[str] = []
        for column in range(values.shape[1]):
            labels, counts = np.unique(values[:, column].astype(str), return_counts=True)
            self.known_.append([str(v) for v in labels])
            # ties go to the smallest label, so the choice does not depend on row order
            self.most_frequent_.append(str(labels[int(np.argmax(counts))]))
        self.n_features_in_ = values.shape[1]
        return self

    def transform(self, x: Any) -> np.ndarray:
        check_is_fitted(self, "known_")
        values = np.asarray(x, dtype=object).astype(str)
        out = values.astype(object)
        for column in range(values.shape[1]):
            unseen = ~np.isin(values[:, column], self.known_[column])
            out[unseen, column] = self.most_frequent_[column]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features if input_features is not None else [], dtype=object)


class NonNegative(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Refuse negative values before log(1 + x), naming the column, instead of making NaN."""

    def __init__(self, columns: tuple[str, ...] = ()) -> None:
        self.columns = columns

    def fit(self, x: Any, y: Any = None) -> NonNegative:
        self._check(x)
        self.n_features_in_ = np.asarray(x).shape[1]
        return self

    def transform(self, x: Any) -> np.ndarray:
        return self._check(x)

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
