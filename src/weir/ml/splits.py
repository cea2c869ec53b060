"""Held-out test rows and cross-validation folds, one rule per split method.

Every split is a function of the rows (already in canonical order) and the seed, so a
retrain on the same table version holds out the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedKFold,
    TimeSeriesSplit,
    train_test_split,
)

from weir.core.errors import StepError

Indices = tuple[np.ndarray, np.ndarray]


def holdout(
    count: int, y: Any, groups: Any, method: str, fraction: float, seed: int, step: str
) -> Indices:
    """(train, test) row positions. Time: the latest rows are the test set (rows are in
    time order); group: whole groups go to one side; else a seeded (stratified) draw."""
    positions = np.arange(count)
    if method == "time":
        cut = count - max(1, round(count * fraction))
        return positions[:cut], positions[cut:]
    if method == "group":
        _need_groups(groups, 2, step)
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        train, test = next(splitter.split(positions, groups=groups))
        return np.sort(train), np.sort(test)
    stratify = y if method == "stratified" else None
    if stratify is not None:
        _need_each_class(y, 2, "a stratified split", step)
    train, test = train_test_split(
        positions, test_size=fraction, random_state=seed, stratify=stratify
    )
    return np.sort(train), np.sort(test)


def folds(
    count: int, y: Any, groups: Any, method: str, k: int, seed: int, step: str
) -> Iterator[Indices]:
    """k (train, validation) folds over `count` rows, matching the holdout's method."""
    positions = np.arange(count)
    if method == "time":  # each fold trains on the past and validates on what follows
        yield from TimeSeriesSplit(n_splits=k).split(positions)
    elif method == "group":
        _need_groups(groups, k, step)
        yield from GroupKFold(n_splits=k).split(positions, groups=groups)
    elif method == "stratified":
        _need_each_class(y, k, f"{k}-fold stratified cross-validation", step)
        yield from StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(positions, y)
    else:
        yield from KFold(n_splits=k, shuffle=True, random_state=seed).split(positions)


def _need_groups(groups: Any, k: int, step: str) -> None:
    distinct = len(np.unique(np.asarray(groups, dtype=object).astype(str)))
    if distinct < k:
        raise StepError(
            step,
            f"the group split needs at least {k} groups, found {distinct}",
            fix="choose a column with more distinct values",
        )


def _need_each_class(y: Any, k: int, what: str, step: str) -> None:
    _, counts = np.unique(np.asarray(y), return_counts=True)
    if len(counts) < 2:
        raise StepError(
            step,
            "the target has a single class",
            fix="a classifier needs at least two classes in the data",
        )
    if counts.min() < k:
        raise StepError(
            step,
            f"{what} needs at least {k} rows of every class; the rarest has {counts.min()}",
            fix="use fewer folds, more data, or split.method: random",
        )
