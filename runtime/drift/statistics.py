"""The drift statistics of DESIGN.md section 8 as pure functions on numpy arrays (no I/O).

scipy is imported where it is used: `warm_up()` loads it in a background thread while the data is read.

Numeric features work on *sorted* finite values: the reference is sorted once (or loaded sorted from a saved
profile), so bin counts and the exact two-sample KS statistic are binary searches instead of re-sorting.
"""

from __future__ import annotations

import importlib
import math
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DECILES = np.arange(1, 10) / 10
PSI_FLOOR = 1e-4
# scipy's ks_2samp(method="auto") computes the exact distribution up to this size, the asymptotic one above.
KS_EXACT_MAX_N = 10_000
# Above this effective size scipy's term-by-term Smirnov series costs ~0.5 s a call; we sum it vectorised.
SMIRNOV_VECTORISED_MIN_N = 50_000


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its p-value."""

    statistic: float
    pvalue: float


def decile_edges(sorted_reference: FloatArray) -> FloatArray:
    """The unique values of `numpy.quantile(reference, [0.1, ..., 0.9])`: the edges inside the outer bins."""
    return np.unique(np.quantile(sorted_reference, DECILES))


def bin_counts(sorted_values: FloatArray, edges: FloatArray) -> IntArray:
    """Counts in the bins `(-inf, e1], (e1, e2], ..., (ek, +inf)` of already sorted finite values."""
    cumulative = np.searchsorted(sorted_values, edges, side="right")
    bounds = np.concatenate(([0], cumulative, [sorted_values.size]))
    return np.diff(bounds).astype(np.int64)


def proportions(counts: IntArray) -> FloatArray:
    """Counts divided by their total (the total must be positive)."""
    return counts / counts.sum()


def psi(reference: FloatArray, current: FloatArray) -> float:
    """Population stability index on proportions, zeros floored at 1e-4: `sum((c' - r') * ln(c' / r'))`."""
    r = np.maximum(reference, PSI_FLOOR)
    c = np.maximum(current, PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(reference: FloatArray, current: FloatArray) -> float:
    """Jensen-Shannon distance, base 2, on the unfloored proportions (scipy's definition)."""
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(reference, current, base=2))


def chi2_test(reference_counts: IntArray, current_counts: IntArray) -> TestResult:
    """`scipy.stats.chi2_contingency` on the 2 x K table of category counts."""
    from scipy import stats

    result = stats.chi2_contingency(np.vstack([reference_counts, current_counts]))
    return TestResult(float(result.statistic), float(result.pvalue))


def sort_values(values: FloatArray, *, owned: bool = False) -> FloatArray:
    """`values` sorted: in place when the caller owns the array, else a sorted copy (-0.0 == 0.0 compare
    equal, so their order among themselves does not matter to binary searches)."""
    if owned and values.flags.writeable:
        values.sort()
        return values
    return np.sort(values)


def ks_test_sorted(sorted_reference: FloatArray, sorted_current: FloatArray) -> TestResult:
    """Exactly `scipy.stats.ks_2samp(reference, current)` (two-sided, method auto) on sorted finite values.

    The statistic is the largest gap between the two empirical CDFs. Between consecutive current values the
    current CDF is flat while the reference CDF rises, so the gaps can be read off one binary search of the
    sorted current values into the sorted reference (`right`: F_ref(c)), plus a `left` search only for the
    few current values that also occur in the reference (F_ref just below c). Ties within the current sample
    need no grouping: a non-last member of a tie group only yields a candidate that its group's last member
    dominates. The counts compared are the ones ks_2samp compares, so the floats are identical.
    """
    n1, n2 = sorted_reference.size, sorted_current.size
    if n1 == 0 or n2 == 0:
        raise ValueError("KS needs values in both samples")
    from scipy import stats

    if max(n1, n2) <= KS_EXACT_MAX_N:
        result = stats.ks_2samp(sorted_reference, sorted_current)
        return TestResult(float(result.statistic), float(result.pvalue))
    right = np.searchsorted(sorted_reference, sorted_current, side="right")
    # right == 0 clips to index 0, whose value is then above the current value, so never equal.
    in_reference = np.flatnonzero(np.take(sorted_reference, right - 1, mode="clip") == sorted_current)
    left = right
    if in_reference.size:
        left = right.copy()
        left[in_reference] = np.searchsorted(sorted_reference, sorted_current[in_reference], side="left")
    # rank j+1 = current values <= sorted_current[j] (up to ties); scaled by n1 for exact integer comparison.
    scaled_rank = np.arange(n1, (n2 + 1) * n1, n1, dtype=np.int64)
    # F_ref - F_cur just below each next current value (and below the first one), then F_cur - F_ref at the
    # current values (scipy's -cddiffs). Compared exactly as integers scaled by n1 * n2, then evaluated as
    # ks_2samp evaluates them (count/n1 - count/n2) at the maximising indices, ties included.
    above = left[1:] * n2
    above -= scaled_rank[:-1]
    below = right * n2
    np.subtract(scaled_rank, below, out=below)
    d_plus = float(left[0] / n1)
    if above.size:
        best = np.flatnonzero(above == above.max())
        d_plus = max(d_plus, float((left[best + 1] / n1 - (best + 1) / n2).max()))
    best = np.flatnonzero(below == below.max())
    d_minus = float(np.clip(-(right[best] / n1 - (best + 1) / n2).min(), 0, 1))
    statistic = max(d_plus, d_minus)
    m, n = sorted([float(n1), float(n2)], reverse=True)
    effective_n = float(np.round(m * n / (m + n)))
    return TestResult(statistic, kstwo_sf(statistic, effective_n))


