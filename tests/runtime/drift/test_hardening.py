"""Issue 20's drift findings, each reproduced: unseen categories (6), exit codes (12), profile validation (13),
report size (14), the job's categorical setting (16) and private file modes (17)."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runtime.drift.cli import main
from runtime.drift.compare import CompareOptions, compare
from runtime.drift.errors import DriftInputError
from runtime.drift.html import render_html
from runtime.drift.profile import build_profile, load_profile, profile_bytes
from runtime.drift.runner import report_json
from tests.runtime.drift.samples import mixed_table


@pytest.fixture
def samples(tmp_path: Path) -> tuple[Path, Path]:
    reference, current = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    pq.write_table(mixed_table(1, 3000), reference)
    pq.write_table(mixed_table(2, 3000), current)
    return reference, current


def test_shift_among_rare_categories_is_an_alert() -> None:
    """Item 6: 20,000 categories of 10 rows each, then entirely different ones: PSI sees nothing (every share
    is below its floor), the unseen share is 1."""
    reference = pa.table({"c": [f"r{i}" for i in range(20_000) for _ in range(10)]})
    current = pa.table({"c": [f"n{i}" for i in range(20_000) for _ in range(10)]})
    entry = compare(build_profile(reference, workers=1), current, CompareOptions(workers=1))["features"]["c"]
    assert entry["psi"] == 0.0
    assert entry["unseen_share"] == 1.0 and entry["status"] == "alert"
    mild = pa.table({"c": [f"r{i}" for i in range(20_000) for _ in range(9)] + [f"n{i}" for i in range(30_000)]})
    entry = compare(build_profile(reference, workers=1), mild, CompareOptions(workers=1))["features"]["c"]
    assert entry["unseen_share"] == pytest.approx(30_000 / 210_000) and entry["status"] == "warn"


def _rewrite(data: bytes, change: Callable[[dict[str, Any]], None], compression: int = zipfile.ZIP_STORED) -> bytes:
    """The profile with its meta document changed (numpy's .npy layout for the uint8 meta array)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    meta = json.loads(np.load(io.BytesIO(data))["meta"].tobytes())
    change(meta)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as target:
        for info in source.infolist():
            if info.filename == "meta.npy":
                array = io.BytesIO()
                np.save(array, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
                target.writestr("meta.npy", array.getvalue())
            else:
                target.writestr(info.filename, source.read(info.filename))
    return out.getvalue()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(meta: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = meta
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value

    return change


@pytest.fixture(scope="module")
def profile_data() -> bytes:
    return profile_bytes(build_profile(mixed_table(1, 2000), categorical=frozenset({"colour"}), workers=1))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("features.0.counts", [-5, 205, 200, 200, 200, 200, 200, 200, 200, 400]), "greater than or equal to 0"),
        (_set("features.0.edges", [float("nan")] * 9), "finite number"),
        (_set("features.0.counts", [1, 2]), "need 10 counts"),
        (_set("features.0.n_values", 5), "must equal n_rows"),
        (_set("features.4.counts", {"a": 1}), "must equal n_rows"),
        (_set("features.0.kind", "numeric"), None),
        (lambda meta: meta["features"][0].pop("edges"), "edges"),
        (_set("n_rows", "many"), "n_rows"),
        (_set("prediction_column", "nope"), "prediction column 'nope'"),
    ],
)
def test_malformed_profiles_are_refused(
    profile_data: bytes, change: Callable[[dict[str, Any]], None], message: str | None
) -> None:
    """Item 13: negative counts, NaN edges, inconsistent shapes and totals are refused, not reported as drift."""
    data = _rewrite(profile_data, change)
    if message is None:
        assert load_profile(data).n_rows == 2000
        return
    with pytest.raises(DriftInputError, match=message):
        load_profile(data)


