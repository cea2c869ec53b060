"""Late labels join the logged answers of their key; every label row that does not join is
counted, and labels that cannot be compared are refused with the place and the fix."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.core.errors import MonitorError
from weir.monitor.labels import LABEL_TRUE, comparable_labels, join_labels


def _log(keys: list[object], key_type: pa.DataType | None = None) -> pa.Table:
    return pa.table(
        {
            "request_id": pa.array(keys, key_type),
            "label": pa.array([str(i % 2) for i in range(len(keys))]),
        }
    )


def _labels(
    keys: list[object], values: list[object], key_type: pa.DataType | None = None
) -> pa.Table:
    return pa.table({"rid": pa.array(keys, key_type), "y": pa.array(values)})


def _join(log: pa.Table, labels: pa.Table):  # type: ignore[no-untyped-def]
    return join_labels(log, labels, log_key="request_id", labels_key="rid", label_column="y")


def test_labels_join_their_answers_in_log_order() -> None:
    log = _log(["a", "b", "c", "d", "e"])
    result = _join(log, _labels(["d", "b", "a"], [1, 0, 1]))
    assert result.joined.column("request_id").to_pylist() == ["a", "b", "d"]
    assert result.joined.column(LABEL_TRUE).to_pylist() == [1, 0, 1]
    assert result.joined.column("label").to_pylist() == ["0", "1", "1"]  # the log's columns stay
    assert (result.log_rows, result.labelled, result.unlabelled) == (5, 3, 2)
    assert (result.unknown_keys, result.duplicate_keys, result.null_keys) == (0, 0, 0)
    assert result.key_note is None


def test_a_key_shared_by_several_answers_labels_each() -> None:
    result = _join(_log(["o1", "o2", "o1"]), _labels(["o1"], ["yes"]))
    assert result.labelled == 2
    assert result.joined.column(LABEL_TRUE).to_pylist() == ["yes", "yes"]


def test_labels_for_unknown_keys_are_counted_with_five_examples_in_table_order() -> None:
    keys = ["a", "x1", "x2", "x3", "x4", "x5", "x6", "x7"]
    result = _join(_log(["a", "b"]), _labels(keys, [1] * len(keys)))
    assert result.labelled == 1
    assert result.unknown_keys == 7
    assert result.unknown_examples == ("x1", "x2", "x3", "x4", "x5")


def test_a_key_labelled_twice_alike_is_counted_and_used_once() -> None:
    result = _join(_log(["a", "b"]), _labels(["a", "b", "a", "a"], [1, 0, 1, 1]))
    assert result.duplicate_keys == 1
    assert result.labelled == 2
    assert result.joined.column(LABEL_TRUE).to_pylist() == [1, 0]


def test_a_key_labelled_twice_differently_is_refused_with_examples_and_the_fix() -> None:
    labels = _labels(["a", "b", "a", "c", "c"], [1, 0, 0, 1, 0])
    with pytest.raises(MonitorError) as caught:
        join_labels(
            _log(["a", "b", "c"]),
            labels,
            log_key="request_id",
            labels_key="rid",
            label_column="y",
            labels_where="table 'chargebacks'",
        )
    error = caught.value
    assert "table 'chargebacks'" in error.message
    assert "2 keys are labelled more than once with different values of 'y'" in error.message
    assert "'a': 1 / 0" in error.message and "'c': 1 / 0" in error.message
    assert error.fix is not None and "deduplicate" in error.fix and "which" in error.fix


def test_rows_without_a_key_or_without_a_label_are_counted_not_joined() -> None:
    labels = _labels(["a", None, "b", "c", None], [1.0, 0.0, None, float("nan"), None])
    result = _join(_log(["a", "b", "c"]), labels)
    assert result.null_keys == 2
    assert result.null_labels == 2  # null and NaN: no label yet
    assert result.joined.column("request_id").to_pylist() == ["a"]


def test_a_null_key_in_the_log_matches_nothing() -> None:
    result = _join(_log(["a", None]), _labels(["a"], [1]))
    assert result.labelled == 1 and result.log_rows == 2
    untyped = _join(_log([None, None]), _labels(["a"], [1]))  # a column of Arrow's null type
    assert (untyped.labelled, untyped.unknown_keys) == (0, 1)


@pytest.mark.parametrize(
    ("table", "column", "where"),
    [
        ("log", "request_id", "prediction log"),
        ("labels", "rid", "labels table"),
        ("labels", "y", "labels table"),
    ],
)
def test_a_missing_column_is_named_with_the_columns_present(
    table: str, column: str, where: str
) -> None:
    log, labels = _log(["a"]), _labels(["a"], [1])
    if table == "log":
        log = log.rename_columns(["request", "label"])
    else:
        labels = labels.drop_columns([column])
    with pytest.raises(MonitorError) as caught:
        _join(log, labels)
    assert caught.value.message.startswith(f"{where}: has no column '{column}' (columns: ")
    present = log.column_names if table == "log" else labels.column_names
    assert ", ".join(present) in caught.value.message
    if table == "log":
        assert caught.value.fix == "did you mean 'request'?"


def test_key_and_label_in_one_column_and_a_taken_name_are_refused() -> None:
    with pytest.raises(MonitorError, match="the key and the label are the same column"):
        join_labels(
            _log(["a"]), _labels(["a"], [1]), log_key="request_id", labels_key="y", label_column="y"
        )
    log = _log(["a"]).append_column(LABEL_TRUE, pa.array([1]))
    with pytest.raises(MonitorError, match="already has a column 'label_true'"):
        _join(log, _labels(["a"], [1]))


def test_whole_number_keys_meet_text_keys_on_their_decimal_form_and_say_so() -> None:
    result = _join(_log(["7", "8", "007"]), _labels([7, 9], [1, 0], pa.int32()))
    assert result.joined.column("request_id").to_pylist() == ["7"]  # not "007"
    assert result.unknown_examples == ("9",)
    assert result.key_note is not None and "labels table's whole numbers" in result.key_note


def test_whole_floats_count_as_whole_numbers_and_fractions_are_refused() -> None:
    result = _join(_log([1, 2], pa.int64()), _labels([1.0, 2.0, None], [1, 0, 1]))
    assert result.labelled == 2 and result.null_keys == 1
    assert result.key_note is not None and "float keys are whole numbers" in result.key_note
    with pytest.raises(MonitorError, match=r"fractional or non-finite numbers \(\[1.5\]\)"):
        _join(_log([1, 2], pa.int64()), _labels([1.5, 2.0], [1, 0]))


def test_keys_of_types_that_cannot_meet_are_refused() -> None:
    with pytest.raises(MonitorError) as caught:
        _join(_log(["2024-01-01"]), _labels([dt.date(2024, 1, 1)], [1]))
    assert "date32[day]" in caught.value.message and "string" in caught.value.message
    assert caught.value.fix is not None and "transform model" in caught.value.fix


def test_dictionary_encoded_and_chunked_columns_join_like_plain_ones() -> None:
    log = pa.Table.from_batches(
        [pa.record_batch({"request_id": pa.array(["a", "b"]).dictionary_encode()})] * 2
    )
    result = _join(log, _labels(["b"], [1]))
    assert result.labelled == 2 and result.log_rows == 4


# --- comparable_labels -----------------------------------------------------------------


def test_text_labels_from_the_log_meet_whole_number_targets() -> None:
    predicted, truth = comparable_labels(pa.array(["1", "0", None]), pa.array([1, 1, 0], pa.int8()))
    assert predicted.type == truth.type == pa.int64()
    assert predicted.to_pylist() == [1, 0, None]


def test_text_of_floats_meets_numbers_as_floats() -> None:
    predicted, truth = comparable_labels(pa.array(["1.0", "2"]), pa.array([1, 2]))
    assert predicted.type == truth.type == pa.float64()
    assert predicted.to_pylist() == truth.to_pylist() == [1.0, 2.0]


def test_text_meets_booleans_case_insensitively() -> None:
    predicted, truth = comparable_labels(
        pa.array(["True", "false", "1", None]), pa.array([True, False, True, False])
    )
    assert predicted.to_pylist() == [True, False, True, None]
    assert truth.type == pa.bool_()


def test_zero_and_one_meet_booleans() -> None:
    predicted, truth = comparable_labels(pa.array([0, 1]), pa.array([False, True]))
    assert predicted.to_pylist() == truth.to_pylist() == [False, True]
    with pytest.raises(MonitorError, match=r"e.g. 2"):
        comparable_labels(pa.array([0, 2]), pa.array([False, True]))


def test_same_types_are_left_alone_and_other_pairs_meet_as_text() -> None:
    predicted, truth = comparable_labels(
        pa.array(["a"]).dictionary_encode(), pa.chunked_array([["a"]])
    )
    assert predicted.to_pylist() == truth.to_pylist() == ["a"]
    day = dt.date(2024, 1, 2)
    predicted, truth = comparable_labels(pa.array(["2024-01-02"]), pa.array([day]))
    assert predicted.to_pylist() == truth.to_pylist() == ["2024-01-02"]


def test_text_that_cannot_be_the_targets_type_is_refused_with_examples() -> None:
    with pytest.raises(MonitorError) as caught:
        comparable_labels(pa.array(["cat", "1", "dog"]), pa.array([1, 0]), where="model 'churn'")
    assert caught.value.message.startswith("model 'churn': one side holds numbers")
    assert "'cat', 'dog'" in caught.value.message and "'1'" not in caught.value.message
    with pytest.raises(MonitorError, match="true/false"):
        comparable_labels(pa.array(["yes"]), pa.array([True]))


# --- properties ------------------------------------------------------------------------

_keys = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e", "f"]))


@settings(max_examples=150, deadline=None)
@given(
    log_keys=st.lists(_keys, max_size=12),
    label_keys=st.lists(_keys, max_size=12),
    shuffle=st.randoms(use_true_random=False),
)
def test_the_join_agrees_with_a_dictionary_and_ignores_the_labels_order(
    log_keys: list[str | None], label_keys: list[str | None], shuffle: object
) -> None:
    truth = {"a": 1, "b": 0, "c": 1, "d": 0, "e": 1, "f": 0}  # one label per key: no conflict
    labels = _labels(label_keys, [truth[k] if k else 0 for k in label_keys])
    result = _join(_log(log_keys), labels)
    labelled = {k for k in label_keys if k is not None}
    expected = [(k, truth[k]) for k in log_keys if k in labelled]
    got = list(
        zip(
            result.joined["request_id"].to_pylist(),
            result.joined[LABEL_TRUE].to_pylist(),
            strict=True,
        )
    )
    assert got == expected
    assert result.unknown_keys == len(labelled - set(log_keys))
    assert result.null_keys == label_keys.count(None)
    assert result.duplicate_keys == sum(1 for k in labelled if label_keys.count(k) > 1)
    order = list(range(len(label_keys)))
    shuffle.shuffle(order)  # type: ignore[attr-defined]
    again = _join(_log(log_keys), labels.take(pa.array(order, pa.int64())))
    assert again.joined.equals(result.joined)
    assert set(again.unknown_examples) <= labelled - set(log_keys)
