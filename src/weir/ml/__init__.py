"""Machine learning: one fitted scikit-learn pipeline per model, seeded, tuned and evaluated."""

from weir.ml.algorithms import Algorithm, algorithms, make_estimator
from weir.ml.features import prepare_frame
from weir.ml.metrics import evaluate
from weir.ml.train import (
    TrainedModel,
    build_pipeline,
    environment,
    predictions,
    prepare,
    train,
)

__all__ = [
    "Algorithm",
    "TrainedModel",
    "algorithms",
    "build_pipeline",
    "environment",
    "evaluate",
    "make_estimator",
    "predictions",
    "prepare",
    "prepare_frame",
    "train",
]
