"""The drift statistics agree with scipy's own, and behave as distances should."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, entropy, fisher_exact, ks_2samp, wasserstein_distance

from weir.monitor.drift import corrected_levels
from weir.monitor.drift_assess import Assessment
from weir.monitor.drift_null import Judgement, UnseenMass, monte_carlo, two_proportions
from weir.monitor.drift_numeric import make_bins, quantile_edges
from weir.monitor.drift_stats import binned_statistic, chi2, jensen_shannon, psi

RNG = np.random.default_rng(7)


def binned(reference: np.ndarray, current: np.ndarray, bins: int = 100):
    reference, current = np.sort(reference), np.sort(current)
    layout = make_bins(reference, bins)
    return layout, layout.counts, layout.count(current)


def test_wasserstein_on_few_distinct_values_is_scipys_exactly() -> None:
    reference = RNG.integers(0, 7, 500).astype(float)
    current = RNG.integers(1, 7, 300).astype(float) * 1.0
    layout, ref_counts, cur_counts = binned(reference, current)
    assert len(layout.points) == 7  # one bin per distinct value
    statistic = binned_statistic("wasserstein_iqr", layout.points, 1.0)
    assert float(statistic.of_counts(ref_counts, cur_counts)) == pytest.approx(
        wasserstein_distance(reference, current), rel=1e-12
    )


def test_wasserstein_on_quantile_bins_is_scipys_on_the_bin_points() -> None:
    reference, current = RNG.normal(size=5000), RNG.normal(0.3, 1.2, size=2000)
    layout, ref_counts, cur_counts = binned(reference, current)
    statistic = binned_statistic("wasserstein_iqr", layout.points, 2.0)
    expected = wasserstein_distance(layout.points, layout.points, ref_counts, cur_counts) / 2.0
    assert float(statistic.of_counts(ref_counts, cur_counts)) == pytest.approx(expected, rel=1e-12)
    # and close to the exact distance of the raw samples (the bins only round values)
    assert expected * 2.0 == pytest.approx(wasserstein_distance(reference, current), rel=0.1)


def test_ks_on_few_distinct_values_is_scipys() -> None:
    reference = RNG.poisson(3, 800).astype(float)
    current = RNG.poisson(3.4, 600).astype(float)
    current = current[np.isin(current, reference)]
    _, ref_counts, cur_counts = binned(reference, current)
    statistic = binned_statistic("ks")
    assert float(statistic.of_counts(ref_counts, cur_counts)) == pytest.approx(
        ks_2samp(reference, current).statistic, rel=1e-12
    )


def test_category_statistics_are_scipys() -> None:
    reference = np.array([40, 25, 20, 10, 5])
    current = np.array([30, 35, 10, 20, 7])
    assert float(jensen_shannon(reference, current)) == pytest.approx(
        jensenshannon(reference / reference.sum(), current / current.sum(), base=2), rel=1e-12
    )
    assert float(chi2(reference, current)) == pytest.approx(
        chi2_contingency(np.vstack([reference, current]), correction=False).statistic, rel=1e-12
    )
    r, c = reference / reference.sum(), current / current.sum()
    assert float(psi(reference, current)) == pytest.approx(entropy(c, r) + entropy(r, c), rel=1e-12)


def test_fisher_p_value_is_twice_scipys_smaller_one_sided() -> None:
    for ref_hits, m, cur_hits, n in [(3, 1000, 15, 1000), (40, 500, 20, 700), (0, 200, 0, 300)]:
        table = [[cur_hits, n - cur_hits], [ref_hits, m - ref_hits]]
        greater = fisher_exact(table, alternative="greater").pvalue
        less = fisher_exact(table, alternative="less").pvalue
        judged = two_proportions(ref_hits, m, cur_hits, n)
        assert judged.p_value == pytest.approx(min(1.0, 2 * min(greater, less)), rel=1e-9)


def test_quantile_edges_give_heavy_values_a_bin_and_no_bin_is_empty() -> None:
    values = np.sort(np.concatenate([np.zeros(700), RNG.exponential(size=300)]))
    edges = quantile_edges(values, 100)
    assert edges[0] > 0  # the zeros are one bin, below the first edge
    layout = make_bins(values, 100)
    assert layout.counts[0] == 700 and (layout.counts > 0).all()
    assert layout.counts.sum() == len(values)


# Properties ---------------------------------------------------------------------------------

counts = st.lists(st.integers(0, 50), min_size=2, max_size=12).filter(lambda c: sum(c) > 0)
STATISTICS = ["wasserstein_iqr", "ks", "psi", "jensen_shannon", "chi2"]


def statistic_of(name: str, size: int):
    return binned_statistic(name, np.cumsum(np.ones(size)), 1.0)


@settings(max_examples=60, deadline=None)
@given(counts, st.sampled_from(STATISTICS))
def test_a_statistic_is_zero_for_identical_samples(row: list[int], name: str) -> None:
    statistic = statistic_of(name, len(row))
    assert float(statistic.of_counts(row, row)) == pytest.approx(0.0, abs=1e-12)
    doubled = [2 * c for c in row]  # the same distribution at twice the size
    if name != "chi2":
        assert float(statistic.of_counts(row, doubled)) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(STATISTICS))
def test_a_statistic_is_symmetric_and_not_negative(data: st.DataObject, name: str) -> None:
    first = data.draw(counts)
    second = data.draw(st.lists(st.integers(0, 50), min_size=len(first), max_size=len(first)))
    if sum(second) == 0:
        second[0] = 1
    statistic = statistic_of(name, len(first))
    forward = float(statistic.of_counts(first, second))
    assert forward >= 0
    assert float(statistic.of_counts(second, first)) == pytest.approx(forward, rel=1e-9, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 40),
    st.integers(40, 400),
    st.integers(0, 40),
    st.integers(40, 400),
    st.sampled_from([0.001, 0.01, 0.05, 0.2]),
)
def test_fisher_threshold_and_p_value_agree(
    ref_hits: int, m: int, cur_hits: int, n: int, level: float
) -> None:
    judged = two_proportions(ref_hits, m, cur_hits, n)
    value = abs(cur_hits / n - ref_hits / m)
    assert 0.0 <= judged.least_p <= judged.p_value <= 1.0
    assert (value > judged.threshold_at(level)) == (judged.p_value <= level)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 30),
    st.integers(0, 30),
    st.integers(100, 5000),
    st.integers(0, 60),
    st.integers(30, 5000),
    st.sampled_from([0.0005, 0.01, 0.05]),
)
def test_unseen_mass_threshold_and_p_value_agree(
    ones: int, twos: int, m: int, unseen: int, n: int, level: float
) -> None:
    unseen = min(unseen, n)
    judged = UnseenMass.of_reference(ones, twos, m).judge(unseen, n)
    assert 0.0 <= judged.p_value <= 1.0
    assert (unseen / n > judged.threshold_at(level)) == (judged.p_value <= level)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(0, 10), min_size=5, max_size=60),
    st.floats(0, 12),
    st.sampled_from([0.01, 0.05, 0.3]),
)
def test_monte_carlo_threshold_and_p_value_agree(
    draws: list[float], value: float, level: float
) -> None:
    judged = monte_carlo(np.sort(np.array(draws)), value)
    assert 0.0 < judged.p_value <= 1.0
    assert (value > judged.threshold_at(level)) == (judged.p_value <= level + 1e-12)


# The correction across a check's tests -------------------------------------------------------


def judged(p_value: float, least_p: float = 0.0) -> Assessment:
    """A test whose value (1.0) clears its threshold exactly when p_value <= level."""
    judgement = Judgement(p_value, lambda level: 0.5 if p_value <= level else 1.5, least_p)
    return Assessment("f", "numeric", "distribution", "ks", 1.0, judgement, 100, 100, "")


def test_holm_steps_down_and_stops_at_the_first_survivor() -> None:
    tests = [judged(0.04), judged(0.001), judged(0.02)]
    assert corrected_levels(tests, 0.05, "holm") == pytest.approx([0.05, 0.05 / 3, 0.025])
    stopped = [judged(0.01), judged(0.04), judged(0.045)]  # 0.04 > 0.025: stop there
    assert corrected_levels(stopped, 0.05, "holm") == pytest.approx([0.05 / 3, 0.025, 0.025])
    assert corrected_levels(stopped, 0.05, "bonferroni") == pytest.approx([0.05 / 3] * 3)
    assert corrected_levels(stopped, 0.05, "none") == pytest.approx([0.05] * 3)


def test_tests_that_cannot_reach_their_level_leave_the_family() -> None:
    """Tarone: two tests that could never give p < 0.5 (a null rate with one missing value)
    do not make the third one stricter."""
    tests = [judged(0.03), judged(1.0, least_p=1.0), judged(0.6, least_p=0.5)]
    assert corrected_levels(tests, 0.05, "holm") == pytest.approx([0.05, 0.0, 0.0])
