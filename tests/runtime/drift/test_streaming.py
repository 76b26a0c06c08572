"""The streamed path against the in-memory one and scipy: uneven batches, ties, constant columns, missing
values, empty files, unseen categories, schema changes, many small files, and the Ray engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from runtime.drift.cli import main
from runtime.drift.compare import CompareOptions, clean_floats, compare
from runtime.drift.engine import Engine, StreamOptions, run
from runtime.drift.errors import DriftInputError
from runtime.drift.profile import ReferenceProfile, build_profile, load_profile
from runtime.drift.statistics import ks_statistic_from_counts
from tests.runtime.drift.samples import mixed_table

OPTIONS = CompareOptions(workers=1)


def tricky_tables(n_reference: int, n_current: int, seed: int = 5) -> tuple[pa.Table, pa.Table]:
    """Reference and current with ties at reference values, a constant column, missing and infinite values,
    a categorical with categories the reference never saw, and a shifted feature."""
    reference, current = mixed_table(seed, n_reference), mixed_table(seed + 1, n_current, shift=0.3)
    rng = np.random.default_rng(seed)
    rounded_ref = np.round(reference["x1"].to_numpy(), 1)  # many ties, within and across the samples
    rounded_cur = np.round(current["x1"].to_numpy() + 0.05, 1)
    holes = rng.random(n_current) < 0.05
    with_holes = np.where(holes, np.nan, current["x2"].to_numpy())
    with_holes[:3] = [np.inf, -np.inf, np.inf]
    colour = np.array(current["colour"].to_pylist(), dtype=object)
    colour[rng.random(n_current) < 0.15] = "never-seen"
    reference = reference.set_column(1, "x1", pa.array(rounded_ref)).append_column(
        "flat", pa.array([2.0] * n_reference)
    )
    current = (
        current.set_column(1, "x1", pa.array(rounded_cur))
        .set_column(2, "x2", pa.array(with_holes))
        .set_column(4, "colour", pa.array(colour.tolist()))
        .append_column("flat", pa.array(np.where(rng.random(n_current) < 0.5, 2.0, 3.0)))
    )
    return reference, current


def write_parts(table: pa.Table, folder: Path, sizes: list[int]) -> None:
    """`table` as Parquet parts of the given sizes (0: an empty file) plus the rest."""
    folder.mkdir(parents=True, exist_ok=True)
    offset = 0
    for index, size in enumerate(sizes):
        pq.write_table(table.slice(offset, size), folder / f"part-{index:04d}.parquet")
        offset += size
    pq.write_table(table.slice(offset), folder / f"part-{len(sizes):04d}.parquet")


def profile_of(reference: pa.Table) -> ReferenceProfile:
    return build_profile(reference, categorical=frozenset({"colour"}), prediction_column="prediction", workers=1)


def streamed(profile: ReferenceProfile, folder: Path, **kwargs: Any) -> dict[str, Any]:
    return clean_floats(run(profile, str(folder), OPTIONS, StreamOptions(**kwargs)).report)


@pytest.mark.parametrize(("n_reference", "n_current"), [(3_000, 2_500), (30_000, 25_000)])
def test_streamed_report_equals_the_in_memory_one_and_scipy(tmp_path: Path, n_reference: int, n_current: int) -> None:
    """Small samples take ks_2samp's exact p-value, large ones its asymptotic one: both are equal."""
    reference, current = tricky_tables(n_reference, n_current)
    # an all-missing batch: 700 rows whose x0 is null
    x0 = current["x0"].to_numpy().astype(object)
    x0[1000:1700] = None
    current = current.set_column(0, "x0", pa.array(x0.tolist(), pa.float64()))
    write_parts(current, tmp_path / "cur", [1, 0, 999, 700, 0, 1])
    profile = profile_of(reference)
    expected = clean_floats(compare(profile, current, OPTIONS))
    assert streamed(profile, tmp_path / "cur", batch_rows=333) == expected
    assert streamed(profile, tmp_path / "cur", batch_rows=100_000) == expected
    for name in ("x0", "x1", "x2", "u", "flat"):
        ref = reference[name].to_numpy(zero_copy_only=False).astype(float)
        cur = current[name].to_numpy(zero_copy_only=False).astype(float)
        ks = stats.ks_2samp(ref[np.isfinite(ref)], cur[np.isfinite(cur)])
        assert expected["features"][name]["ks_statistic"] == float(ks.statistic), name
        assert expected["features"][name]["ks_pvalue"] == pytest.approx(float(ks.pvalue), rel=1e-8, abs=1e-300)
    colour = expected["features"]["colour"]
    ref_colour, cur_colour = reference["colour"].to_pylist(), current["colour"].to_pylist()
    categories = sorted(set(ref_colour) | set(cur_colour))
    table = np.array([[ref_colour.count(k) for k in categories], [cur_colour.count(k) for k in categories]])
    chi2 = stats.chi2_contingency(table)
    assert (colour["chi2_statistic"], colour["chi2_pvalue"]) == (float(chi2.statistic), float(chi2.pvalue))
    r, c = table[0] / table[0].sum(), table[1] / table[1].sum()
    assert colour["js_distance"] == float(jensenshannon(r, c, base=2))
    assert colour["unseen_share"] == pytest.approx(np.mean(np.array(current["colour"].to_pylist()) == "never-seen"))
    assert "not seen in the reference" in " ".join(colour["problems"])
    assert expected["features"]["flat"]["psi"] is not None


