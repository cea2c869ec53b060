"""Model details are typed and versioned: what catalogs hold today (version 1, no
schema_version key) reads and is migrated in memory; a newer version is refused with the
fix; unknown keys are refused when Weir builds details and kept when it reads them.

The version-1 records in details_v1/ are copied verbatim from real catalogs made by the
Weir before typed details: `weir demo` (demo_fraud: LightGBM, tuned, float32 graph) and
the houses project of tests/e2e/test_learn_cli.py with `quick` set to
`export: {quantize: true, max_metric_drop: 1.0}` and `district: {unknown: error}`
(houses_quick: int8 graph, known categories, MLflow; houses_price: regression, CV).
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from weir.catalog import (
    DETAILS_SCHEMA_VERSION,
    ArtifactRef,
    Catalog,
    MlflowRun,
    ModelDetails,
    ModelDetailsError,
    ServingSpec,
)
from weir.core.errors import CatalogError, ConfigError

V1 = Path(__file__).parent / "details_v1"


def stored_v1(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((V1 / f"{name}.json").read_text())
    assert "schema_version" not in loaded  # the format before typed details
    return loaded


def test_a_version_1_record_reads_with_its_served_graph_and_features() -> None:
    raw = stored_v1("demo_fraud")
    details = ModelDetails.from_stored(raw, "model fraud v1")
    assert details.schema_version == DETAILS_SCHEMA_VERSION
    serving = details.serving
    assert serving is not None and details.onnx is not None
    assert serving.graph.as_tuple() == (raw["onnx"]["path"], raw["onnx"]["sha256"])
    assert serving.quantized is False and serving.task == "classification"
    assert serving.features == raw["config"]["features"]
    assert serving.inputs == raw["serving"]["inputs"] and serving.classes == [0, 1]
    assert serving.threshold == raw["serving"]["threshold"]
    assert details.onnx.parity.rows == raw["onnx"]["parity"]["rows"]
    assert details.cv["pr_auc"].mean == raw["cv"]["pr_auc"]["mean"]
    assert details.tuning is not None and details.tuning.trials == raw["tuning"]["trials"]
    assert details.tuning.best_cv["roc_auc"].std == raw["tuning"]["best_cv"]["roc_auc"]["std"]
    assert details.resolved_params == raw["resolved_params"]
    assert details.confusion_matrix == raw["confusion_matrix"]
    assert details.report is not None and details.report.path == raw["report"]["path"]
    assert details.git is not None and details.git.repository is False
    assert details.mlflow is None


def test_a_version_1_int8_record_serves_its_int8_twin() -> None:
    raw = stored_v1("houses_quick")
    details = ModelDetails.from_stored(raw, "model quick v1")
    assert details.serving is not None and details.onnx is not None
    assert details.serving.quantized is True
    twin = raw["onnx"]["quantized"]
    assert details.serving.graph.as_tuple() == (twin["path"], twin["sha256"])
    assert details.serving.known_categories == raw["serving"]["known_categories"]
    assert details.onnx.quantization is not None and details.onnx.quantization.used is True
    assert [ref.path for ref in details.files()] == [
        raw["onnx"]["path"],
        twin["path"],
        raw["report"]["path"],
    ]
    assert details.mlflow == MlflowRun(**raw["mlflow"])
    assert details.git is not None and details.git.commit == raw["git"]["commit"]


@pytest.mark.parametrize("name", ["demo_fraud", "houses_quick", "houses_price"])
def test_a_migrated_record_stores_as_the_current_version_and_reads_back_equal(name: str) -> None:
    details = ModelDetails.from_stored(stored_v1(name), f"model {name} v1")
    stored = json.loads(json.dumps(details.to_stored()))  # through JSON, as the catalog keeps it
    assert stored["schema_version"] == DETAILS_SCHEMA_VERSION
    assert ModelDetails.from_stored(stored, f"model {name} v1") == details


def test_nan_scores_survive_storing() -> None:
    raw = stored_v1("houses_price")
    raw["cv"]["r2"] = {"mean": float("nan"), "std": 0.0}
    details = ModelDetails.from_stored(raw, "model price v1")
    again = ModelDetails.from_stored(json.loads(json.dumps(details.to_stored())), "price v1")
    assert math.isnan(again.cv["r2"].mean)


def test_empty_details_read_as_empty() -> None:
    for stored in (None, {}):
        details = ModelDetails.from_stored(stored, "model fraud v1")
        assert details == ModelDetails() and details.serving is None and details.files() == []


def test_a_newer_schema_version_is_refused_with_the_fix() -> None:
    raw = {**stored_v1("demo_fraud"), "schema_version": DETAILS_SCHEMA_VERSION + 1}
    with pytest.raises(ModelDetailsError) as caught:
        ModelDetails.from_stored(raw, "model fraud v7")
    assert isinstance(caught.value, CatalogError)
    assert "model fraud v7" in caught.value.message and "newer Weir" in caught.value.message
    assert caught.value.fix is not None and "upgrade Weir" in caught.value.fix


@pytest.mark.parametrize("version", ["2", 0, True, 1.5])
def test_a_schema_version_that_is_no_version_is_refused(version: Any) -> None:
    with pytest.raises(ModelDetailsError, match="invalid schema_version"):
        ModelDetails.from_stored({"schema_version": version}, "model fraud v1")


def test_details_that_do_not_fit_name_the_field() -> None:
    raw = stored_v1("demo_fraud")
    raw["serving"]["task"] = "ranking"
    with pytest.raises(ModelDetailsError, match=r"model fraud v1: .*serving\.task") as caught:
        ModelDetails.from_stored(raw, "model fraud v1")
    assert caught.value.fix is not None and "retrain" in caught.value.fix


def test_unknown_keys_are_refused_when_built_in_code() -> None:
    with pytest.raises(ValidationError, match="unknown field"):
        ModelDetails(reprot=ArtifactRef(path="r.html", sha256="x"))  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="unknown field"):
        ArtifactRef(path="a", sha256="b", size=3)  # type: ignore[call-arg]


def test_unknown_keys_are_kept_when_read_and_written_back() -> None:
    raw = stored_v1("houses_quick")
    raw["reviewed_by"] = "ana"
    raw["serving"]["note"] = {"added": "by hand"}
    details = ModelDetails.from_stored(raw, "model quick v1")
    assert details.model_extra == {"reviewed_by": "ana"}
    stored = details.to_stored()
    assert stored["reviewed_by"] == "ana" and stored["serving"]["note"] == {"added": "by hand"}
    assert ModelDetails.from_stored(stored, "model quick v1") == details


def register(catalog: Catalog, details: ModelDetails | None = None) -> None:
    catalog.register_model_version(
        "quick",
        task="classification",
        algorithm="logistic_regression",
        metrics={"roc_auc": 0.5},
        params={},
        seed=1,
        features={},
        artifact_path="models/quick/1.skops",
        artifact_sha256="1" * 64,
        environment={},
        run_id=None,
        step_run_id=None,
        trained_on=[],
        details=details,
    )


def test_a_catalog_holding_version_1_details_serves_and_extends_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = Catalog.open(url)
    register(catalog)
    raw = stored_v1("houses_quick")
    with sqlite3.connect(tmp_path / "catalog.db") as db:  # as the Weir before wrote it
        db.execute("UPDATE model_versions SET details = ?", (json.dumps(raw),))
    record = catalog.model_version("quick", 1)
    twin = raw["onnx"]["quantized"]
    assert record.served_graph() == record.graph_to_serve() == (twin["path"], twin["sha256"])
    assert isinstance(record.serving_spec(), ServingSpec)
    assert len(record.files()) == 4  # model, float32 graph, int8 graph, report

    report = ArtifactRef(path="reports/quick/new.html", sha256="f" * 64)
    extended = catalog.add_details("quick", 1, report=report)
    assert extended.report == report and extended.serving == record.details.serving
    with sqlite3.connect(tmp_path / "catalog.db") as db:
        (text,) = db.execute("SELECT details FROM model_versions").fetchone()
    assert json.loads(text)["schema_version"] == DETAILS_SCHEMA_VERSION
    assert catalog.model_version("quick", 1).details == extended
    catalog.close()


def test_a_catalog_record_of_a_newer_weir_is_refused_when_read(tmp_path: Path) -> None:
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    register(catalog)
    with sqlite3.connect(tmp_path / "catalog.db") as db:
        db.execute("UPDATE model_versions SET details = '{\"schema_version\": 99}'")
    with pytest.raises(ModelDetailsError, match=r"model quick v1: .*newer Weir"):
        catalog.model_version("quick", 1)
    catalog.close()


def test_a_version_without_export_is_refused_for_serving(tmp_path: Path) -> None:
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    register(catalog, ModelDetails(resolved_params={"C": 1.0}))
    record = catalog.model_version("quick", 1)
    assert record.served_graph() is None and record.details.resolved_params == {"C": 1.0}
    with pytest.raises(ConfigError, match="quick v1 has no ONNX export"):
        record.graph_to_serve()
    catalog.close()
