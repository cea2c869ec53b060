"""What the performance estimate accepts, checked before any work: probabilities that are
probabilities, one true label per scored row, and a reference large enough to calibrate on.
Each refusal names the place and what to do."""

from __future__ import annotations

import numpy as np

from weir.core.errors import MonitorError


def binary_scores(scores: np.ndarray, where: str) -> np.ndarray:
    array = np.asarray(scores, dtype=float)
    if array.ndim != 1:
        raise MonitorError(
            f"performance estimate: {where}'s scores have shape {array.shape}; a binary model "
            "gives one probability (of the positive class) per row",
            fix="pass the 'probability' column of the prediction log",
        )
    check_probabilities(array, where)
    return np.column_stack([1.0 - array, array])


def matrix_scores(scores: np.ndarray, classes: int, where: str) -> np.ndarray:
    array = np.asarray(scores, dtype=float)
    if array.ndim != 2 or array.shape[1] != classes or classes < 3:
        raise MonitorError(
            f"performance estimate: {where}'s probabilities have shape {array.shape}; expected "
            f"(rows, {classes}) for {classes} classes (at least three; two: use fit)",
            fix="pass one probability per class, in the order of the model's classes",
        )
    check_probabilities(array, where)
    return array


def check_probabilities(array: np.ndarray, where: str) -> None:
    if len(array) == 0:
        raise MonitorError(
            f"performance estimate: {where} has no rows",
            fix="choose a window that holds answers (a longer period, or wait for traffic)",
        )
    bad = ~np.isfinite(array) | (array < 0.0) | (array > 1.0)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(array), -1).any(axis=1))
        raise MonitorError(
            f"performance estimate: {where} has {len(rows)} rows whose probabilities are not "
            f"between 0 and 1 (rows {rows[:5].tolist()})",
            fix="pass the model's probabilities, with no missing values",
        )


def truth_values(truth: np.ndarray, rows: int) -> np.ndarray:
    values = np.asarray(truth, dtype=object)
    if values.ndim != 1 or len(values) != rows:
        raise MonitorError(
            f"performance estimate: the reference has {rows} scores but {values.shape} labels",
            fix="pass one true label per scored row",
        )
    missing = sum(1 for v in values.tolist() if v is None or v != v)
    if missing:
        raise MonitorError(
            f"performance estimate: {missing} reference rows have no true label",
            fix="keep only the labelled rows of the reference",
        )
    return values


def check_reference(
    truth: np.ndarray, names: dict[int, str], min_rows: int, min_class: int
) -> None:
    """Isotonic calibration learns a frequency per score range: with too few rows, or a class
    barely present, it learns noise and the estimate inherits it."""
    fix = (
        "give a larger labelled reference (the model's test set, or a window whose labels "
        "have landed), or wait for more labels"
    )
    if len(truth) < min_rows:
        raise MonitorError(
            f"performance estimate: the reference has {len(truth)} labelled rows; calibrating "
            f"the probabilities needs at least {min_rows}",
            fix=fix,
        )
    counts = np.bincount(truth, minlength=len(names))
    short = [f"{names[i]} {int(n)}" for i, n in enumerate(counts) if n < min_class]
    if short:
        raise MonitorError(
            f"performance estimate: the reference has too few rows of a class to calibrate on "
            f"({', '.join(short)}; at least {min_class} of each needed)",
            fix=fix,
        )
