"""Drift checks as the monitor uses them: power where drift is real, silence where it is not,
and clear answers for input that cannot be judged."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.core.errors import MonitorError
from weir.monitor.drift import (
    DriftReference,
    DriftResult,
    DriftSettings,
    EffectFloors,
    FeatureDrift,
    infer_kinds,
)

FAST = DriftSettings(resamples=1000, bins=50)
COLOURS = np.array(["red", "green", "blue", "grey", "black", "white", "pink", "teal"])


def world(
    rows: int,
    rng: np.random.Generator,
    *,
    shift: float = 0.0,
    new: float = 0.0,
    missing: float = 0.0,
) -> pa.Table:
    """Five features; `shift` moves `amount` by that many reference IQRs, `new` gives that share
    of `colour` to never-seen colours, `missing` blanks that share of `age`."""
    amount = rng.normal(size=rows) + shift * 1.349  # a standard normal's IQR
    colour = COLOURS[rng.integers(0, 8, rows)].astype(object)
    colour[rng.random(rows) < new] = "ultraviolet"
    age = rng.integers(18, 90, rows).astype(float)
    age[rng.random(rows) < missing] = np.nan
    return pa.table(
        {
            "amount": amount,
            "score": rng.beta(2, 5, rows),
            "colour": colour.astype(str),
            "age": age,
            "member": rng.random(rows) < 0.3,
        }
    )


KINDS = {
    "amount": "numeric",
    "score": "numeric",
    "colour": "categorical",
    "age": "numeric",
    "member": "binary",
}


@pytest.fixture(scope="module")
def reference() -> DriftReference:
    return DriftReference.fit(world(5000, np.random.default_rng(1)), KINDS, FAST)


def flagged(reference: DriftReference, windows: int, **change: float) -> list[tuple[str, ...]]:
    rng = np.random.default_rng(99)
    return [reference.compare(world(1000, rng, **change)).drifted_features for _ in range(windows)]


def test_a_shift_of_four_tenths_of_the_iqr_is_found_and_nothing_else(
    reference: DriftReference,
) -> None:
    found = flagged(reference, 20, shift=0.4)
    assert sum("amount" in f for f in found) >= 19
    assert sum(len(set(f) - {"amount"}) for f in found) <= 2


def test_new_categories_at_one_percent_are_found(reference: DriftReference) -> None:
    found = flagged(reference, 20, new=0.01)
    assert sum("colour" in f for f in found) >= 19
    window = reference.compare(world(1000, np.random.default_rng(5), new=0.01))
    new = next(t for t in window.tests if t.feature == "colour" and t.test == "new_categories")
    assert (
        new.drifted
        and "'ultraviolet'" in new.detail
        and new.value == pytest.approx(0.01, abs=0.008)
    )


def test_a_rise_in_missing_values_is_found(reference: DriftReference) -> None:
    found = flagged(reference, 10, missing=0.05)
    assert all("age" in f for f in found)
    window = reference.compare(world(1000, np.random.default_rng(5), missing=0.05))
    rate = next(t for t in window.tests if t.feature == "age" and t.test == "null_rate")
    assert rate.drifted and rate.statistic == "null_rate_diff"


def test_an_unchanged_world_is_quiet_and_every_test_explains_itself(
    reference: DriftReference,
) -> None:
    found = flagged(reference, 20)
    assert sum(bool(f) for f in found) <= 3
    result = reference.compare(world(1000, np.random.default_rng(3)))
    assert (
        result.decided
        and result.reason is None
        and result.budget == 0.05
        and result.correction == "holm"
    )
    tests = {(t.feature, t.test) for t in result.tests}
    assert ("colour", "new_categories") in tests and ("member", "distribution") in tests
    assert ("amount", "distribution") in tests and ("amount", "new_categories") not in tests
    for test in result.tests:
        assert test.drifted == (test.value > test.threshold)
        assert 0 < test.p_value <= 1 and test.detail


def test_many_rare_categories_do_not_alarm_on_every_new_one() -> None:
    """A reference of 2,000 rows from 20,000 equally likely merchants has seen few of them
    twice; a window from the same world is mostly 'new' merchants, as the reference implied."""
    rng = np.random.default_rng(8)
    merchants = np.array([f"m{i}" for i in range(20_000)])
    reference = DriftReference.fit(
        pa.table({"m": merchants[rng.integers(0, 20_000, 2000)]}), {"m": "categorical"}, FAST
    )
    windows = [
        reference.compare(pa.table({"m": merchants[rng.integers(0, 20_000, 1000)]}))
        for _ in range(20)
    ]
    new = [next(t for t in w.tests if t.test == "new_categories") for w in windows]
    assert all(t.value > 0.8 for t in new)  # most rows are unseen merchants...
    assert sum(t.drifted for t in new) <= 2  # ...and that is no alarm


def test_a_window_too_small_or_empty_is_not_decided(reference: DriftReference) -> None:
    rng = np.random.default_rng(4)
    small = reference.compare(world(12, rng))
    assert not small.decided and small.tests == () and "12 rows" in (small.reason or "")
    empty = reference.compare(world(0, rng))
    assert not empty.decided and "empty" in (empty.reason or "")
    assert small.drifted_features == ()


def test_a_reference_too_small_decides_nothing() -> None:
    rng = np.random.default_rng(4)
    tiny = DriftReference.fit(world(60, rng), KINDS, FAST)
    result = tiny.compare(world(1000, rng))
    assert not result.decided and "60 rows" in (result.reason or "") and tiny.rows == 60


def test_a_missing_column_or_a_changed_type_is_refused(reference: DriftReference) -> None:
    current = world(500, np.random.default_rng(6))
    with pytest.raises(MonitorError, match="'score'") as missing:
        reference.compare(current.drop_columns(["score"]))
    assert missing.value.fix and "score" in missing.value.fix
    as_text = current.set_column(
        0, "amount", pa.array([str(v) for v in current.column("amount").to_pylist()])
    )
    with pytest.raises(MonitorError, match="'amount' was a number column") as changed:
        reference.compare(as_text)
    assert changed.value.fix
    extra = current.append_column("unrelated", pa.array(np.arange(500)))
    assert reference.compare(extra).decided  # extra columns are ignored


def test_kinds_that_do_not_fit_the_data_are_refused_at_fit() -> None:
    table = pa.table(
        {
            "text": ["a", "b", "c"] * 50,
            "when": [dt.datetime(2026, 1, 1)] * 150,
            "fraction": np.linspace(0, 1, 150),
        }
    )
    with pytest.raises(MonitorError, match="'text' is declared numeric"):
        DriftReference.fit(table, {"text": "numeric"}, FAST)
    with pytest.raises(MonitorError, match="'text' is declared binary"):
        DriftReference.fit(table, {"text": "binary"}, FAST)
    with pytest.raises(MonitorError, match=r"'when'.*timestamps are not features"):
        DriftReference.fit(table, {"when": "numeric"}, FAST)
    with pytest.raises(MonitorError, match="'fraction' is declared categorical"):
        DriftReference.fit(table, {"fraction": "categorical"}, FAST)
    with pytest.raises(MonitorError, match="'absent'"):
        DriftReference.fit(table, {"absent": "numeric"}, FAST)


def test_a_constant_reference_column_flags_values_that_differ() -> None:
    reference = DriftReference.fit(pa.table({"c": np.full(2000, 7.0)}), {"c": "numeric"}, FAST)
    same = reference.compare(pa.table({"c": np.full(500, 7.0)}))
    assert same.decided and not same.drifted
    differs = np.full(500, 7.0)
    differs[:25] = 8.0
    result = reference.compare(pa.table({"c": differs}))
    test = next(t for t in result.tests if t.test == "new_categories")
    assert test.drifted and test.value == pytest.approx(0.05) and "constant 7" in test.detail


def test_an_all_missing_column_is_judged_by_its_null_rate() -> None:
    rng = np.random.default_rng(2)
    blank = pa.array([None] * 1000, type=pa.float64())
    reference = DriftReference.fit(
        pa.table({"x": blank, "y": rng.normal(size=1000)}), {"x": "numeric", "y": "numeric"}, FAST
    )
    quiet = reference.compare(pa.table({"x": blank[:400], "y": rng.normal(size=400)}))
    assert quiet.decided and not quiet.drifted
    assert any("'x': distribution not tested" in note for note in quiet.notes)
    filled = reference.compare(pa.table({"x": rng.normal(size=400), "y": rng.normal(size=400)}))
    assert filled.drifted_features == ("x",)
    assert next(t for t in filled.tests if t.feature == "x").test == "null_rate"


def test_nan_is_missing_and_infinity_is_a_value() -> None:
    rng = np.random.default_rng(12)
    values = rng.normal(size=3000)
    with_nan = values.copy()
    with_nan[::10] = np.nan
    with_null = pa.array([None if np.isnan(v) else v for v in with_nan], type=pa.float64())
    reference = DriftReference.fit(pa.table({"x": values}), {"x": "numeric"}, FAST)
    by_nan, by_null = (
        reference.compare(pa.table({"x": with_nan})),
        reference.compare(pa.table({"x": with_null})),
    )
    assert by_nan.tests == by_null.tests
    assert next(t for t in by_nan.tests if t.test == "null_rate").value == pytest.approx(
        0.1, abs=0.001
    )
    infinite = rng.normal(size=1000)
    infinite[:300] = np.inf
    result = reference.compare(pa.table({"x": infinite}))
    distribution = next(t for t in result.tests if t.test == "distribution")
    assert np.isfinite(distribution.value) and distribution.drifted
    assert not next(t for t in result.tests if t.test == "null_rate").drifted


def test_integer_codes_declared_categorical_compare_across_integer_widths() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 5, 2000)
    reference = DriftReference.fit(
        pa.table({"code": pa.array(codes, pa.int64())}), {"code": "categorical"}, FAST
    )
    narrow = pa.table({"code": pa.array(rng.integers(0, 5, 500), pa.int32())})
    assert reference.compare(narrow).decided and not reference.compare(narrow).drifted
    fractional = pa.table({"code": pa.array(rng.random(500) * 4, pa.float64())})
    with pytest.raises(MonitorError, match="'code' holds double values"):
        reference.compare(fractional)


def test_the_same_seed_gives_the_same_result_and_settings_are_checked() -> None:
    rng = np.random.default_rng(21)
    reference_rows, window = world(3000, rng), world(800, rng, shift=0.1)
    first = DriftReference.fit(reference_rows, KINDS, FAST).compare(window)
    again = DriftReference.fit(reference_rows, KINDS, FAST).compare(window)
    assert first == again
    with pytest.raises(MonitorError, match="budget"):
        DriftSettings(budget=1.5)
    with pytest.raises(MonitorError, match="negative"):
        DriftSettings(min_effect=EffectFloors(wasserstein_iqr=-1))


def test_effect_floors_silence_negligible_but_certain_shifts() -> None:
    """At 200,000 rows a 0.03-IQR shift is statistically certain; a floor of 0.05 says it
    does not matter, and a 0.4-IQR shift still clears it."""
    rng = np.random.default_rng(5)
    rows = {"amount": "numeric"}
    floor = DriftSettings(resamples=1000, min_effect=EffectFloors(wasserstein_iqr=0.05))
    base = world(200_000, rng).select(["amount"])
    plain, floored = DriftReference.fit(base, rows, FAST), DriftReference.fit(base, rows, floor)
    tiny = world(200_000, rng, shift=0.03).select(["amount"])
    assert plain.compare(tiny).drifted_features == ("amount",)
    floored_tiny = floored.compare(tiny)
    assert not floored_tiny.drifted and floored_tiny.tests[-1].threshold == 0.05
    assert floored.compare(world(2000, rng, shift=0.4).select(["amount"])).drifted


def test_infer_kinds() -> None:
    table = pa.table(
        {
            "n": [1.5, 2.5, 3.5, 4.5],
            "i": [1, 2, 3, 4],
            "two": [0, 1, 1, 0],
            "flag": [True, False, True, True],
            "s": ["a", "b", "c", "a"],
            "yes": ["y", "n", None, "y"],
            "d": pa.array(["a", "b", "c", "a"]).dictionary_encode(),
        }
    )
    assert infer_kinds(table, table.column_names) == {
        "n": "numeric",
        "i": "numeric",
        "two": "binary",
        "flag": "binary",
        "s": "categorical",
        "yes": "binary",
        "d": "categorical",
    }
    with pytest.raises(MonitorError, match="'when'"):
        infer_kinds(pa.table({"when": [dt.date(2026, 1, 1)]}), ["when"])


def test_the_result_types_hold_what_the_integrator_reads() -> None:
    test = FeatureDrift(
        "a", "numeric", "distribution", "wasserstein_iqr", 0.5, 0.1, 0.001, True, 10, 10, "moved"
    )
    result = DriftResult((test,), 0.05, "holm", True, None)
    assert result.drifted_features == ("a",) and result.drifted and result.notes == ()


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.3]))
def test_row_order_does_not_matter(seed: int, shift: float) -> None:
    rng = np.random.default_rng(seed)
    reference_rows, window = world(400, rng), world(300, rng, shift=shift, new=0.02, missing=0.05)
    shuffled_reference = reference_rows.take(rng.permutation(400))
    shuffled_window = window.take(rng.permutation(300))
    settings_ = DriftSettings(resamples=500, bins=20)
    first = DriftReference.fit(reference_rows, KINDS, settings_).compare(window)
    second = DriftReference.fit(shuffled_reference, KINDS, settings_).compare(shuffled_window)
    assert [(t.feature, t.test, t.drifted) for t in first.tests] == [
        (t.feature, t.test, t.drifted) for t in second.tests
    ]
    for a, b in zip(first.tests, second.tests, strict=True):
        assert a.value == pytest.approx(b.value, abs=1e-12) and a.p_value == pytest.approx(
            b.p_value
        )
