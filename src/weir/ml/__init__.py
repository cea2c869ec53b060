"""Machine learning: one fitted scikit-learn pipeline per model, seeded and evaluated."""

from weir.ml.algorithms import ALGORITHMS, make_estimator
from weir.ml.metrics import evaluate
from weir.ml.train import TrainedModel, build_pipeline, environment, to_frame, train

__all__ = [
    "ALGORITHMS",
    "TrainedModel",
    "build_pipeline",
    "environment",
    "evaluate",
    "make_estimator",
    "to_frame",
    "train",
]
