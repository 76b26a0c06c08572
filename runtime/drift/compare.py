"""Compare a current sample with a reference profile: the `mlplat.drift/v1` report as a plain dict.

Every reference feature and every current column appears in the report; one that cannot be compared (missing
on one side, no values, unsupported type) is `unavailable` with its problems spelled out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from runtime.drift.columns import (
    CategoricalValues,
    Kind,
    categorical_values,
    infer_kind,
    is_supported_type,
    numeric_values,
)
from runtime.drift.errors import DriftInputError
from runtime.drift.profile import CategoricalProfile, FeatureProfile, NumericProfile, ReferenceProfile
from runtime.drift.statistics import (
    FloatArray,
    TestResult,
    bin_counts,
    chi2_test,
    js_distance,
    ks_test_sorted,
    null_psi_quantile,
    proportions,
    psi,
)
from runtime.drift.thresholds import SEVERITY, Status, Thresholds, dataset_status, drift_share

REPORT_SCHEMA = "mlplat.drift/v1"
# Below this many values on either side a feature's statistics are marked unreliable, whatever the bins.
MIN_RELIABLE_VALUES = 30
# At most this many bins go into the report's plot data (the statistics always use every category).
MAX_PLOTTED_BINS = 30
MAX_LISTED_CATEGORIES = 10
# Category values and labels are cut to this many characters in the report (a value can be megabytes long).
MAX_LABEL_CHARS = 80


def shorten(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    """`text` cut to `limit` characters, saying how long it was (bounds the report whatever the data)."""
    return text if len(text) <= limit else f"{text[: limit - 20]}...({len(text)} chars)"


def quoted(value: object) -> str:
    """A data value quoted for a message, shortened."""
    return repr(shorten(str(value)))


@dataclass(frozen=True, kw_only=True)
class CompareOptions:
    """What a comparison needs besides the data."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    min_reliable_values: int = MIN_RELIABLE_VALUES
    exclude: frozenset[str] = frozenset()
    workers: int = 2


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _empty_entry(kind: Kind) -> dict[str, Any]:
    return {
        "kind": str(kind),
        "psi": None,
        "js_distance": None,
        "ks_statistic": None,
        "ks_pvalue": None,
        "chi2_statistic": None,
        "chi2_pvalue": None,
        "unseen_share": None,
        "missing_share_reference": None,
        "missing_share_current": None,
        "infinite_share_reference": None,
        "infinite_share_current": None,
        "n_reference": 0,
        "n_current": 0,
        "status": str(Status.UNAVAILABLE),
        "reliable": False,
        "null_psi_99": None,
        "ks_exact": None,
        "problems": [],
        "bins": None,
    }


def _edge_labels(edges: np.ndarray) -> list[str]:
    if edges.size == 0:
        return ["all"]
    labels = [f"<= {edges[0]:.4g}"]
    labels += [f"({low:.4g}, {high:.4g}]" for low, high in itertools.pairwise(edges)]
    labels.append(f"> {edges[-1]:.4g}")
    return labels


def _finish(entry: dict[str, Any], n_bins: int, options: CompareOptions) -> dict[str, Any]:
    n_ref, n_cur = entry["n_reference"], entry["n_current"]
    entry["null_psi_99"] = null_psi_quantile(n_ref, n_cur, n_bins)
    entry["reliable"] = bool(
        min(n_ref, n_cur) >= options.min_reliable_values and entry["null_psi_99"] < options.thresholds.psi_alert
    )
    if not entry["reliable"]:
        entry["problems"].append(
            f"unreliable: {n_ref} reference and {n_cur} current values over {n_bins} bins "
            f"(same-distribution PSI would reach {entry['null_psi_99']:.3g} at the 99th percentile; "
            f"need at least {options.min_reliable_values} values and less than "
            f"{options.thresholds.psi_alert})"
        )
    entry["status"] = str(options.thresholds.feature_status(entry["psi"]))
    return entry


