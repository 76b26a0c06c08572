"""Saved reference profiles: same report as from the raw reference, optional bounded KS sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from runtime.drift.compare import CompareOptions, compare
from runtime.drift.profile import build_profile, load_profile, profile_bytes, save_profile
from tests.runtime.drift.samples import mixed_table


def test_saved_profile_gives_the_same_report(tmp_path: Path) -> None:
    reference, current = mixed_table(1, 15_000), mixed_table(2, 12_000, shift=0.2)
    profile = build_profile(reference, prediction_column="prediction", workers=2)
    save_profile(profile, tmp_path / "p.npz")
    loaded = load_profile((tmp_path / "p.npz").read_bytes())
    assert loaded.prediction_column == "prediction" and loaded.n_rows == 15_000
    direct = compare(profile, current, CompareOptions())
    again = compare(loaded, current, CompareOptions())
    assert direct == again
    assert load_profile(profile_bytes(profile)).kinds() == profile.kinds()


def test_bounded_ks_sample_is_flagged_as_approximate() -> None:
    reference = pa.table({"x": np.random.default_rng(1).normal(size=50_000)})
    profile = build_profile(reference, max_ks_values=1000)
    loaded = load_profile(profile_bytes(profile))
    assert loaded.features["x"].load_sorted().size == 1000  # type: ignore[union-attr]
    entry = compare(loaded, pa.table({"x": np.random.default_rng(2).normal(size=20_000)}))["features"]["x"]
    assert entry["ks_exact"] is False
    assert entry["bins"]["reference"] == [0.1] * 10  # bins still come from every reference value


def test_unreadable_profile_is_a_clear_error() -> None:
    import pytest

    from runtime.drift.errors import DriftInputError

    with pytest.raises(DriftInputError, match="cannot read the reference profile"):
        load_profile(b"not a profile")


def test_local_profile_arrays_are_memory_mapped(tmp_path: Path) -> None:
    reference = mixed_table(3, 20_000)
    profile = build_profile(reference)
    save_profile(profile, tmp_path / "p.npz")
    loaded = load_profile(tmp_path / "p.npz")
    values = loaded.features["x1"].load_sorted()  # type: ignore[union-attr]
    assert isinstance(values, np.memmap)
    assert np.array_equal(values, np.sort(reference["x1"].to_numpy()))
    current = mixed_table(4, 15_000, shift=0.3)
    assert compare(loaded, current, CompareOptions()) == compare(profile, current, CompareOptions())
