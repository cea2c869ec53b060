"""Tuning wall time with parallel trials: n_jobs=2 (reported as "weir") against n_jobs=1
("baseline"), same study, same data, same machine, interleaved.

Each trial fits LightGBM with one thread, so parallelism comes from trials, not from inside
one fit. A ratio below 1 means parallel trials pay off; on 2 cores the best possible is 0.5.

    python bench/tuning_jobs.py [--rows 60000] [--trials 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from harness import compare
from weir.ml.train import train
from weir.project.ml_config import TrainConfig


def data(rows: int) -> pa.Table:
    rng = np.random.default_rng(0)
    numbers = {f"x{i}": rng.normal(size=rows) for i in range(12)}
    colour = rng.choice(["red", "green", "blue", "grey"], rows)
    score = (
        numbers["x0"]
        + 0.5 * numbers["x1"] * numbers["x2"]
        + (colour == "red")
        + rng.normal(size=rows)
    )
    return pa.table(numbers | {"colour": colour, "y": (score > 1.2).astype(np.int64)})


def spec(jobs: int, trials: int) -> TrainConfig:
    config: dict[str, Any] = {
        "table": "t",
        "target": "y",
        "task": "classification",
        "features": {"numeric": [f"x{i}" for i in range(12)], "categorical": ["colour"]},
        "algorithm": "lightgbm",
        "params": {"n_estimators": 150, "n_jobs": 1},
        "cv": {"folds": 3},
        "tune": {
            "method": "random",
            "trials": trials,
            "n_jobs": jobs,
            "pruning": False,
            "space": {
                "learning_rate": {"low": 0.02, "high": 0.3, "log": True},
                "num_leaves": [15, 31, 63],
            },
        },
    }
    return TrainConfig.model_validate(config)


def tune(table: pa.Table, jobs: int, trials: int) -> None:
    with tempfile.TemporaryDirectory() as directory:  # a fresh study every time
        url = f"sqlite:///{Path(directory) / 'studies.db'}"
        result = train(table, spec(jobs, trials), "ml.bench", storage_url=url, study_name="bench")
        assert result.tuning is not None and result.tuning.new_trials == trials


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    table = data(args.rows)
    print(
        f"tuning {args.trials} trials x 3 folds on {args.rows:,} rows (LightGBM, 1 thread per fit)"
    )
    result = compare(
        "tuning n_jobs=2 vs n_jobs=1",
        lambda: tune(table, 2, args.trials),
        lambda: tune(table, 1, args.trials),
        rounds=args.rounds,
    )
    print(result.report())
