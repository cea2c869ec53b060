"""The nulls are right: simulated no-drift windows raise a family-wise false alarm at about the
budget, where no correction, or a null that forgets the reference's own noise, does not."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import chi2 as chi2_distribution

from weir.monitor.drift import DriftReference, DriftSettings
from weir.monitor.drift_null import gaussian_bridge, monte_carlo, multinomial_null
from weir.monitor.drift_numeric import make_bins
from weir.monitor.drift_stats import binned_statistic

CATEGORIES = [f"k{i}" for i in range(12)]
SHARES = 1 / np.arange(1, 13) ** 1.2 / (1 / np.arange(1, 13) ** 1.2).sum()
KINDS = {
    "normal": "numeric",
    "skewed": "numeric",
    "uniform": "numeric",
    "counts": "numeric",
    "zeros": "numeric",
    "heavy": "numeric",
    "gappy": "numeric",
    "merchant": "categorical",
    "channel": "categorical",
    "flag": "binary",
}


def coded(codes: np.ndarray, labels: list[str]) -> pa.DictionaryArray:
    """Categories as Arrow dictionary codes (cheap to build; Weir reads them as strings)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(labels))


def population(rows: int, rng: np.random.Generator) -> pa.Table:
    """Ten features of assorted shapes, one with 10 % missing values; no drift anywhere."""
    gappy = rng.normal(size=rows)
    gappy[rng.random(rows) < 0.1] = np.nan
    return pa.table(
        {
            "normal": rng.normal(size=rows),
            "skewed": rng.lognormal(size=rows),
            "uniform": rng.random(rows),
            "counts": rng.poisson(2, rows),
            "zeros": np.where(rng.random(rows) < 0.6, 0.0, rng.exponential(size=rows)),
            "heavy": rng.standard_t(2, size=rows),
            "gappy": gappy,
            "merchant": coded(rng.choice(12, rows, p=SHARES), CATEGORIES),
            "channel": coded(rng.choice(3, rows, p=[0.6, 0.3, 0.1]), ["web", "shop", "phone"]),
            "flag": rng.random(rows) < 0.2,
        }
    )


def false_alarms(settings: DriftSettings, windows: int, rows: int) -> int:
    """No-drift windows of `rows` rows against one large reference (its own noise is then
    negligible, so the rate per window is the unconditional one)."""
    rng = np.random.default_rng(2026)
    reference = DriftReference.fit(population(200_000, rng), KINDS, settings)
    return sum(reference.compare(population(rows, rng)).drifted for _ in range(windows))


def test_family_wise_false_alarm_rate_is_near_the_budget() -> None:
    alarms = false_alarms(DriftSettings(resamples=2000, bins=20), windows=200, rows=300)
    # Binomial(200, 0.05): 10 expected; 3..19 holds with probability > 0.99
    assert 3 <= alarms <= 19, alarms


def test_without_correction_the_family_wise_rate_is_far_above_the_budget() -> None:
    alarms = false_alarms(
        DriftSettings(resamples=2000, bins=20, correction="none"), windows=60, rows=300
    )
    assert alarms > 15, alarms  # ~24 live tests at 5 % each: most windows raise something


def test_the_reference_noise_counts_when_the_window_is_larger() -> None:
    """A small reference (m = 400) against large windows (n = 4,000): the two-sample null
    keeps the rate at the budget; a null sized for the window alone would alarm on most."""
    rng = np.random.default_rng(11)
    settings = DriftSettings(resamples=1000, bins=20)
    kinds = {"normal": "numeric", "skewed": "numeric", "channel": "categorical"}

    def sample(rows: int) -> pa.Table:
        channel = np.array(["web", "shop", "phone"])[rng.choice(3, rows, p=[0.6, 0.3, 0.1])]
        return pa.table(
            {
                "normal": rng.normal(size=rows),
                "skewed": rng.lognormal(size=rows),
                "channel": channel,
            }
        )

    alarms = sum(
        DriftReference.fit(sample(400), kinds, settings).compare(sample(4000)).drifted
        for _ in range(150)
    )
    assert alarms <= 17, alarms  # Binomial(150, 0.05): 7.5 expected


@pytest.mark.parametrize("rows", [1000, 5000])
def test_the_gaussian_limit_null_matches_exact_multinomial_draws(rows: int) -> None:
    """Wasserstein's null of a skewed feature simulated once in the Gaussian limit, scaled to
    n rows, against exact multinomial draws at n: the same upper quantiles within Monte Carlo
    error, from 10 rows per bin (below that the exact draws are used)."""
    reference = np.sort(np.random.default_rng(3).lognormal(size=1000))
    layout = make_bins(reference, 100)
    statistic = binned_statistic("wasserstein_iqr", layout.points, 1.0)
    probabilities = layout.counts / layout.counts.sum()
    seed = np.random.SeedSequence(5)
    assert statistic.of_cumulative is not None
    limit = np.sort(
        statistic.of_cumulative(gaussian_bridge(probabilities, 10_000, seed))
    ) * np.sqrt(1 / rows + 1 / 1000)
    exact = multinomial_null(probabilities, 1000, rows, statistic.of_counts, 10_000, seed)
    for quantile in (0.5, 0.9, 0.99):
        assert np.quantile(limit, quantile) == pytest.approx(np.quantile(exact, quantile), rel=0.08)


def test_the_multinomial_null_of_chi2_is_the_chi2_distribution_at_large_counts() -> None:
    probabilities = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
    statistic = binned_statistic("chi2")
    draws = multinomial_null(
        probabilities, 20_000, 20_000, statistic.of_counts, 20_000, np.random.SeedSequence(1)
    )
    for value in (2.0, 7.8, 13.3):  # chi2(4): p = 0.74, 0.10, 0.01
        assert monte_carlo(draws, value).p_value == pytest.approx(
            chi2_distribution.sf(value, 4), abs=0.006
        )
