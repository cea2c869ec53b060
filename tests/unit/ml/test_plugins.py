"""An algorithm from an installed package, found through the `weir.algorithms` entry point."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from weir.core import ConfigError
from weir.ml.algorithms import algorithms, trusted_types
from weir.ml.train import train
from weir.project.ml_config import TrainConfig
from weir.registry import ArtifactStore

PLUGIN = """
from sklearn.linear_model import Ridge
from weir.ml import Algorithm

ALGORITHM = Algorithm("ridge", {"regression": lambda seed: Ridge(random_state=seed)})
NOT_AN_ALGORITHM = 42
"""


def install(root: Path, entry: str) -> None:
    """A real (tiny) distribution on sys.path: importlib.metadata finds its entry points."""
    (root / "weir_ridge_plugin.py").write_text(PLUGIN)
    info = root / "weir_ridge_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: weir-ridge-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[weir.algorithms]\n{entry}\n")


def test_a_plugin_algorithm_trains_and_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path, "ridge = weir_ridge_plugin:ALGORITHM")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "ridge" in algorithms()
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    table = pa.table({"x": x, "y": 2 * x + rng.normal(scale=0.1, size=500)})
    spec = TrainConfig.model_validate(
        {
            "table": "t",
            "target": "y",
            "task": "regression",
            "algorithm": "ridge",
            "params": {"alpha": 0.5},
            "features": {"numeric": ["x"]},
        }
    )
    trained = train(table, spec, "ml.m")
    assert trained.metrics["r2"] > 0.95 and trained.params["alpha"] == 0.5
    store = ArtifactStore(tmp_path / "artifacts")
    stored = store.save_model("m", trained.pipeline)
    assert store.load(stored.relative, stored.sha256, trusted_types("ridge")).predict(
        trained.evaluation.x
    ).shape == (100,)  # type: ignore[union-attr]


def test_an_entry_point_that_is_not_an_algorithm_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path, "broken = weir_ridge_plugin:NOT_AN_ALGORITHM")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"weir\.algorithms:broken is not a weir\.ml\.Algorithm"):
        algorithms()