@dataclass(frozen=True, kw_only=True)
class NumericCurrent:
    """What a numeric comparison needs from the current sample: counts, and the KS test given the sorted
    reference (computed from the values in memory, or from merged per-batch counts when streaming)."""

    n_rows: int
    n_missing: int
    n_infinite: int
    n_values: int
    bin_counts: Callable[[np.ndarray], np.ndarray]
    ks_test: Callable[[FloatArray], TestResult]


def numeric_current(column: pa.ChunkedArray, name: str) -> NumericCurrent:
    """The in-memory summary of a current numeric column (sorted once)."""
    current = numeric_values(column, name, "current")
    values = current.sorted_values
    return NumericCurrent(
        n_rows=current.n_rows,
        n_missing=current.n_missing,
        n_infinite=current.n_infinite,
        n_values=int(values.size),
        bin_counts=lambda edges: bin_counts(values, edges),
        ks_test=lambda reference: ks_test_sorted(reference, values),
    )


def numeric_entry(reference: NumericProfile, current: NumericCurrent, options: CompareOptions) -> dict[str, Any]:
    """A numeric feature's report entry."""
    entry = _empty_entry(Kind.NUMERIC)
    entry |= {
        "missing_share_reference": _share(reference.n_missing, reference.n_rows),
        "missing_share_current": _share(current.n_missing, current.n_rows),
        "infinite_share_reference": _share(reference.n_infinite, reference.n_rows),
        "infinite_share_current": _share(current.n_infinite, current.n_rows),
        "n_reference": reference.n_values,
        "n_current": current.n_values,
        "ks_exact": reference.ks_exact,
    }
    for side, missing, infinite in (
        ("reference", reference.n_missing, reference.n_infinite),
        ("current", current.n_missing, current.n_infinite),
    ):
        if missing:
            entry["problems"].append(f"{missing} missing values in the {side} excluded")
        if infinite:
            entry["problems"].append(f"{infinite} infinite values in the {side} excluded")
    for side, count in (("reference", entry["n_reference"]), ("current", entry["n_current"])):
        if count == 0:
            entry["problems"].append(f"no finite values in the {side}")
    if entry["n_reference"] == 0 or entry["n_current"] == 0:
        return entry
    if reference.edges.size == 1:
        entry["problems"].append(f"the reference is constant ({reference.edges[0]:.6g}): two bins")
    current_counts = current.bin_counts(reference.edges)
    r, c = proportions(reference.counts), proportions(current_counts)
    ks = current.ks_test(reference.load_sorted())
    entry |= {
        "psi": psi(r, c),
        "js_distance": js_distance(r, c),
        "ks_statistic": ks.statistic,
        "ks_pvalue": ks.pvalue,
        "bins": {"labels": _edge_labels(reference.edges), "reference": r.tolist(), "current": c.tolist()},
    }
    return _finish(entry, int(r.size), options)


def _plotted_categories(categories: list[str], r: np.ndarray, c: np.ndarray) -> dict[str, Any]:
    if len(categories) <= MAX_PLOTTED_BINS:
        return {"labels": [shorten(label) for label in categories], "reference": r.tolist(), "current": c.tolist()}
    top = np.argsort(-np.maximum(r, c), kind="stable")[: MAX_PLOTTED_BINS - 1]
    rest = np.setdiff1d(np.arange(len(categories)), top)
    return {
        "labels": [shorten(categories[i]) for i in top] + [f"(other {rest.size})"],
        "reference": [*r[top].tolist(), float(r[rest].sum())],
        "current": [*c[top].tolist(), float(c[rest].sum())],
    }


