"""The `monitor:` section: what loads with which defaults, and what each mistake is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.project import ProjectFileError, load_project, parse_project_text
from weir.project.monitor_config import MonitorConfig

FILE = Path("weir.yaml")
PROJECT = """\
name: p
sources:
  sales: {format: csv, path: sales.csv}
  labels: {format: csv, path: labels.csv}
ml:
  quick:
    table: sales
    target: y
    task: classification
    features: {numeric: [v]}
"""


def monitor(text: str) -> MonitorConfig:
    parsed = parse_project_text(f"name: p\nmonitor:\n  quick:\n{text}", FILE, {})
    return parsed.monitor["quick"]


def problems(text: str) -> list[str]:
    with pytest.raises(ProjectFileError) as info:
        monitor(text)
    return [p.render(FILE) for p in info.value.problems]


def loaded_problems(tmp_path: Path, section: str) -> list[str]:
    (tmp_path / "weir.yaml").write_text(PROJECT + section)
    with pytest.raises(ProjectFileError) as info:
        load_project(tmp_path)
    return [p.render(tmp_path / "weir.yaml") for p in info.value.problems]


def test_an_empty_monitor_has_every_default() -> None:
    loaded = monitor("    {}\n")
    assert (loaded.reference, loaded.current) == ("training", "predictions")
    assert loaded.window.seconds == 86_400 and loaded.window.rows is None
    assert loaded.drift.budget == 0.05 and loaded.drift.output and loaded.drift.min_effect == {}
    assert loaded.labels is None and loaded.performance.max_drop == 0.05
    assert (loaded.alerts.raise_after, loaded.alerts.clear_after) == (1, 2)
    assert loaded.alerts.log and loaded.alerts.webhook is None


def test_row_windows_and_floors_load() -> None:
    loaded = monitor("    window: {rows: 500}\n    drift: {min_effect: {wasserstein_iqr: 0.1}}\n")
    assert loaded.window.rows == 500 and loaded.window.seconds is None
    assert loaded.drift.min_effect == {"wasserstein_iqr": 0.1}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("    window: {rows: 100, every: 1d}\n", "not both"),
        ("    window: {every: 3 days}\n", "not a window length"),
        ("    window: {rows: 5}\n", "greater than or equal to 30"),
        ("    drift: {budget: 0.7}\n", "less than 0.5"),
        ("    drift: {min_effect: {wasserstein_iqr: -1}}\n", "0 or more"),
        ("    drift: {min_effect: {wasserstein: 0.1}}\n", "wasserstein_iqr"),
        ("    reference: 'sales@x'\n", "not a table name"),
        ("    current: sales@3\n", "without @VERSION"),
        ("    alerts: {webhook: {url: 'ftp://x'}}\n", "http:// or https://"),
        ("    alerts: {raise_after: 0}\n", "greater than or equal to 1"),
        ("    windows: {rows: 100}\n", "windows"),
    ],
)
def test_each_mistake_is_named(text: str, said: str) -> None:
    found = problems(text)
    assert any(said in problem for problem in found), found


def test_a_monitor_names_a_model_and_tables_of_the_project(tmp_path: Path) -> None:
    found = loaded_problems(
        tmp_path,
        "monitor:\n  quik: {}\n  quick:\n    reference: sale\n    labels: {table: label}\n",
    )
    text = "\n".join(found)
    assert "monitor.quik" in text and "no model 'quik'" in text and "quick" in text
    assert "monitor.quick.reference" in text and "sales" in text
    assert "monitor.quick.labels.table" in text and "labels" in text


def test_a_valid_monitor_loads_with_its_project(tmp_path: Path) -> None:
    (tmp_path / "weir.yaml").write_text(
        PROJECT
        + "monitor:\n  quick:\n    reference: sales@2\n    labels: {table: labels, key: rid}\n"
    )
    loaded = load_project(tmp_path).config.monitor["quick"]
    assert loaded.reference == "sales@2" and loaded.labels is not None
    assert loaded.labels.key == "rid" and loaded.labels.log_key == "request_id"
