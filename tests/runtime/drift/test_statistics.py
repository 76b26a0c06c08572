"""Every statistic against a direct numpy/scipy recomputation on generated data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from runtime.drift.statistics import (
    bin_counts,
    chi2_test,
    decile_edges,
    js_distance,
    ks_test_sorted,
    kstwo_sf,
    null_psi_quantile,
    proportions,
    psi,
    smirnov_sf,
)


def test_decile_edges_are_the_unique_numpy_quantiles() -> None:
    values = np.random.default_rng(1).normal(size=5001)
    expected = np.unique(np.quantile(values, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]))
    assert np.array_equal(decile_edges(np.sort(values)), expected)
    assert decile_edges(np.sort(np.repeat([1.0, 2.0], 50))).tolist() == [1.0, 1.5, 2.0]
    assert decile_edges(np.full(10, 3.0)).tolist() == [3.0]


def test_bin_counts_use_open_outer_bins_closed_on_the_right() -> None:
    rng = np.random.default_rng(2)
    values = np.sort(rng.normal(size=2000) * 3)
    edges = np.array([-1.0, 0.0, 0.5, 2.0])
    expected = [
        np.sum(values <= -1),
        np.sum((values > -1) & (values <= 0)),
        np.sum((values > 0) & (values <= 0.5)),
        np.sum((values > 0.5) & (values <= 2)),
        np.sum(values > 2),
    ]
    assert bin_counts(values, edges).tolist() == expected
    # Values outside the reference range land in the outer bins instead of being dropped.
    assert bin_counts(np.array([-100.0, 0.0, 100.0]), np.array([0.0])).tolist() == [2, 1]


def test_psi_floors_zero_proportions_at_1e_4() -> None:
    r = np.array([0.5, 0.5, 0.0])
    c = np.array([0.25, 0.5, 0.25])
    rf, cf = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
    assert psi(r, c) == pytest.approx(float(np.sum((cf - rf) * np.log(cf / rf))), rel=1e-12)
    assert psi(r, r) == 0.0


def test_js_distance_is_scipy_base_2_on_unfloored_proportions() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        r = proportions(rng.integers(0, 50, 10))
        c = proportions(rng.integers(1, 50, 10))
        assert js_distance(r, c) == float(jensenshannon(r, c, base=2))


def test_chi2_is_scipy_contingency_on_the_2_by_k_counts() -> None:
    ref, cur = np.array([50, 30, 20, 0]), np.array([40, 35, 20, 5])
    expected = stats.chi2_contingency(np.vstack([ref, cur]))
    result = chi2_test(ref, cur)
    assert (result.statistic, result.pvalue) == (expected.statistic, expected.pvalue)


@pytest.mark.parametrize(
    ("n1", "n2", "kind"),
    [
        (300, 200, "normal"),
        (10_000, 9_000, "ties"),
        (12_000, 15_000, "normal"),
        (40_000, 25_000, "ties"),
        (20_000, 11_000, "rounded"),
        (11_000, 30_000, "shifted"),
        (15_000, 15_000, "identical"),
    ],
)
def test_ks_equals_scipy_ks_2samp(n1: int, n2: int, kind: str) -> None:
    rng = np.random.default_rng(n1 + n2)
    if kind == "ties":
        a, b = rng.integers(0, 30, n1).astype(float), rng.integers(0, 31, n2).astype(float)
    elif kind == "rounded":
        a, b = np.round(rng.normal(size=n1), 2), np.round(rng.normal(0, 1.05, n2), 2)
    elif kind == "shifted":
        a, b = rng.normal(size=n1), rng.normal(0.3, 1, n2)
    elif kind == "identical":
        a = rng.normal(size=n1)
        b = a.copy()
    else:
        a, b = rng.normal(size=n1), rng.normal(0.02, 1, n2)
    ours = ks_test_sorted(np.sort(a), np.sort(b))
    theirs = stats.ks_2samp(a, b)
    assert ours.statistic == theirs.statistic
    assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-8, abs=0)


def test_ks_many_random_cases_match_scipy_exactly_in_the_statistic() -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        n1, n2 = int(rng.integers(1, 3000)), int(rng.integers(10_001, 14_000))
        a = np.round(rng.normal(size=n1), int(rng.integers(0, 3)))
        b = np.round(rng.normal(rng.normal(0, 0.05), 1, n2), int(rng.integers(0, 3)))
        ours, theirs = ks_test_sorted(np.sort(a), np.sort(b)), stats.ks_2samp(a, b)
        assert ours.statistic == theirs.statistic
        assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-8, abs=0)


def test_vectorised_smirnov_series_matches_scipy() -> None:
    from scipy import special

    for n, nd2 in [(60_000, 2.5), (60_000, 40.0), (80_000, 300.0)]:
        d = float(np.sqrt(nd2 / n))
        assert smirnov_sf(n, d) == pytest.approx(float(special.smirnov(n, d)), rel=1e-8)
        assert kstwo_sf(d, n) == pytest.approx(float(stats.kstwo.sf(d, n)), rel=1e-8)
    assert kstwo_sf(0.001, 60_000) == float(stats.kstwo.sf(0.001, 60_000))


def test_null_psi_quantile_matches_the_simulated_same_distribution_percentile() -> None:
    rng = np.random.default_rng(11)
    n, edges = 500, np.quantile(rng.normal(size=100_000), np.arange(1, 10) / 10)
    simulated = []
    for _ in range(600):
        r = proportions(bin_counts(np.sort(rng.normal(size=n)), edges))
        c = proportions(bin_counts(np.sort(rng.normal(size=n)), edges))
        simulated.append(psi(r, c))
    assert null_psi_quantile(n, n, 10, 0.95) == pytest.approx(np.quantile(simulated, 0.95), rel=0.25)
    assert null_psi_quantile(n, n, 10) == pytest.approx(np.quantile(simulated, 0.99), rel=0.35)


def test_grid_refined_and_full_scan_statistics_both_equal_scipy() -> None:
    from runtime.drift.statistics import _scan_statistic, ks_statistic_sorted

    rng = np.random.default_rng(17)
    reference = rng.normal(size=30_000)
    cases = [
        rng.normal(0.01, 1, 25_000),  # small shift: the grid narrows the search to a few intervals
        rng.choice(reference, 12_000),  # values shared with the reference (ties across samples)
        reference[:20_000].copy(),  # near-identical: falls back to the full scan
        np.round(rng.normal(size=40_000), 1),  # heavy ties within the current sample
    ]
    a = np.sort(reference)
    for current in cases:
        b = np.sort(current)
        expected = stats.ks_2samp(reference, current).statistic
        assert ks_statistic_sorted(a, b) == expected
        assert _scan_statistic(a, b) == expected
