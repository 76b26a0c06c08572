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
# The KS statistic is first located on this many reference quantiles (see ks_statistic_sorted).
KS_GRID_POINTS = 4096
# Evaluate every value when the intervals that may hold the maximum cover more than 1/4 of them.
KS_FULL_SCAN_FRACTION = 4
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

    Up to `KS_EXACT_MAX_N` values a side this is scipy's own call (its exact p-value). Above, the statistic
    comes from `ks_statistic_sorted` (bit-identical) and the p-value from `kstwo_sf`, as ks_2samp's
    asymptotic mode computes it.
    """
    n1, n2 = sorted_reference.size, sorted_current.size
    if n1 == 0 or n2 == 0:
        raise ValueError("KS needs values in both samples")
    from scipy import stats

    if max(n1, n2) <= KS_EXACT_MAX_N:
        result = stats.ks_2samp(sorted_reference, sorted_current)
        return TestResult(float(result.statistic), float(result.pvalue))
    statistic = ks_statistic_sorted(sorted_reference, sorted_current)
    return TestResult(statistic, ks_asymptotic_pvalue(statistic, n1, n2))


def ks_asymptotic_pvalue(statistic: float, n1: int, n2: int) -> float:
    """ks_2samp's asymptotic two-sided p-value: `kstwo.sf(d, round(n1 n2 / (n1 + n2)))`."""
    m, n = sorted([float(n1), float(n2)], reverse=True)
    effective_n = float(np.round(m * n / (m + n)))
    return kstwo_sf(statistic, effective_n)


def ks_statistic_from_counts(
    ref_le: IntArray, cur_le: IntArray, cur_lt: IntArray, cur_between: IntArray, n1: int, n2: int
) -> float:
    """ks_2samp's statistic from counts at the reference's distinct values `u_j`, bit-identical, without the
    current values (so per-batch counts merged by addition suffice).

    `ref_le[j]`, `cur_le[j]`: values <= u_j in each sample; `cur_lt[j]`: current values < u_j;
    `cur_between[j]`: current values strictly between u_{j-1} and u_j. ks_2samp evaluates `F_ref - F_cur` at
    every value of both samples. At a reference value the pair is (ref_le, cur_le). Between two reference
    values F_ref is flat while F_cur rises, so the largest `F_ref - F_cur` there is already reached at u_{j-1}
    (below u_0 it is negative, never the statistic) and the smallest at the last current value before u_j:
    the pair (ref_le[j-1], cur_lt[j]), which exists when cur_between[j] > 0. Above the last reference value
    F_ref is 1, so no gap there exceeds the one at it.
    """
    inside = np.flatnonzero(cur_between > 0)
    ref_before = np.concatenate(([0], ref_le[:-1]))
    minus_ref = np.concatenate((ref_le, ref_before[inside]))
    minus_cur = np.concatenate((cur_le, cur_lt[inside]))
    return max(_gap_plus(ref_le, cur_le, n1, n2), _gap_minus(minus_ref, minus_cur, n1, n2))


def _ranges(starts: IntArray, ends: IntArray) -> IntArray:
    """The concatenation of `arange(start, end)` for each pair, vectorised."""
    lengths = ends - starts
    total = int(lengths.sum())
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def _gap_plus(count_ref: IntArray, count_cur: IntArray, n1: int, n2: int) -> float:
    """`max(cdf1 - cdf2)` over the given points, as ks_2samp computes it.

    The gaps are compared exactly as integers scaled by n1 * n2; the winners are then evaluated as scipy
    evaluates them (`count/n1 - count/n2`), every tied winner included, so the float is scipy's float.
    """
    scaled = count_ref * n2 - count_cur * n1
    top = np.flatnonzero(scaled == scaled.max())
    return float((count_ref[top] / n1 - count_cur[top] / n2).max())


def _gap_minus(count_ref: IntArray, count_cur: IntArray, n1: int, n2: int) -> float:
    """`-min(cdf1 - cdf2)` clipped to [0, 1] over the given points, as ks_2samp computes it."""
    scaled = count_ref * n2 - count_cur * n1
    bottom = np.flatnonzero(scaled == scaled.min())
    return float(np.clip(-(count_ref[bottom] / n1 - count_cur[bottom] / n2).min(), 0, 1))


