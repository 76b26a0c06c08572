"""Drift statistics streamed over record batches (DESIGN.md section 15): per batch, counts that merge by
addition; the report is then built from the totals by the same code as the in-memory path (`compare.py`).

Per numeric feature a batch contributes its missing and infinite counts, its counts in the reference's decile
bins (PSI, JS) and, for the exact KS statistic, where each finite value falls among the reference's distinct
values `u_0 < ... < u_{U-1}`: code `2j` for a value strictly between u_{j-1} and u_j (`2U` above the last),
`2j + 1` for a value equal to u_j. The totals per code give the current ECDF just below and at every reference
value, which is all ks_2samp's statistic needs (`statistics.ks_statistic_from_counts`). Per categorical feature
a batch contributes its category counts. Memory: the totals hold `2U + 1` int64 per numeric feature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from runtime.drift.columns import CategoricalValues, categorical_values, finite_values, is_supported_type
from runtime.drift.compare import (
    CompareOptions,
    NumericCurrent,
    assemble_report,
    categorical_entry,
    numeric_entry,
    reported_names,
    unavailable_entry,
)
from runtime.drift.errors import DriftInputError
from runtime.drift.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from runtime.drift.statistics import (
    KS_EXACT_MAX_N,
    FloatArray,
    IntArray,
    TestResult,
    bin_counts,
    ks_asymptotic_pvalue,
    ks_statistic_from_counts,
    ks_test_sorted,
)


@dataclass(frozen=True)
class NumericPlan:
    """What a batch needs to count one numeric feature: the reference's bin edges and distinct values."""

    edges: FloatArray
    distinct: FloatArray
    # Keep up to KS_EXACT_MAX_N current values: ks_2samp's exact p-value (both sides that small) needs them.
    keep_values: bool


@dataclass(frozen=True)
class StreamPlan:
    """The per-batch work: which columns are counted how. Built once from the reference profile."""

    numeric: dict[str, NumericPlan]
    categorical: frozenset[str]
    # Columns whose value counts are kept whatever the report compares (the prediction log's caller).
    counted: frozenset[str] = frozenset()


def _distinct(sorted_values: FloatArray) -> tuple[FloatArray, IntArray]:
    """The distinct values of a sorted array and how many values are <= each (one linear pass)."""
    if sorted_values.size == 0:
        return np.empty(0), np.empty(0, dtype=np.int64)
    last = np.empty(sorted_values.size, dtype=bool)
    last[-1] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=last[:-1])
    if last.all():  # no ties: the (memory-mapped) array itself
        return sorted_values, np.arange(1, sorted_values.size + 1, dtype=np.int64)
    ends = np.flatnonzero(last)
    return np.asarray(sorted_values[ends], dtype=np.float64), ends + 1


def make_plan(profile: ReferenceProfile, counted: frozenset[str] = frozenset()) -> StreamPlan:
    """The plan for a profile (reads each numeric feature's sorted reference values once)."""
    numeric: dict[str, NumericPlan] = {}
    categorical: set[str] = set()
    for name, feature in profile.features.items():
        if isinstance(feature, NumericProfile):
            sorted_reference = feature.load_sorted()
            numeric[name] = NumericPlan(
                feature.edges, _distinct(sorted_reference)[0], keep_values=sorted_reference.size <= KS_EXACT_MAX_N
            )
        elif isinstance(feature, CategoricalProfile):
            categorical.add(name)
    return StreamPlan(numeric, frozenset(categorical), counted)


@dataclass
class NumericCounts:
    """One numeric feature's mergeable counts; `codes`/`code_counts` are sparse (sorted codes)."""

    n_rows: int = 0
    n_missing: int = 0
    n_infinite: int = 0
    bins: IntArray | None = None
    codes: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    code_counts: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    values: FloatArray | None = None
    # All 2U + 1 code counts, instead of `codes`/`code_counts`, when most are non-zero (a Ray task's totals).
    dense: IntArray | None = None


@dataclass
class ColumnCounts:
    """A column the report only needs the type and the non-null count of (current-only, unsupported)."""

    data_type: pa.DataType
    n_non_null: int


@dataclass
class Partial:
    """The mergeable counts of some rows (a batch, a file, a Ray task's files)."""

    n_rows: int = 0
    numeric: dict[str, NumericCounts] = field(default_factory=dict)
    categorical: dict[str, CategoricalValues] = field(default_factory=dict)
    counted: dict[str, dict[str | None, int]] = field(default_factory=dict)
    other: dict[str, ColumnCounts] = field(default_factory=dict)
    column_names: list[str] = field(default_factory=list)


