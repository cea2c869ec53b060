"""Learning as a user does it: a price model and a tuned classifier, reports, the registry's
stages, a reproduction, and MLflow logging read back with MLflow's own client."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from tests.e2e.conftest import Weir, statuses

pytestmark = pytest.mark.e2e

PROJECT = """\
name: houses
sources:
  sales:
    format: csv
    path: data/sales.csv
    columns: {sale_id: int64, sold_at: timestamp, area: float64, rooms: int64,
              district: string, listed_at: timestamp, price: float64, quick_sale: int64}
mlflow:
  tracking_uri: sqlite:///{mlflow_db}
ml:
  price:
    description: Sale price from the listing.
    table: sales
    target: price
    task: regression
    features:
      numeric: {area: {log: true}, rooms: {scale: robust}}
      categorical: {district: {unknown: most_frequent}}
      dates: {sold_at: {parts: [month], since: [listed_at]}}
    algorithm: hist_gradient_boosting
    params: {max_iter: 60}
    split: {method: time, column: sold_at, test_fraction: 0.25}
    cv: {folds: 3}
    card: {intended_use: Price guidance for agents., limitations: One synthetic city.}
  quick:
    table: sales
    target: quick_sale
    task: classification
    features:
      numeric: [area, rooms]
      categorical: [district]
    algorithm: logistic_regression
    split: {method: stratified}
    tune:
      method: random
      trials: 4
      space: {C: {low: 0.01, high: 10.0, log: true}}
    threshold: {metric: f1}
"""


def write_project(root: Path, rows: int = 1500, *, mlflow: bool = True) -> None:
    """The houses project with `rows` sales; without `mlflow`, training logs to no MLflow
    (whose first use of a database is seconds of migrations)."""
    rng = np.random.default_rng(4)
    (root / "data").mkdir(parents=True)
    districts = ["north", "south", "harbour", "old_town"]
    with (root / "data" / "sales.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["sale_id", "sold_at", "area", "rooms", "district", "listed_at", "price", "quick_sale"]
        )
        for i in range(rows):
            area = float(rng.uniform(30, 200))
            rooms = int(area // 30) + int(rng.integers(0, 2))
            district = districts[int(rng.integers(0, 4))]
            days_listed = int(rng.integers(1, 120))
            premium = {"north": 1.0, "south": 0.8, "harbour": 1.4, "old_town": 1.2}[district]
            price = area * 3000 * premium * float(rng.lognormal(0, 0.1)) - days_listed * 200
            month = 1 + i * 12 // rows
            out.writerow(
                [
                    i,
                    f"2025-{month:02d}-15T12:00:00Z",
                    f"{area:.1f}",
                    rooms,
                    district,
                    "2024-12-01T00:00:00Z",
                    f"{price:.0f}",
                    int(days_listed < 30),
                ]
            )
    text = PROJECT.replace("{mlflow_db}", str(root / "mlflow.db"))
    if not mlflow:
        text = text.replace(f"mlflow:\n  tracking_uri: sqlite:///{root / 'mlflow.db'}\n", "")
        assert "mlflow" not in text
    (root / "weir.yaml").write_text(text)


def test_train_report_promote_compare_rollback_reproduce(weir: Weir, tmp_path: Path) -> None:
    project = tmp_path / "houses"
    write_project(project)
    first = weir("train", cwd=project)
    assert statuses(first.stdout) == {
        "source:sales": "succeeded",
        "train:price": "succeeded",
        "train:quick": "succeeded",
    }, first.stdout

    shown = weir("models", "price", cwd=project).stdout  # short for `models show price`
    r2 = float(re.search(r'"r2": ([0-9.]+)', shown).group(1))  # type: ignore[union-attr]
    assert r2 > 0.7, shown
    assert "cross-validation: mse" in shown and "report: .weir/artifacts/reports/price/" in shown
    assert "mlflow run" in shown

    report = project / weir("models", "report", "price", cwd=project).stdout.strip()
    html = report.read_text()
    for part in (
        "Model card",
        "Price guidance for agents.",
        "Predicted vs actual",
        "Residuals",
        "Permutation importance",
        "sales@0",
        "weir train --reproduce price@1",
    ):
        assert part in html, part
    assert "<script" not in html and 'src="http' not in html  # one self-contained file

    quick = weir("models", "-p", str(project), "quick").stdout  # group option first
    assert "tuning: random on roc_auc: 4 trials" in quick and "decision_threshold" in quick

    # nothing changed: nothing retrains; --force makes a second version
    assert set(statuses(weir("train", "price", cwd=project).stdout).values()) == {"skipped"}
    forced = weir("train", "price", "--force", cwd=project).stdout
    assert statuses(forced)["train:price"] == "succeeded" and "train:quick" not in statuses(forced)

    weir("models", "promote", "price@1", cwd=project)
    promoted = weir("models", "promote", "price@2", "--reason", "fresher", cwd=project).stdout
    assert "price v2: candidate -> production (fresher)" in promoted
    assert "price v1: production -> archived" in promoted
    compared = weir("models", "compare", "price@1", "2", cwd=project).stdout
    assert "test r2" in compared and "+0.0000" in compared and "stage*" in compared
    rolled = weir("models", "rollback", "price", cwd=project).stdout
    assert "price v1: archived -> production" in rolled
    history = weir("models", "history", "price", cwd=project).stdout
    assert history.count("production") >= 4

    reproduced = weir("train", "--reproduce", "price@1", cwd=project)
    assert "reproduced price v1: identical predictions" in reproduced.stdout
    assert "matches the recorded digest" in reproduced.stdout

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("houses")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    price_runs = [r for r in runs if r.data.tags.get("weir.model") == "price"]
    assert len(price_runs) == 2
    assert price_runs[0].data.params["param.max_iter"] == "60"
    assert 0.7 < price_runs[0].data.metrics["test_r2"] == pytest.approx(r2, abs=5e-4)
    assert "cv_r2_mean" in price_runs[0].data.metrics
    artifacts = [a.path for a in client.list_artifacts(price_runs[0].info.run_id, "weir")]
    assert artifacts and artifacts[0].endswith(".html")


def test_a_tampered_model_is_not_loaded(weir: Weir, tmp_path: Path) -> None:
    project = tmp_path / "houses"
    write_project(project, rows=300, mlflow=False)
    weir("train", "price", cwd=project)
    artifact = next((project / ".weir" / "artifacts" / "models" / "price").glob("*.skops"))
    artifact.write_bytes(artifact.read_bytes()[:-10] + b"0123456789")
    result = weir("train", "--reproduce", "price@1", cwd=project, check=False)
    assert result.returncode == 1 and "checksum" in result.stderr


def test_cli_mistakes_are_named(weir: Weir, tmp_path: Path) -> None:
    project = tmp_path / "houses"
    write_project(project, rows=300)
    assert "no model 'prise' in ml:" in weir("train", "prise", cwd=project, check=False).stderr
    assert "as MODEL@VERSION" in weir("models", "promote", "price", cwd=project, check=False).stderr
    assert (
        "no model 'price' in the registry"
        in weir("models", "rollback", "price", cwd=project, check=False).stderr
    )
