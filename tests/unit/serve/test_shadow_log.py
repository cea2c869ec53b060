"""The prediction log with a shadow: the challenger's answers on the champion's rows in
typed `shadow_*` columns, a log from before the shadow gains them (and takes rows without
them again), and each commit names the challenger apart from the versions that answered."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from weir.serve.log import LogCommits, PredictionLog
from weir.serve.log_writer import to_table
from weir.serve.shadow import log_columns

KINDS = {"amount": "number", "channel": "category"}
INPUTS = '{"amount": 3.0, "channel": "web"}'
ANSWER = {"label": 1, "probability": 0.75}
COMMITS = LogCommits(
    {"weir.kind": "prediction_log"}, "weir.model_versions", "weir.commit", "weir.shadow_versions"
)


def write(path: Path, rows: list[tuple[str, int, dict[str, object] | None]], shadow: bool) -> None:
    columns = log_columns("classification") if shadow else None
    log = PredictionLog(path, KINDS, 10_000, 60, "m", 0, COMMITS, shadow_columns=columns)
    for request_id, version, fields in rows:
        log.add(request_id, version, INPUTS, ANSWER, 0.2, shadow=fields, logged_at=1_000_000)
    log.close()


def commits(path: Path) -> list[dict[str, str]]:
    history = sorted(DeltaTable(str(path)).history(), key=lambda entry: entry["version"])
    return [{k: v for k, v in e.items() if k.startswith("weir.")} for e in history]


def test_an_older_log_gains_the_shadow_columns_and_lineage_names_the_challenger_apart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m__predictions"
    write(path, [("old", 1, None)], shadow=False)
    answered = {
        "shadow_version": 2,
        "shadow_label": "0",
        "shadow_probability": 0.4,
        "shadow_latency_ms": 0.3,
    }
    write(
        path,
        [("a", 1, answered), ("b", 1, None), ("c", 1, {"shadow_skipped": "missing_input"})],
        shadow=True,
    )
    write(path, [("later", 1, None)], shadow=False)  # served without the shadow again
    table = DeltaTable(str(path)).to_pyarrow_table()
    rows = {r["request_id"]: r for r in table.to_pylist()}
    assert table.schema.field("shadow_version").type == pa.int64()
    assert table.schema.field("shadow_probability").type == pa.float64()
    assert table.schema.field("shadow_probabilities").type == pa.string()
    assert rows["a"]["shadow_label"] == "0" and rows["a"]["shadow_version"] == 2
    assert rows["a"]["label"] == "1" and rows["a"]["version"] == 1  # the champion's answer
    assert rows["c"]["shadow_skipped"] == "missing_input" and rows["c"]["shadow_version"] is None
    for untouched in ("old", "b", "later"):
        assert rows[untouched]["shadow_version"] is None
        assert rows[untouched]["shadow_skipped"] is None
    assert all(r["logged_at"].timestamp() == 1.0 for r in rows.values())
    first, shadowed, later = commits(path)
    assert [json.loads(c["weir.model_versions"]) for c in (first, shadowed, later)] == [[1]] * 3
    assert json.loads(shadowed["weir.shadow_versions"]) == [2]
    assert "weir.shadow_versions" not in first and "weir.shadow_versions" not in later


def test_a_flush_with_no_shadow_answer_has_the_columns_and_names_no_challenger(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log"
    write(path, [("a", 3, None), ("b", 3, {"shadow_skipped": "queue_full"})], shadow=True)
    table = DeltaTable(str(path)).to_pyarrow_table()
    assert set(log_columns("classification")) <= set(table.column_names)
    assert table.column("shadow_version").null_count == 2
    [commit] = commits(path)
    assert "weir.shadow_versions" not in commit


def test_the_answer_comes_before_the_shadow_columns_typed_whatever_the_lines_hold() -> None:
    lines = [
        b'{"logged_at": 1, "request_id": "a", "version": 1, "latency_ms": 0.1, '
        b'"prediction": 2.5, "input": {"amount": 1.0, "channel": "web"}}\n',
        b'{"logged_at": 1, "request_id": "b", "version": 1, "latency_ms": 0.1, '
        b'"prediction": 2.0, "shadow_version": 4, "shadow_prediction": 3, '
        b'"input": {"amount": 1.0, "channel": "web"}}\n',
    ]
    table = to_table(lines, "m", KINDS, log_columns("regression"))
    names = table.column_names
    assert names.index("prediction") < names.index("shadow_version")
    assert table.schema.field("shadow_prediction").type == pa.float64()  # 3, not an int
    assert table.column("shadow_prediction").to_pylist() == [None, 3.0]
    assert "shadow_version" not in to_table(lines[:1], "m", KINDS).column_names