def _numeric_counts(plan: NumericPlan, column: pa.ChunkedArray, name: str) -> NumericCounts:
    values, n_rows, n_missing, n_infinite = finite_values(column, name, "current")
    values = np.sort(values)
    counts = NumericCounts(n_rows, n_missing, n_infinite, bin_counts(values, plan.edges))
    if values.size:
        position = np.searchsorted(plan.distinct, values, side="left")
        at = np.minimum(position, plan.distinct.size - 1)
        codes = 2 * position + (plan.distinct[at] == values)
        starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
        counts.codes = codes[starts].astype(np.int64)
        counts.code_counts = np.diff(np.concatenate((starts, [codes.size]))).astype(np.int64)
    if plan.keep_values and values.size <= KS_EXACT_MAX_N:
        counts.values = values
    return counts


def value_counts(column: pa.ChunkedArray) -> dict[str | None, int]:
    counts: dict[str | None, int] = {}
    if column.null_count:
        counts[None] = column.null_count
    if column.null_count < len(column):
        counted = column.drop_null().cast(pa.string()).value_counts()
        for value, count in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True):
            counts[str(value)] = int(count)
    return counts


def batch_partial(plan: StreamPlan, batch: pa.Table, pool: ThreadPoolExecutor | None = None) -> Partial:
    """The counts of one batch (columns in the pool's threads: numpy sorts and searches release the GIL)."""
    partial = Partial(n_rows=batch.num_rows, column_names=list(batch.column_names))

    def one(name: str) -> None:
        column = batch.column(name)
        if name in plan.counted:
            partial.counted[name] = value_counts(column)
        if name in plan.numeric and is_supported_type(column.type):
            partial.numeric[name] = _numeric_counts(plan.numeric[name], column, name)
        elif name in plan.categorical and is_supported_type(column.type):
            partial.categorical[name] = categorical_values(column, name, "current")
        else:
            partial.other[name] = ColumnCounts(column.type, len(column) - column.null_count)

    names = list(dict.fromkeys(batch.column_names))
    if pool is not None:
        list(pool.map(one, names))
    else:
        for name in names:
            one(name)
    return partial


def _merge_sparse(
    codes: IntArray, counts: IntArray, more_codes: IntArray, more_counts: IntArray
) -> tuple[IntArray, IntArray]:
    if codes.size == 0:
        return more_codes, more_counts
    if more_codes.size == 0:
        return codes, counts
    merged, inverse = np.unique(np.concatenate((codes, more_codes)), return_inverse=True)
    totals = np.bincount(inverse, weights=np.concatenate((counts, more_counts)), minlength=merged.size)
    return merged, totals.astype(np.int64)


def _merge_values(left: FloatArray | None, right: FloatArray | None) -> FloatArray | None:
    if left is None or right is None:
        return None
    if left.size + right.size > KS_EXACT_MAX_N:
        return None
    return np.concatenate((left, right))


def _merge_numeric(into: NumericCounts, more: NumericCounts, keep_values: bool) -> None:
    into.n_rows += more.n_rows
    into.n_missing += more.n_missing
    into.n_infinite += more.n_infinite
    into.bins = more.bins if into.bins is None else into.bins + (more.bins if more.bins is not None else 0)
    into.codes, into.code_counts = _merge_sparse(into.codes, into.code_counts, more.codes, more.code_counts)
    into.values = _merge_values(into.values, more.values) if keep_values else None


def merge_categorical(into: CategoricalValues, more: CategoricalValues) -> CategoricalValues:
    counts = dict(into.counts)
    for category, count in more.counts.items():
        counts[category] = counts.get(category, 0) + count
    notes = list(dict.fromkeys([*into.notes, *more.notes]))
    return CategoricalValues(counts, into.n_rows + more.n_rows, into.n_missing + more.n_missing, notes)


def merge(into: Partial, more: Partial, plan: StreamPlan) -> Partial:
    """`into` + `more` (in place on `into`); batches merge in any order and grouping with the same result."""
    into.n_rows += more.n_rows
    for name in more.column_names:
        if name not in into.column_names:
            into.column_names.append(name)
    for name, numeric in more.numeric.items():
        if name not in into.numeric:
            into.numeric[name] = NumericCounts(values=np.empty(0))
        _merge_numeric(into.numeric[name], numeric, plan.numeric[name].keep_values)
    for name, categorical in more.categorical.items():
        existing = into.categorical.get(name)
        into.categorical[name] = categorical if existing is None else merge_categorical(existing, categorical)
    for name, counts in more.counted.items():
        totals = into.counted.setdefault(name, {})
        for value, count in counts.items():
            totals[value] = totals.get(value, 0) + count
    for name, other in more.other.items():
        if name in into.other:
            into.other[name].n_non_null += other.n_non_null
        else:
            into.other[name] = ColumnCounts(other.data_type, other.n_non_null)
    return into


