"""The pure parts of retraining: the policy's settings, the state it keeps, which promotion
a retrain made and what it replaced, which rows a version trained on, which comparison
decides, and the gates."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from weir.app.retraining_compare import Comparison, not_trained_on
from weir.app.retraining_data import label_text, row_keys, seen_in
from weir.app.retraining_gates import (
    Gate,
    deciding,
    margin_gate,
    parity_gate,
    pii_gate,
    pii_warnings,
    verdict,
)
from weir.app.retraining_policy import RetrainState, last_promotion
from weir.app.retraining_record import comparison_measures
from weir.catalog import ModelDetails, StageMove
from weir.project.monitor_config import MonitorConfig, RetrainConfig

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _move(minutes: int, version: int, before: str, after: str, reason: str = "") -> StageMove:
    return StageMove(version, before, after, reason, T0 + timedelta(minutes=minutes))


# settings ------------------------------------------------------------------------------------


def test_retrain_defaults_and_the_rollback_tolerance() -> None:
    config = RetrainConfig()
    assert config.when == ["drift", "performance"] and config.margin == 0.01
    assert config.tolerance == 0.01
    assert RetrainConfig(margin=-0.5).tolerance == 0.5  # accepted that much worse: no less
    assert RetrainConfig(margin=-10, rollback_margin=0.05).tolerance == 0.05
    assert RetrainConfig(when=["labels", "drift", "labels"]).when == ["labels", "drift"]


def test_retrain_settings_are_strict() -> None:
    with pytest.raises(ValidationError):
        RetrainConfig.model_validate({"when": ["schedule"]})
    with pytest.raises(ValidationError):
        RetrainConfig.model_validate({"on": ["drift"]})
    with pytest.raises(ValidationError):  # YAML 1.1 reads a bare `on:` key as true
        RetrainConfig.model_validate({True: ["drift"]})
    with pytest.raises(ValidationError):
        RetrainConfig(min_rows=3)
    assert MonitorConfig().retrain is None
    assert MonitorConfig.model_validate({"retrain": {}}).retrain == RetrainConfig()


def test_the_state_remembers_incidents_once_each_and_the_newest_hundred() -> None:
    state = RetrainState().after(["a", "b"], T0).after(["a"], T0 + timedelta(hours=1))
    assert state.answered == ["b", "a"] and state.labels_since == T0 + timedelta(hours=1)
    many = RetrainState().after([str(i) for i in range(150)], T0)
    assert many.answered == [str(i) for i in range(50, 150)]
    assert RetrainState.model_validate_json(many.model_dump_json()) == many


# promotions ----------------------------------------------------------------------------------


def test_a_promotion_knows_the_version_it_replaced() -> None:
    history = [
        _move(0, 1, "candidate", "production", "first deployment"),
        _move(1, 2, "candidate", "staging", "challenger"),
        _move(2, 2, "staging", "production", "retrain: beat v1"),
        _move(2, 1, "production", "archived", "replaced by v2"),
    ]
    found = last_promotion(history, 2)
    assert found is not None and found.predecessor == 1 and found.by_retrain
    first = last_promotion(history, 1)
    assert first is not None and first.predecessor is None and not first.by_retrain
    assert last_promotion(history, 3) is None


def test_the_last_promotion_counts_and_a_withdrawn_champion_leaves_no_predecessor() -> None:
    history = [
        _move(0, 1, "candidate", "production"),
        _move(1, 2, "candidate", "production", "retrain: x"),
        _move(1, 1, "production", "archived", "replaced by v2"),
        _move(2, 1, "archived", "production", "rollback: y"),
        _move(2, 2, "production", "archived", "replaced by v1"),
        _move(3, 1, "production", "archived", "withdrawn"),
        _move(4, 3, "candidate", "production", "retrain: z"),
    ]
    again = last_promotion(history, 1)
    assert again is not None and again.predecessor == 2 and not again.by_retrain
    third = last_promotion(history, 3)
    assert third is not None and third.predecessor is None
    assert third.key == "v3 promoted 2026-12-01T00:04:00.000000Z"


# rows a version trained on -------------------------------------------------------------------


def test_rows_are_matched_on_content_after_casting_to_the_training_types() -> None:
    trained = pa.table({"v": pa.array([1.5, 2.0, None]), "city": ["a", "b", "c"], "y": [1, 0, 1]})
    logged = pa.table(
        {
            "v": pa.array([1.5, 2, None, 1.5]),
            "city": ["a", "b", "c", "b"],
            "y": ["1", "0", "1", "1"],
        }
    )
    found = seen_in(logged, ["v", "city", "y"], [trained])
    assert found is not None and found.tolist() == [True, True, True, False]
    assert seen_in(logged, ["v", "city", "y"], []).tolist() == [False] * 4  # type: ignore[union-attr]


def test_rows_that_cannot_be_compared_say_so() -> None:
    trained = pa.table({"v": pa.array([1, 2], pa.int64())})
    assert seen_in(pa.table({"v": ["x", "1"]}), ["v"], [trained]) is None  # does not cast
    assert seen_in(pa.table({"w": [1]}), ["v"], [trained]) is None  # a column missing
    assert row_keys(trained, [], {}) is None


def test_a_separator_in_a_value_does_not_make_two_rows_equal() -> None:
    types = {"a": pa.string(), "b": pa.string()}
    one = row_keys(pa.table({"a": ["x"], "b": ["y"]}), ["a", "b"], types)
    null = row_keys(pa.table({"a": pa.array([None], pa.string()), "b": ["y"]}), ["a", "b"], types)
    empty = row_keys(pa.table({"a": [""], "b": ["y"]}), ["a", "b"], types)
    assert one is not None and null is not None and empty is not None
    assert len({one[0].as_py(), null[0].as_py(), empty[0].as_py()}) == 3


def test_labels_compare_as_the_classes_are_written() -> None:
    assert label_text(pa.array([1.0, 0.0, None])).tolist() == ["1", "0", None]
    assert label_text(pa.array([True, False])).tolist() == [str(True), str(False)]
    assert label_text(pa.chunked_array([["a"], ["b"]])).tolist() == ["a", "b"]


# which comparison decides, and the gates -----------------------------------------------------


def _compared(
    kind: str, rows: int, first: float, second: float, metric: str = "accuracy"
) -> Comparison:
    return Comparison(kind, metric, 50, rows=rows, first=first, second=second, where=kind)  # type: ignore[arg-type]


def test_the_recent_window_decides_when_it_has_enough_rows() -> None:
    held, recent = _compared("held-out", 200, 0.5, 0.9), _compared("recent", 60, 0.7, 0.6)
    assert deciding([held, recent]) is recent
    assert deciding([held, _compared("recent", 49, 0.7, 0.6)]) is held
    assert deciding([_compared("held-out", 10, 0.5, 0.9)]) is None
    undefined = _compared("recent", 60, math.nan, 0.6)
    assert not undefined.decided and "undefined" in undefined.undecided_reason()
    assert deciding([held, undefined]) is held


def test_the_margin_is_read_the_way_the_metric_goes() -> None:
    assert margin_gate([_compared("held-out", 60, 0.80, 0.82)], 0.01).passed is True
    assert margin_gate([_compared("held-out", 60, 0.80, 0.805)], 0.01).passed is False
    assert margin_gate([_compared("held-out", 60, 0.80, 0.78)], -0.05).passed is True
    lower = [_compared("held-out", 60, 3.0, 2.5, metric="rmse")]
    assert margin_gate(lower, 0.4).passed is True and margin_gate(lower, 0.6).passed is False
    unknown = margin_gate([_compared("held-out", 10, 0.5, 0.9)], 0.01)
    assert unknown.passed is None and "10 rows, needs 50" in unknown.detail


def test_a_failed_gate_refuses_whatever_the_others_say() -> None:
    passed, failed, unknown = (
        Gate("margin", True, "won"),
        Gate("pii", False, "new"),
        Gate("margin", None, "few"),
    )
    assert verdict([passed, Gate("onnx parity", True, "ok")]) == ("promoted", "margin: won")
    assert verdict([unknown, failed]) == ("refused", "pii: new")
    assert verdict([unknown, Gate("pii", True, "none")]) == ("undecided", "margin: few")


def test_parity_and_pii_gates() -> None:
    assert parity_gate(3, ModelDetails()).passed is False
    origins = {
        "classified_origins": [
            {"feature": "city", "source": "raw.city", "class": "pii", "action": "keep"},
            {"feature": "zip", "source": "raw.zip", "class": "pii", "action": "pseudonymise"},
        ]
    }
    assert len(pii_warnings(origins)) == 1
    assert pii_gate({}, origins).passed is False
    assert pii_gate(origins, origins).passed is True
    assert pii_gate(origins, {}).passed is True


def test_measures_name_both_versions_and_the_bar() -> None:
    own, other = comparison_measures(_compared("recent", 60, 0.8, 0.75), "v1", "v2", -0.1)
    assert (own.name, own.value, own.bad) == ("v1", 0.8, False)
    assert other.threshold == pytest.approx(0.7) and not other.bad and other.rows == 60
    assert comparison_measures(_compared("recent", 60, math.nan, 0.5), "a", "b", 0.0) == ()
    assert np.isclose(
        comparison_measures(_compared("recent", 9, 1.0, 0.5), "a", "b", 0.0)[1].threshold, 1.0
    )


# the leakage rule on logged answers ----------------------------------------------------------


def _logged(minutes: list[int], v: list[float], y: list[int]) -> pa.Table:
    times = [T0 + timedelta(minutes=m) for m in minutes]
    return pa.table(
        {
            "logged_at": pa.array(times, pa.timestamp("us", tz="UTC")),
            "v": v,
            "label_true": y,
        }
    )


def test_answers_logged_after_the_training_data_count_whatever_they_hold() -> None:
    trained = pa.table({"v": [1.0, 2.0], "y": [1, 0]})
    logged = _logged([10, 20], [1.0, 2.0], [1, 0])  # equal to training rows, but later
    kept, said = not_trained_on(logged, ["v"], "y", made=T0, trained=[trained], source="sales@3")
    assert kept.num_rows == 2 and said == ""


def test_answers_logged_before_count_only_when_no_version_trained_on_them() -> None:
    challenger = pa.table({"v": [1.0], "y": [1]})
    champion = pa.table({"v": [3.0], "y": [0]})
    logged = _logged([-20, -10, -5, -1, 30], [1.0, 1.0, 3.0, 4.0, 3.0], [1, 0, 0, 1, 0])
    kept, said = not_trained_on(
        logged, ["v"], "y", made=T0, trained=[challenger, champion], source="sales@3"
    )
    # out: (1.0, 1) the challenger's and (3.0, 0) the champion's, both logged before;
    # in: the same inputs with another label, an unseen row, and a later copy
    assert kept.column("v").to_pylist() == [1.0, 4.0, 3.0]
    assert said == "2 labelled answers a version trained on left out"


def test_when_rows_cannot_be_compared_every_earlier_answer_is_left_out() -> None:
    trained = pa.table({"v": pa.array([1, 2], pa.int64()), "y": [1, 0]})
    logged = _logged([-1, 1], [1.5, 1.5], [1, 1])  # 1.5 does not cast to the int column
    kept, said = not_trained_on(logged, ["v"], "y", made=T0, trained=[trained], source="s@1")
    assert kept.num_rows == 1 and "1 labelled answers logged before s@1 was made" in said