def categorical_entry(
    reference: CategoricalProfile, current: CategoricalValues, options: CompareOptions
) -> dict[str, Any]:
    """A categorical feature's report entry; its status is the worse of the PSI tier and the unseen share's."""
    entry = _empty_entry(Kind.CATEGORICAL)
    entry["problems"] += [*reference.notes, *current.notes]
    entry |= {
        "missing_share_reference": _share(reference.n_missing, reference.n_rows),
        "missing_share_current": _share(current.n_missing, current.n_rows),
        "n_reference": reference.n_values,
        "n_current": current.n_rows - current.n_missing,
    }
    for side, missing in (("reference", reference.n_missing), ("current", current.n_missing)):
        if missing:
            entry["problems"].append(f"{missing} missing values in the {side} excluded")
    unseen = [category for category in current.counts if category not in reference.counts]
    if unseen:
        listed = ", ".join(quoted(category) for category in unseen[:MAX_LISTED_CATEGORIES])
        more = f" and {len(unseen) - MAX_LISTED_CATEGORIES} more" if len(unseen) > MAX_LISTED_CATEGORIES else ""
        entry["problems"].append(f"{len(unseen)} categories not seen in the reference: {listed}{more}")
    for side, count in (("reference", entry["n_reference"]), ("current", entry["n_current"])):
        if count == 0:
            entry["problems"].append(f"no values in the {side}")
    if entry["n_reference"] == 0 or entry["n_current"] == 0:
        return entry
    categories = sorted(set(reference.counts) | set(current.counts))
    ref_counts = np.array([reference.counts.get(category, 0) for category in categories], dtype=np.int64)
    cur_counts = np.array([current.counts.get(category, 0) for category in categories], dtype=np.int64)
    r, c = proportions(ref_counts), proportions(cur_counts)
    chi2 = chi2_test(ref_counts, cur_counts)
    entry |= {
        "psi": psi(r, c),
        "js_distance": js_distance(r, c),
        "chi2_statistic": chi2.statistic,
        "chi2_pvalue": chi2.pvalue,
        "unseen_share": sum(current.counts[category] for category in unseen) / entry["n_current"],
        "bins": _plotted_categories(categories, r, c),
    }
    entry = _finish(entry, len(categories), options)
    unseen_status = options.thresholds.unseen_status(entry["unseen_share"])
    if SEVERITY[unseen_status] > SEVERITY[Status(entry["status"])]:
        entry["status"] = str(unseen_status)
        entry["problems"].append(
            f"{entry['unseen_share']:.1%} of current values are categories unseen in the reference "
            f"({unseen_status} from {options.thresholds.unseen_warn:g} / {options.thresholds.unseen_alert:g})"
        )
    return entry


def unavailable_entry(
    reference: FeatureProfile | None, current_type: pa.DataType | None, current_non_null: int
) -> dict[str, Any] | None:
    """The entry of a feature that cannot be compared (missing on a side, unsupported type), else None."""
    if reference is None:
        assert current_type is not None
        entry = _empty_entry(infer_kind(current_type, None, declared_categorical=False))
        entry["problems"].append("column missing in the reference")
        entry["n_current"] = current_non_null
        return entry
    if current_type is None:
        entry = _empty_entry(reference.kind)
        entry["problems"].append("column missing in the current sample")
        entry["n_reference"] = reference.n_rows
        return entry
    if not is_supported_type(current_type):
        entry = _empty_entry(reference.kind)
        entry["problems"].append(f"unsupported column type {current_type} in the current sample")
        return entry
    if not isinstance(reference, NumericProfile | CategoricalProfile):
        entry = _empty_entry(reference.kind)
        entry["problems"].append(reference.problem)
        return entry
    return None


def compare_feature(
    name: str, reference: FeatureProfile | None, column: pa.ChunkedArray | None, options: CompareOptions
) -> dict[str, Any]:
    """One feature's report entry; `None` on a side means the column is missing there."""
    non_null = len(column) - column.null_count if column is not None else 0
    entry = unavailable_entry(reference, column.type if column is not None else None, non_null)
    if entry is not None:
        return entry
    assert column is not None
    if isinstance(reference, NumericProfile):
        return numeric_entry(reference, numeric_current(column, name), options)
    assert isinstance(reference, CategoricalProfile)
    return categorical_entry(reference, categorical_values(column, name, "current"), options)