def _extremes(count_ref: IntArray, count_cur: IntArray, n1: int, n2: int) -> float:
    """ks_2samp's statistic over actual evaluation points (values of either sample)."""
    return max(_gap_plus(count_ref, count_cur, n1, n2), _gap_minus(count_ref, count_cur, n1, n2))


def ks_statistic_sorted(sorted_reference: FloatArray, sorted_current: FloatArray) -> float:
    """The two-sample KS statistic, bit-identical to `ks_2samp`'s, without visiting most of the values.

    ks_2samp evaluates `cdf1 - cdf2` at every value of both samples. Here the line is first cut at
    `KS_GRID_POINTS` reference quantiles, where the gap is computed exactly. On an interval (a, b] the
    reference CDF is at most F1(b) and the current CDF at least F2(a), so `F1(b) - F2(a)` (and
    `F2(b) - F1(a)`) bound every gap inside it. Only intervals whose bound reaches the largest gap found
    on the grid can hold the maximum; their values alone are evaluated exactly (typically a few hundred
    of a million). When too many intervals qualify (near-identical samples), every value is evaluated.
    """
    n1, n2 = sorted_reference.size, sorted_current.size
    picks = np.linspace(0, n1 - 1, min(n1, KS_GRID_POINTS)).astype(np.int64)
    grid = np.unique(sorted_reference[picks])
    grid_ref = np.searchsorted(sorted_reference, grid, side="right")
    grid_cur = np.searchsorted(sorted_current, grid, side="right")
    scaled = grid_ref * n2 - grid_cur * n1
    # Interval k is (grid[k-1], grid[k]], with grid[-1] = -inf and grid[m] = +inf.
    ref_a, cur_a = np.concatenate(([0], grid_ref)), np.concatenate(([0], grid_cur))
    ref_b, cur_b = np.concatenate((grid_ref, [n1])), np.concatenate((grid_cur, [n2]))
    reach_plus = ref_b * n2 - cur_a * n1
    reach_minus = cur_b * n1 - ref_a * n2
    candidates = np.flatnonzero((reach_plus >= scaled.max()) | (reach_minus >= -scaled.min()))
    inside = int((ref_b - ref_a)[candidates].sum() + (cur_b - cur_a)[candidates].sum())
    if inside > (n1 + n2) // KS_FULL_SCAN_FRACTION:
        return _scan_statistic(sorted_reference, sorted_current)
    points = np.concatenate(
        (
            grid,
            sorted_reference[_ranges(ref_a[candidates], ref_b[candidates])],
            sorted_current[_ranges(cur_a[candidates], cur_b[candidates])],
        )
    )
    count_ref = np.searchsorted(sorted_reference, points, side="right")
    count_cur = np.searchsorted(sorted_current, points, side="right")
    return _extremes(count_ref, count_cur, n1, n2)


def _scan_statistic(sorted_reference: FloatArray, sorted_current: FloatArray) -> float:
    """The statistic from every current value (one binary search each into the reference).

    Between consecutive current values the current CDF is flat while the reference CDF rises, so the largest
    gaps sit just below each current value (F_ref from a `left` search, needed only for current values that
    also occur in the reference) and at each current value (`right` search). A non-last member of a tie group
    only yields a candidate that its group's last member dominates, so ties need no grouping.
    """
    n1, n2 = sorted_reference.size, sorted_current.size
    right = np.searchsorted(sorted_reference, sorted_current, side="right")
    # right == 0 clips to index 0, whose value is then above the current value, so never equal.
    in_reference = np.flatnonzero(np.take(sorted_reference, right - 1, mode="clip") == sorted_current)
    left = right
    if in_reference.size:
        left = right.copy()
        left[in_reference] = np.searchsorted(sorted_reference, sorted_current[in_reference], side="left")
    rank = np.arange(0, n2 + 1, dtype=np.int64)  # rank[j+1]: current values <= sorted_current[j], up to ties
    # F_ref - F_cur just below each current value: (left[j], rank[j]);
    # F_cur - F_ref at each current value: (right[j], rank[j+1]).
    return max(_gap_plus(left, rank[:-1], n1, n2), _gap_minus(right, rank[1:], n1, n2))


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
