"""Machine learning: one fitted scikit-learn pipeline per model, seeded, tuned and evaluated.

The names below load on first use (PEP 562): importing a light module of this package, as
the server does (`weir.ml.rows`, `weir.ml.decision`, `weir.ml.onnx_export`), must not
import scikit-learn, which the training modules need and which takes about a second.
`train` and `algorithms` are not among them: they are also the names of submodules, which
would shadow a lazily loaded function; import them from `weir.ml.train` and
`weir.ml.algorithms`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weir.ml.algorithms import Algorithm, make_estimator
    from weir.ml.features import prepare_frame
    from weir.ml.metrics import evaluate
    from weir.ml.train import TrainedModel, build_pipeline, environment, predictions, prepare

_HOMES = {
    "Algorithm": "weir.ml.algorithms",
    "make_estimator": "weir.ml.algorithms",
    "prepare_frame": "weir.ml.features",
    "evaluate": "weir.ml.metrics",
    "TrainedModel": "weir.ml.train",
    "build_pipeline": "weir.ml.train",
    "environment": "weir.ml.train",
    "predictions": "weir.ml.train",
    "prepare": "weir.ml.train",
}

__all__ = [
    "Algorithm",
    "TrainedModel",
    "build_pipeline",
    "environment",
    "evaluate",
    "make_estimator",
    "predictions",
    "prepare",
    "prepare_frame",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'weir.ml' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # looked up once
    return value