def test_unsorted_or_oversized_values_are_refused(profile_data: bytes, tmp_path: Path) -> None:
    archive = zipfile.ZipFile(io.BytesIO(profile_data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in archive.infolist():
            body = archive.read(info.filename)
            if info.filename == "sorted_0.npy":
                array = io.BytesIO()
                np.save(array, np.load(io.BytesIO(body))[::-1].copy())
                body = array.getvalue()
            if info.filename == "sorted_1.npy":
                array = io.BytesIO()
                np.save(array, np.zeros(10_000))
                body = array.getvalue()
            target.writestr(info.filename, body)
    (tmp_path / "p.npz").write_bytes(out.getvalue())
    with pytest.raises(DriftInputError, match=r"sorted_1\.npy"):
        load_profile(out.getvalue())
    assert main(["run", "--reference-profile", str(tmp_path / "p.npz"), "--current", "/nonexistent"]) == 2


def test_a_zip_bomb_profile_is_refused_before_decompressing(profile_data: bytes) -> None:
    """Item 13: 70 MB of JSON whitespace deflates to ~70 KB; the declared size is refused up front."""
    padding = b" " * (70 << 20)

    def pad(meta: dict[str, Any]) -> None:
        meta["source"] = "bomb"

    bomb = _rewrite(profile_data, pad)
    source = zipfile.ZipFile(io.BytesIO(bomb))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "meta.npy":
                text = json.loads(np.load(io.BytesIO(body)).tobytes())
                array = io.BytesIO()
                np.save(array, np.frombuffer(padding + json.dumps(text).encode(), dtype=np.uint8))
                body = array.getvalue()
            target.writestr(info.filename, body)
    assert len(out.getvalue()) < 1 << 20
    with pytest.raises(DriftInputError, match="more than 64 MiB"):
        load_profile(out.getvalue())


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_every_error_exits_2(samples: tuple[Path, Path], tmp_path: Path, profile_data: bytes, umask: None) -> None:
    """Item 12: 1 means drift, nothing else."""
    reference, current = samples
    run = ["run", "--reference", str(reference), "--current", str(current)]
    (tmp_path / "dup.csv").write_text("x0,x0\n1,2\n3,4\n")
    assert main(["run", "--reference", str(reference), "--current", str(tmp_path / "dup.csv")]) == 2
    assert (
        main(["run", "--reference", str(reference), "--current", str(tmp_path / "dup.csv"), "--engine", "memory"]) == 2
    )
    assert main([*run, "--out", str(tmp_path)]) == 2
    assert main([*run, "--out", "/dev/full"]) == 2
    assert main([*run, "--out", "s3://bucket-only"]) == 2
    assert main([*run, "--html", str(tmp_path)]) == 2
    broken = tmp_path / "broken.npz"
    broken.write_bytes(_rewrite(profile_data, lambda meta: meta["features"][0].pop("counts")))
    assert main(["run", "--reference-profile", str(broken), "--current", str(current)]) == 2
    assert main([*run, "--fail-on", "warn", "--out", str(tmp_path / "ok.json")]) in (0, 1)


def test_report_size_is_bounded_whatever_the_values() -> None:
    """Item 14: 30 distinct 1 MB category values gave 46 MB of JSON and 72 MB of HTML."""
    reference = pa.table({"c": ["a", "b"] * 200})
    current = pa.table({"c": [f"{i:02d}" + "x" * (1 << 20) for i in range(30)]})
    report = compare(build_profile(reference, workers=1), current, CompareOptions(workers=1))
    assert len(report_json(report)) < 50_000
    assert len(render_html(report, "t")) < 200_000
    assert any("(1048578 chars)" in problem for problem in report["dataset"]["problems"])


def test_reports_and_profiles_are_private(samples: tuple[Path, Path], tmp_path: Path, umask: None) -> None:
    """Item 17: written 0600 in folders created 0700, also over an existing world-readable file."""
    reference, current = samples
    out, html = tmp_path / "new" / "deeper" / "r.json", tmp_path / "new" / "r.html"
    html.parent.mkdir()
    html.write_text("old")
    html.chmod(0o644)
    assert (
        main(["run", "--reference", str(reference), "--current", str(current), "--out", str(out), "--html", str(html)])
        == 0
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and stat.S_IMODE(html.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700
    profile = tmp_path / "profiles" / "p.npz"
    assert main(["profile", "--reference", str(reference), "--out", str(profile)]) == 0
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600 and stat.S_IMODE(profile.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(("declared", "message"), [("colour,nope", "nope"), ("x0", "x0: numeric")])
def test_job_checks_its_categorical_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], declared: str, message: str
) -> None:
    """Item 16: MLPLAT_DRIFT_CATEGORICAL was read but never applied or checked."""
    profile = tmp_path / "p.npz"
    profile.write_bytes(profile_bytes(build_profile(mixed_table(1, 500), categorical=frozenset({"colour"}), workers=1)))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLPLAT_TRACKING_URI", raising=False)
    for key, value in {
        "MODEL_NAME": "m",
        "PREDICTION_LOG_URI": str(tmp_path / "logs"),
        "DRIFT_REFERENCE_PROFILE": str(profile),
        "DRIFT_CATEGORICAL": declared,
    }.items():
        monkeypatch.setenv(f"MLPLAT_{key}", value)
    assert main(["job"]) == 2
    err = capsys.readouterr().err
    assert "MLPLAT_DRIFT_CATEGORICAL" in err and message in err
    monkeypatch.setenv("MLPLAT_DRIFT_CATEGORICAL", "colour")
    assert main(["job"]) == 0
