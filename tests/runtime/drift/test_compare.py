"""The report against a direct recomputation, the robustness cases, false alarms and power."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from runtime.drift.compare import CompareOptions, compare
from runtime.drift.errors import DriftInputError
from runtime.drift.profile import build_profile
from tests.runtime.drift.samples import mixed_table

OPTIONS = CompareOptions(workers=1)


def run(reference: pa.Table, current: pa.Table, **kwargs: object) -> dict:
    profile = build_profile(reference, **kwargs, workers=1)  # type: ignore[arg-type]
    return compare(profile, current, OPTIONS)


def recompute_numeric(ref: np.ndarray, cur: np.ndarray) -> dict[str, float]:
    edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10))
    full = np.concatenate(([-np.inf], edges, [np.inf]))
    r = np.array([np.sum((ref > lo) & (ref <= hi)) for lo, hi in itertools.pairwise(full)]) / ref.size
    c = np.array([np.sum((cur > lo) & (cur <= hi)) for lo, hi in itertools.pairwise(full)]) / cur.size
    rf, cf = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
    ks = stats.ks_2samp(ref, cur)
    return {
        "psi": float(np.sum((cf - rf) * np.log(cf / rf))),
        "js_distance": float(jensenshannon(r, c, base=2)),
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
    }


def test_numeric_and_categorical_entries_match_a_recomputation() -> None:
    reference, current = mixed_table(1, 12_000), mixed_table(2, 11_000, shift=0.3, category_p=(0.25,) * 4)
    report = run(reference, current, categorical=frozenset({"colour"}), prediction_column="prediction")
    assert report["schema"] == "mlplat.drift/v1"
    for name in ("x0", "x1", "u"):
        entry = report["features"][name]
        expected = recompute_numeric(reference[name].to_numpy(), current[name].to_numpy())
        for key, value in expected.items():
            assert entry[key] == pytest.approx(value, rel=1e-9, abs=1e-300), (name, key)
        assert entry["chi2_statistic"] is None and entry["kind"] == "numeric"
    colour = report["features"]["colour"]
    cats = sorted(set(reference["colour"].to_pylist()) | set(current["colour"].to_pylist()))
    ref_counts = np.array([reference["colour"].to_pylist().count(k) for k in cats])
    cur_counts = np.array([current["colour"].to_pylist().count(k) for k in cats])
    r, c = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    chi2 = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))
    assert colour["psi"] == pytest.approx(float(np.sum((c - r) * np.log(c / r))))
    assert colour["js_distance"] == pytest.approx(float(jensenshannon(r, c, base=2)))
    assert colour["chi2_statistic"] == pytest.approx(chi2.statistic)
    assert colour["chi2_pvalue"] == pytest.approx(chi2.pvalue)
    assert colour["ks_statistic"] is None
    assert report["prediction"]["kind"] == "numeric" and "prediction" not in report["features"]
    assert report["features"]["x0"]["status"] == "ok" or report["features"]["x0"]["psi"] >= 0.1
    statuses = [entry["status"] for entry in report["features"].values()]
    assert report["dataset"]["drift_share"] == statuses.count("alert") / len(statuses)


def test_missing_values_are_excluded_and_reported() -> None:
    rng = np.random.default_rng(3)
    ref_values, cur_values = rng.normal(size=2000), rng.normal(size=1500)
    ref_values[:200] = np.nan
    cur = pa.array(cur_values, mask=np.arange(1500) < 300)
    report = run(pa.table({"x": ref_values}), pa.table({"x": cur}))
    entry = report["features"]["x"]
    assert entry["missing_share_reference"] == pytest.approx(0.1)
    assert entry["missing_share_current"] == pytest.approx(0.2)
    assert (entry["n_reference"], entry["n_current"]) == (1800, 1200)
    assert entry["psi"] == pytest.approx(recompute_numeric(ref_values[200:], cur_values[300:])["psi"])
    assert any("missing values in the current excluded" in p for p in entry["problems"])


def test_infinities_are_excluded_and_reported() -> None:
    rng = np.random.default_rng(4)
    ref, cur = rng.normal(size=1000), rng.normal(size=1000)
    cur[:10], cur[10:15] = np.inf, -np.inf
    entry = run(pa.table({"x": ref}), pa.table({"x": cur}))["features"]["x"]
    assert entry["infinite_share_current"] == pytest.approx(0.015)
    assert entry["n_current"] == 985
    assert entry["ks_statistic"] == pytest.approx(stats.ks_2samp(ref, cur[15:]).statistic)


def test_nan_only_column_is_unavailable_not_a_crash() -> None:
    report = run(
        pa.table({"x": np.full(100, np.nan), "y": np.arange(100.0)}),
        pa.table({"x": np.ones(50), "y": np.arange(50.0)}),
    )
    entry = report["features"]["x"]
    assert entry["status"] == "unavailable"
    assert entry["missing_share_reference"] == 1.0
    assert "no finite values in the reference" in entry["problems"]
    assert report["dataset"]["status"] in {"warn", "alert"}


def test_constant_reference_column_gets_two_bins() -> None:
    report = run(pa.table({"x": np.full(500, 2.0)}), pa.table({"x": np.r_[np.full(400, 2.0), np.full(100, 3.0)]}))
    entry = report["features"]["x"]
    assert entry["bins"]["reference"] == [1.0, 0.0] and entry["bins"]["current"] == [0.8, 0.2]
    assert any("constant" in p for p in entry["problems"])
    assert entry["status"] == "alert"


def test_unseen_categories_count_and_are_named() -> None:
    ref = pa.table({"c": ["a"] * 60 + ["b"] * 40})
    cur = pa.table({"c": ["a"] * 50 + ["b"] * 30 + ["zz"] * 20})
    entry = run(ref, cur)["features"]["c"]
    assert entry["bins"]["labels"] == ["a", "b", "zz"]
    assert entry["bins"]["reference"][2] == 0.0
    assert any("'zz'" in p for p in entry["problems"])
    assert entry["psi"] > 0.25


def test_columns_missing_on_either_side_are_reported() -> None:
    ref = pa.table({"a": np.arange(100.0), "only_ref": np.arange(100.0)})
    cur = pa.table({"a": np.arange(100.0), "only_cur": np.arange(100.0)})
    report = run(ref, cur)
    assert report["features"]["only_ref"]["status"] == "unavailable"
    assert "column missing in the current sample" in report["features"]["only_ref"]["problems"]
    assert "column missing in the reference" in report["features"]["only_cur"]["problems"]
    assert report["dataset"]["n_unavailable"] == 2


def test_empty_samples_are_clear_errors() -> None:
    with pytest.raises(DriftInputError, match="current sample is empty"):
        run(pa.table({"x": [1.0, 2.0]}), pa.table({"x": pa.array([], pa.float64())}))
    with pytest.raises(DriftInputError, match="reference sample is empty"):
        run(pa.table({"x": pa.array([], pa.float64())}), pa.table({"x": [1.0]}))
    with pytest.raises(DriftInputError, match="share no columns"):
        run(pa.table({"x": [1.0]}), pa.table({"y": [1.0]}))


def test_tiny_samples_are_marked_unreliable() -> None:
    rng = np.random.default_rng(5)
    report = run(pa.table({"x": rng.normal(size=20)}), pa.table({"x": rng.normal(size=20)}))
    entry = report["features"]["x"]
    assert entry["reliable"] is False and entry["psi"] is not None
    assert any(p.startswith("unreliable") for p in entry["problems"])
    assert report["dataset"]["reliable"] is False
    big = run(pa.table({"x": rng.normal(size=3000)}), pa.table({"x": rng.normal(size=3000)}))
    assert big["features"]["x"]["reliable"] is True


def test_mixed_dtypes() -> None:
    # Integers against floats compare as numbers; numeric text is parsed; mixed text is categorical.
    ints = pa.table({"n": pa.array(range(200), pa.int32()), "t": ["1.5", " 2"] * 100, "m": ["1", "x"] * 100})
    floats = pa.table({"n": np.arange(200.0), "t": np.r_[[1.5] * 100, [2.0] * 100], "m": ["1", "x"] * 100})
    report = run(floats, ints)
    assert report["features"]["n"]["psi"] == 0.0
    assert report["features"]["t"]["kind"] == "numeric" and report["features"]["t"]["psi"] == 0.0
    assert report["features"]["m"]["kind"] == "categorical"
    with pytest.raises(DriftInputError, match=r"'t' is numeric.*'oops'"):
        run(floats, pa.table({"n": np.arange(3.0), "t": ["1", "oops", "2"], "m": ["1", "x", "x"]}))


def test_booleans_and_numbers_declared_categorical_compare_as_text() -> None:
    ref = pa.table({"flag": [True, False] * 100, "code": [1, 2, 3, 4] * 50})
    cur = pa.table({"flag": [True] * 150 + [False] * 50, "code": [1, 2, 3, 4] * 50})
    report = run(ref, cur, categorical=frozenset({"code"}))
    assert report["features"]["flag"]["kind"] == "categorical"
    assert report["features"]["flag"]["bins"]["labels"] == ["false", "true"]
    assert report["features"]["code"]["kind"] == "categorical" and report["features"]["code"]["psi"] == 0.0


def test_false_alarm_rate_stays_below_5_percent() -> None:
    # Just above the smallest size our rule calls reliable for deciles (174 a side), and at a comfortable one.
    for n, seeds in ((180, 200), (2000, 60)):
        feature_alerts = features = dataset_alerts = 0
        for seed in range(seeds):
            report = run(mixed_table(seed, n), mixed_table(10_000 + seed, n), prediction_column="prediction")
            entries = [*report["features"].values(), report["prediction"]]
            assert all(entry["reliable"] for entry in entries)
            feature_alerts += sum(entry["status"] == "alert" for entry in entries)
            features += len(entries)
            dataset_alerts += report["dataset"]["status"] == "alert"
        assert feature_alerts / features < 0.05, n
        assert dataset_alerts / seeds < 0.05, n


def test_power_on_known_shifts() -> None:
    seeds = 30
    mean_shift = scale_shift = category_shift = ks_rejects = 0
    for seed in range(seeds):
        reference = mixed_table(seed, 2000)
        shifted = mixed_table(500 + seed, 2000, shift=0.7, category_p=(0.1, 0.2, 0.3, 0.4))
        report = run(reference, shifted)
        mean_shift += report["features"]["x0"]["status"] == "alert"
        category_shift += report["features"]["colour"]["status"] == "alert"
        ks_rejects += report["features"]["x0"]["ks_pvalue"] < 0.05
        wide = mixed_table(900 + seed, 2000).set_column(
            1, "x1", pa.array(np.random.default_rng(seed).normal(0, 2, 2000))
        )
        scale_shift += run(reference, wide)["features"]["x1"]["status"] == "alert"
        assert report["dataset"]["status"] in {"warn", "alert"}
    assert mean_shift / seeds >= 0.95
    assert category_shift / seeds >= 0.95
    assert scale_shift / seeds >= 0.95
    assert ks_rejects == seeds