def kstwo_sf(d: float, n: float) -> float:
    """`scipy.stats.kstwo.sf(d, n)` clipped to [0, 1], as ks_2samp's asymptotic mode computes it.

    Where scipy evaluates `2 * smirnov(n, d)` (large n, `2.2 <= n d^2 < 370`, `1 < n d < n - 1`, d < 0.5)
    by a slow scalar loop, the same Birnbaum-Tingey series is summed vectorised in log space; the two agree
    to about 1e-9 relative. Everywhere else this is scipy's own call.
    """
    from scipy import stats

    nd2 = n * d * d
    if n >= SMIRNOV_VECTORISED_MIN_N and 2.2 <= nd2 < 370.0 and 1.0 < n * d < n - 1 and d < 0.5:
        return float(np.clip(2 * smirnov_sf(int(n), d), 0, 1))
    return float(np.clip(stats.kstwo.sf(d, n), 0, 1))


def smirnov_sf(n: int, d: float) -> float:
    """P(D+_n >= d), one-sided one-sample: `d * sum_j C(n,j) (1-d-j/n)^(n-j) (d+j/n)^(j-1)`."""
    from scipy import special

    j = np.arange(0, math.floor(n * (1 - d)) + 1, dtype=np.float64)
    log_binomial = -np.log1p(n) - special.betaln(n - j + 1, j + 1)
    with np.errstate(divide="ignore"):
        log_terms = log_binomial + (n - j) * np.log(1 - d - j / n) + (j - 1) * np.log(d + j / n)
    peak = float(log_terms.max())
    return float(d * math.exp(peak) * np.exp(log_terms - peak).sum())


# A feature is reliable when same-distribution samples of its sizes reach the alert tier less often than this:
# 1% per feature keeps the *dataset* false-alarm rate (several features and the prediction) under 5%.
NULL_PSI_QUANTILE = 0.99


def null_psi_quantile(n_reference: int, n_current: int, n_bins: int, q: float = NULL_PSI_QUANTILE) -> float:
    """About the `q` quantile of PSI between two same-distribution samples of these sizes over `n_bins`.

    PSI is the symmetrised Kullback-Leibler divergence; under the null, `PSI / (1/n_r + 1/n_c)` is close
    to chi-squared with `n_bins - 1` degrees of freedom, which is what makes a small sample unreliable.
    """
    if n_reference == 0 or n_current == 0:
        return math.inf
    from scipy import stats

    dof = max(n_bins - 1, 1)
    return float(stats.chi2.ppf(q, dof) * (1 / n_reference + 1 / n_current))


def warm_up() -> threading.Thread:
    """Start importing scipy's statistics (about a second) in a background thread; returns the thread."""

    def load() -> None:
        importlib.import_module("scipy.stats")
        importlib.import_module("scipy.spatial.distance")

    thread = threading.Thread(target=load, name="scipy-import", daemon=True)
    thread.start()
    return thread