def test_ks_statistic_from_counts_is_ks_2samp_bit_for_bit() -> None:
    """Against the asymptotic mode's statistic (the exact mode rounds it to a multiple of 1/lcm(n1, n2); the
    streamed path calls ks_2samp itself on the kept values when both samples are that small)."""
    rng = np.random.default_rng(0)
    for trial in range(200):
        n1, n2 = int(rng.integers(1, 60)), int(rng.integers(1, 60))
        reference = np.sort(rng.integers(0, 8, n1).astype(float) + (trial % 3) * 0.5)
        current = np.sort(rng.integers(-2, 10, n2).astype(float))
        distinct = np.unique(reference)
        expected = float(stats.ks_2samp(reference, current, method="asymp").statistic)
        cur_le = np.searchsorted(current, distinct, side="right")
        cur_lt = np.searchsorted(current, distinct, side="left")
        between = cur_lt - np.concatenate(([0], cur_le[:-1]))
        ref_le = np.searchsorted(reference, distinct, side="right")
        assert ks_statistic_from_counts(ref_le, cur_le, cur_lt, between, n1, n2) == expected, trial


def test_a_file_with_another_schema_is_named_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference, current = mixed_table(1, 2000), mixed_table(2, 2000)
    pq.write_table(reference, tmp_path / "ref.parquet")
    write_parts(current, tmp_path / "cur", [500])
    pq.write_table(current.drop_columns(["x1"]), tmp_path / "cur" / "part-0009.parquet")
    argv = ["run", "--reference", str(tmp_path / "ref.parquet"), "--current", str(tmp_path / "cur")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "part-0009.parquet" in err and "missing x1" in err
    (tmp_path / "cur" / "part-0009.parquet").unlink()
    pq.write_table(current.set_column(1, "x1", pa.array(["a"] * 2000)), tmp_path / "cur" / "part-0010.parquet")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "part-0010.parquet" in err and "'x1'" in err


def test_a_prefix_of_thousands_of_small_files(tmp_path: Path) -> None:
    reference, current = mixed_table(1, 5000), mixed_table(2, 6000, shift=0.5)
    write_parts(current, tmp_path / "cur", [3] * 1999)
    profile = profile_of(reference)
    assert len(list((tmp_path / "cur").iterdir())) == 2000
    assert streamed(profile, tmp_path / "cur") == clean_floats(compare(profile, current, OPTIONS))


def test_csv_fields_over_a_megabyte_are_read(tmp_path: Path) -> None:
    """Issue 20 item 15: pyarrow's 1 MB default CSV block refused a longer field ("straddling object")."""
    long_value = "v" * 1_500_000
    (tmp_path / "ref.csv").write_text("x,note\n" + "".join(f"{i},short\n" for i in range(300)))
    (tmp_path / "cur.csv").write_text("x,note\n" + "".join(f"{i},short\n" for i in range(299)) + f"1,{long_value}\n")
    for engine in ("memory", "local"):
        argv = ["run", "--reference", str(tmp_path / "ref.csv"), "--current", str(tmp_path / "cur.csv")]
        assert main([*argv, "--engine", engine, "--out", str(tmp_path / f"{engine}.json")]) == 0
    assert (tmp_path / "memory.json").read_bytes() == (tmp_path / "local.json").read_bytes()


@pytest.mark.slow
def test_ray_engine_equals_the_local_one(tmp_path: Path, local_ray: None) -> None:
    reference, current = tricky_tables(20_000, 24_000, seed=9)
    write_parts(current, tmp_path / "cur", [5000, 0, 1, 7000])
    profile = profile_of(reference)
    local = streamed(profile, tmp_path / "cur", batch_rows=4096)
    assert streamed(profile, tmp_path / "cur", engine=Engine.RAY, batch_rows=3000) == local
    assert local == clean_floats(compare(profile, current, OPTIONS))


def test_streamed_profile_equals_the_in_memory_one(tmp_path: Path) -> None:
    from runtime.drift.profile import profile_bytes
    from runtime.drift.profile_stream import streamed_profile

    reference, _ = tricky_tables(12_000, 10)
    write_parts(reference, tmp_path / "ref", [0, 1, 4000, 333])
    expected = build_profile(
        reference, categorical=frozenset({"colour"}), prediction_column="prediction", source="s", workers=1
    )
    options = {"categorical": frozenset({"colour"}), "prediction_column": "prediction"}
    with streamed_profile(str(tmp_path / "ref"), **options, batch_rows=777) as profile:  # type: ignore[arg-type]
        streamed = profile_bytes(profile)
    assert load_profile(streamed).source == str(tmp_path / "ref")
    same_source = build_profile(
        reference, categorical=frozenset({"colour"}), prediction_column="prediction", source=str(tmp_path / "ref")
    )
    assert streamed == profile_bytes(same_source)
    assert expected.features.keys() == load_profile(streamed).features.keys()
    with streamed_profile(str(tmp_path / "ref"), max_ks_values=100) as bounded:
        assert bounded.features["x0"].load_sorted().size == 100  # type: ignore[union-attr]


@pytest.mark.slow
def test_an_s3_prefix_is_streamed_by_ranged_reads(aws_env: Any) -> None:
    import io

    import boto3

    from runtime.drift import storage

    storage.s3_client.cache_clear()
    boto3.client("s3").create_bucket(Bucket="stream", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    reference, current = tricky_tables(4000, 9000, seed=3)
    offset = 0
    for index, size in enumerate((4000, 0, 5000)):
        buffer = io.BytesIO()
        pq.write_table(current.slice(offset, size), buffer, row_group_size=1000)
        storage.write_bytes(f"s3://stream/logs/hour={index}/part-{index}.parquet", buffer.getvalue())
        offset += size
    profile = profile_of(reference)
    report = clean_floats(run(profile, "s3://stream/logs", OPTIONS, StreamOptions(batch_rows=700)).report)
    assert report == clean_floats(compare(profile, current, OPTIONS))
    storage.s3_client.cache_clear()


def test_the_job_reads_windows_whose_files_differ_in_columns(tmp_path: Path) -> None:
    """A window can span two model versions with different features: the job's layout reads a column a
    file lacks as null (the in-memory path's permissive concatenation did the same); `run` refuses."""
    from runtime.drift import sources

    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0], "old": ["a", "b"]}), first)
    pq.write_table(pa.table({"x": [3.0], "new": [5.0]}), second)
    layout = sources.layout_of([str(first), str(second)], any_columns=True)
    assert layout.names == ["x", "old", "new"]
    batches = list(sources.stream(layout))
    assert batches[1].column("old").to_pylist() == [None] and batches[0].column("new").to_pylist() == [None, None]
    with pytest.raises(DriftInputError, match=r"b\.parquet: its columns differ"):
        sources.layout_of([str(first), str(second)])
