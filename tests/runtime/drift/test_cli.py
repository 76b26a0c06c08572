"""`mlplat-drift run` and `profile`: outputs, exit codes and clear errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from runtime.drift.cli import main
from tests.runtime.drift.samples import mixed_table

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def samples(tmp_path: Path) -> tuple[Path, Path]:
    reference, current = tmp_path / "ref.parquet", tmp_path / "cur.csv"
    pq.write_table(mixed_table(1, 4000), reference)
    pacsv.write_csv(mixed_table(2, 3000, shift=1.0, category_p=(0.1, 0.2, 0.3, 0.4)), current)
    return reference, current


def test_run_writes_json_and_html_and_fails_on_alert(samples: tuple[Path, Path], tmp_path: Path) -> None:
    reference, current = samples
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    argv = [
        "run",
        "--reference",
        str(reference),
        "--current",
        str(current),
        "--prediction-column",
        "prediction",
    ]
    assert main([*argv, "--out", str(out), "--html", str(html)]) == 0
    report = json.loads(out.read_text())
    assert report["features"]["x0"]["status"] == "alert"
    assert report["features"]["colour"]["kind"] == "categorical"
    assert report["dataset"]["status"] == "alert"  # 2 of 5 features at alert: share 0.4 > 0.2
    assert "<svg" in html.read_text()
    assert main([*argv, "--out", str(out), "--fail-on", "warn"]) == 1
    assert main([*argv, "--out", str(out), "--fail-on", "alert", "--psi-alert", "50", "--psi-warn", "40"]) == 0


def test_profile_then_run_from_profile_matches_raw(samples: tuple[Path, Path], tmp_path: Path) -> None:
    reference, current = samples
    profile = tmp_path / "profile.npz"
    assert (
        main(
            [
                "profile",
                "--reference",
                str(reference),
                "--out",
                str(profile),
                "--prediction-column",
                "prediction",
            ]
        )
        == 0
    )
    raw, saved = tmp_path / "raw.json", tmp_path / "saved.json"
    main(
        [
            "run",
            "--reference",
            str(reference),
            "--current",
            str(current),
            "--prediction-column",
            "prediction",
            "--out",
            str(raw),
        ]
    )
    main(["run", "--reference-profile", str(profile), "--current", str(current), "--out", str(saved)])
    assert json.loads(raw.read_text()) == json.loads(saved.read_text())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "missing.parquet", d / "ref.parquet"), "no such file"),
        (lambda d: (d / "ref.parquet", d / "notes.txt"), "unknown format"),
        (lambda d: (d / "ref.parquet", d / "empty.parquet"), "current sample is empty"),
        (lambda d: (d / "ref.parquet", d / "garbage.parquet"), "cannot read it as parquet"),
        (lambda d: (d / "ref.parquet", d / "text.csv"), "holds text that is not a number"),
        (lambda d: (d / "ref.parquet", d / "nodir"), "no .parquet or .csv files"),
    ],
)
def test_bad_input_is_a_clear_message_and_exit_2(
    make, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pq.write_table(pa.table({"x": np.arange(100.0)}), tmp_path / "ref.parquet")
    pq.write_table(pa.table({"x": pa.array([], pa.float64())}), tmp_path / "empty.parquet")
    (tmp_path / "garbage.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "notes.txt").write_text("x\n1\n")
    (tmp_path / "text.csv").write_text("x\n1\nabc\n")
    (tmp_path / "nodir").mkdir()
    reference, current = make(tmp_path)
    assert main(["run", "--reference", str(reference), "--current", str(current)]) == 2
    assert message in capsys.readouterr().err


def test_unknown_categorical_column_is_an_error(samples: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    reference, current = samples
    assert main(["run", "--reference", str(reference), "--current", str(current), "--categorical", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_module_entry_point_runs(samples: tuple[Path, Path]) -> None:
    reference, current = samples
    argv = [
        sys.executable,
        "-m",
        "runtime.drift",
        "run",
        "--reference",
        str(reference),
        "--current",
        str(current),
    ]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["schema"] == "mlplat.drift/v1"
    assert "dataset" in done.stderr