def _dataset_entry(
    features: dict[str, dict[str, Any]],
    prediction: dict[str, Any] | None,
    n_reference: int,
    n_current: int,
    thresholds: Thresholds,
) -> dict[str, Any]:
    statuses = [Status(entry["status"]) for entry in features.values()]
    prediction_status = Status(prediction["status"]) if prediction is not None else None
    compared = [entry for entry in features.values() if entry["status"] != Status.UNAVAILABLE]
    counted = [*compared, *([prediction] if prediction is not None else [])]
    return {
        "n_reference": n_reference,
        "n_current": n_current,
        "drift_share": drift_share(statuses),
        "status": str(dataset_status(statuses, prediction_status, thresholds)),
        "n_features": len(features),
        "n_alert": sum(status is Status.ALERT for status in statuses),
        "n_warn": sum(status is Status.WARN for status in statuses),
        "n_unavailable": sum(status is Status.UNAVAILABLE for status in statuses),
        "reliable": bool(counted) and all(entry["reliable"] for entry in counted),
        "thresholds": {
            "psi_warn": thresholds.psi_warn,
            "psi_alert": thresholds.psi_alert,
            "drift_share_alert": thresholds.drift_share_alert,
        },
        "problems": [
            f"{name}: {problem}"
            for name, entry in {**features, **({"prediction": prediction} if prediction else {})}.items()
            for problem in entry["problems"]
        ],
    }


def duplicate_names(names: list[str]) -> list[str]:
    """Column names that occur more than once, in order."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return [name for name, count in counts.items() if count > 1]


def reported_names(profile: ReferenceProfile, current_names: list[str], options: CompareOptions) -> list[str]:
    """The report's features in order (the reference's, then current-only columns); refuses current samples
    that cannot be compared (duplicate columns, no prediction column, nothing shared)."""
    duplicates = duplicate_names(current_names)
    if duplicates:
        raise DriftInputError(
            f"the current sample has duplicate columns: {', '.join(quoted(name) for name in duplicates[:10])}"
        )
    prediction_name = profile.prediction_column
    if prediction_name is not None and prediction_name not in current_names:
        raise DriftInputError(f"prediction column {prediction_name!r} is not in the current sample")
    reference_names = [name for name in profile.features if name not in options.exclude]
    current_only = [name for name in current_names if name not in profile.features and name not in options.exclude]
    if not set(reference_names) & set(current_names):
        raise DriftInputError(
            "the reference and the current sample share no columns "
            f"(reference: {', '.join(reference_names[:10])}; current: {', '.join(current_names[:10])})"
        )
    return [*reference_names, *current_only]


def assemble_report(
    profile: ReferenceProfile, entries: dict[str, dict[str, Any]], n_current: int, options: CompareOptions
) -> dict[str, Any]:
    """The `mlplat.drift/v1` document from the features' entries (the prediction's among them)."""
    entries = dict(entries)
    prediction_name = profile.prediction_column
    prediction = entries.pop(prediction_name) if prediction_name is not None else None
    dataset = _dataset_entry(entries, prediction, profile.n_rows, n_current, options.thresholds)
    return {"schema": REPORT_SCHEMA, "dataset": dataset, "features": entries, "prediction": prediction}


def compare(profile: ReferenceProfile, current: pa.Table, options: CompareOptions | None = None) -> dict[str, Any]:
    """The full report: every feature, the prediction (if the profile names one) and the dataset verdict."""
    options = options or CompareOptions()
    if current.num_rows == 0:
        raise DriftInputError("the current sample is empty (0 rows)")
    names = reported_names(profile, current.column_names, options)

    def one(name: str) -> dict[str, Any]:
        column = current.column(name) if name in current.column_names else None
        return compare_feature(name, profile.features.get(name), column, options)

    with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
        entries = dict(zip(names, pool.map(one, names), strict=True))
    return assemble_report(profile, entries, current.num_rows, options)


def clean_floats(value: Any) -> Any:
    """JSON cannot hold NaN or infinity: such floats become null (recursively)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: clean_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean_floats(item) for item in value]
    return value