class Totals:
    """The running sum of partials, with the KS code counts dense (`2U + 1` int64 per numeric feature)."""

    def __init__(self, plan: StreamPlan) -> None:
        self.plan = plan
        self.partial = Partial()
        self.dense: dict[str, IntArray] = {}

    def add(self, more: Partial) -> None:
        for name, numeric in more.numeric.items():
            dense = self.dense.get(name)
            if dense is None:
                dense = self.dense[name] = np.zeros(2 * self.plan.numeric[name].distinct.size + 1, dtype=np.int64)
            if numeric.dense is not None:
                dense += numeric.dense
            else:
                dense[numeric.codes] += numeric.code_counts
        merge(self.partial, _without_codes(more), self.plan)

    def sparse(self) -> Partial:
        """The totals as one partial (what a Ray task returns): code counts sparse, or dense when most are set."""
        partial = self.partial
        for name, dense in self.dense.items():
            codes = np.flatnonzero(dense)
            if codes.size > dense.size // 3:
                partial.numeric[name].dense = dense
            else:
                partial.numeric[name].codes, partial.numeric[name].code_counts = codes, dense[codes]
        return partial


def _without_codes(partial: Partial) -> Partial:
    stripped = {
        name: NumericCounts(counts.n_rows, counts.n_missing, counts.n_infinite, counts.bins, values=counts.values)
        for name, counts in partial.numeric.items()
    }
    return Partial(partial.n_rows, stripped, partial.categorical, partial.counted, partial.other, partial.column_names)


def _ks_from_counts(dense: IntArray, counts: NumericCounts) -> Callable[[FloatArray], TestResult]:
    def test(sorted_reference: FloatArray) -> TestResult:
        n1, n2 = int(sorted_reference.size), int(dense.sum())
        if max(n1, n2) <= KS_EXACT_MAX_N and counts.values is not None:
            return ks_test_sorted(sorted_reference, np.sort(counts.values))
        _, ref_le = _distinct(sorted_reference)
        cumulative = np.cumsum(dense)
        cur_le, cur_lt = cumulative[1::2], cumulative[0:-1:2]
        statistic = ks_statistic_from_counts(ref_le, cur_le, cur_lt, dense[0:-1:2], n1, n2)
        return TestResult(statistic, ks_asymptotic_pvalue(statistic, n1, n2))

    return test


def _numeric_current(totals: Totals, name: str) -> NumericCurrent:
    counts = totals.partial.numeric[name]
    dense = totals.dense[name]
    n_values = int(dense.sum())
    bins = counts.bins

    def current_bins(edges: np.ndarray) -> np.ndarray:
        assert bins is not None and bins.size == edges.size + 1
        return bins

    return NumericCurrent(
        n_rows=counts.n_rows,
        n_missing=counts.n_missing,
        n_infinite=counts.n_infinite,
        n_values=n_values,
        bin_counts=current_bins,
        ks_test=_ks_from_counts(dense, counts),
    )


def report_from_totals(profile: ReferenceProfile, totals: Totals, options: CompareOptions) -> dict[str, Any]:
    """The `mlplat.drift/v1` report from merged counts: equal to `compare` on the same rows."""
    partial = totals.partial
    if partial.n_rows == 0:
        raise DriftInputError("the current sample is empty (0 rows)")
    names = reported_names(profile, partial.column_names, options)
    entries: dict[str, dict[str, Any]] = {}
    for name in names:
        reference = profile.features.get(name)
        if name in partial.numeric:
            assert isinstance(reference, NumericProfile)
            entries[name] = numeric_entry(reference, _numeric_current(totals, name), options)
        elif name in partial.categorical:
            assert isinstance(reference, CategoricalProfile)
            entries[name] = categorical_entry(reference, partial.categorical[name], options)
        else:
            other = partial.other.get(name)
            entry = unavailable_entry(reference, other.data_type if other else None, other.n_non_null if other else 0)
            assert entry is not None
            entries[name] = entry
    return assemble_report(profile, entries, partial.n_rows, options)


def accumulate(plan: StreamPlan, batches: Iterable[pa.Table], workers: int = 1) -> Totals:
    """The totals of a stream of batches."""
    totals = Totals(plan)
    if workers <= 1:
        for batch in batches:
            totals.add(batch_partial(plan, batch))
        return totals
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch in batches:
            totals.add(batch_partial(plan, batch, pool))
    return totals
