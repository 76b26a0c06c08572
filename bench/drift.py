"""Benchmark: `mlplat-drift` against Evidently's DataDriftPreset on the same generated data, in the same run.

`python -m bench.drift [--rows 1000000] [--numeric 50] [--categorical 3]` generates a reference and a current
sample (Parquet, under build/bench-drift/, reused when the parameters match) with known drift in some
columns, then runs in subprocesses, each measured the same way (wall time; peak RSS from `os.wait4`):
  1. `mlplat-drift profile` on the reference (the training-time step, reported apart),
  2. `mlplat-drift run --reference-profile` (the job's path: the headline figure),
  3. `mlplat-drift run --reference` (raw reference, profiled on the fly),
  4. Evidently 0.7.23 `Report([DataDriftPreset()])` in its own venv (.venv-evidently; it needs pandas < 3),
and writes bench/results/drift.json with the machine, versions, raw figures, the drifted-feature sets and
`ratios` (speed: Evidently's wall time over ours; memory: our peak RSS over Evidently's, below 1 is lower).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "build" / "bench-drift"
RESULTS = REPO / "bench" / "results" / "drift.json"
EVIDENTLY_VENV = REPO / ".venv-evidently"
EVIDENTLY_PINS = ("evidently==0.7.23", "pandas<3", "pyarrow==25.0.1")
SHIFTED = 5  # numeric columns 0..4: mean shifted by 0.75 standard deviations
SCALED = 3  # numeric columns 5..7: spread around the mean scaled by 1.8
DRIFTED_CATEGORICAL = 1  # categorical column c0: proportions reversed
CATEGORIES = np.array(["red", "green", "blue", "amber", "violet"])
CATEGORY_P = np.array([0.4, 0.25, 0.15, 0.12, 0.08])

EVIDENTLY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(sys.argv[1])
    current = pd.read_parquet(sys.argv[2])
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    columns = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            method, value, threshold = config["method"], metric["value"], config["threshold"]
            drifted = bool(value < threshold if "p_value" in method else value >= threshold)
            columns[config["column"]] = {
                "method": method, "value": value, "threshold": threshold, "drift": drifted
            }
    json.dump({"columns": columns}, open(sys.argv[3], "w"))
    """
)


def _base_column(index: int, rng: np.random.Generator, rows: int) -> np.ndarray:
    shape = index % 5
    if shape == 0:
        return rng.normal(10 + index, 1 + index % 3, rows)
    if shape == 1:
        return rng.exponential(2.0, rows)
    if shape == 2:
        return rng.uniform(-1, 1, rows)
    if shape == 3:
        return rng.lognormal(0, 0.5, rows)
    return rng.poisson(3, rows).astype(np.float64)  # integer-valued: many ties


def _drift(index: int, values: np.ndarray) -> np.ndarray:
    if index < SHIFTED:
        return values + 0.75 * values.std()
    if index < SHIFTED + SCALED:
        mean = values.mean()
        return mean + (values - mean) * 1.8
    return values


def generate(rows: int, numeric: int, categorical: int, seed: int, current: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for index in range(numeric):
        values = _base_column(index, rng, rows)
        columns[f"x{index:02d}"] = _drift(index, values) if current else values
    for index in range(categorical):
        p = CATEGORY_P[::-1] if current and index < DRIFTED_CATEGORICAL else CATEGORY_P
        columns[f"c{index}"] = pa.array(CATEGORIES[rng.choice(len(CATEGORIES), rows, p=p)]).dictionary_encode()
    return pa.table(columns)


def expected_drift(numeric: int, categorical: int) -> list[str]:
    drifted = [f"x{index:02d}" for index in range(min(numeric, SHIFTED + SCALED))]
    return drifted + [f"c{index}" for index in range(min(categorical, DRIFTED_CATEGORICAL))]


def ensure_data(rows: int, numeric: int, categorical: int) -> tuple[Path, Path]:
    """Generate the two samples once per parameter set (a stamp file records the parameters)."""
    folder = WORK / f"rows={rows}_numeric={numeric}_categorical={categorical}"
    reference, current, stamp = folder / "reference.parquet", folder / "current.parquet", folder / "done"
    if not stamp.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for path, seed, is_current in ((reference, 1, False), (current, 2, True)):
            pq.write_table(generate(rows, numeric, categorical, seed, is_current), path)
        stamp.write_text("ok\n")
    return reference, current


def measure(argv: list[str], label: str, timeout: float = 3600) -> dict[str, Any]:
    """Run argv in a subprocess; wall seconds, CPU seconds and the child's peak RSS (bytes), measured the same
    way for every tool. The load average around the run is kept: other work on a shared machine stretches
    wall time but not CPU time."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            process.kill()
            raise TimeoutError(f"{label} ran past {timeout:.0f} s")
        time.sleep(0.01)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"{label} exited {process.returncode}:\n{stderr[-3000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    print(f"{label}: {wall:.2f} s wall, {cpu:.2f} s CPU, peak {usage.ru_maxrss / 1024:.0f} MiB", file=sys.stderr)
    return {
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "peak_rss_bytes": int(usage.ru_maxrss) * 1024,
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time, with every run's figures kept alongside."""
    ordered = sorted(runs, key=lambda run: run["wall_seconds"])
    return {**ordered[len(ordered) // 2], "runs": runs}


def ensure_evidently() -> Path:
    """The Evidently venv, created once (idempotent: an import check decides)."""
    python = EVIDENTLY_VENV / "bin" / "python"
    check = [str(python), "-c", "import evidently, pandas; assert evidently.__version__ == '0.7.23'"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *EVIDENTLY_PINS],
        check=True,
    )
    return python


def _output(python: Path, code: str) -> str:
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    memory = 0
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 0
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_bytes": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions(evidently_python: Path | None) -> dict[str, str]:
    import pandas
    import scipy

    found = {
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pyarrow": pa.__version__,
        "pandas": pandas.__version__,
    }
    if evidently_python is not None:
        found["evidently"] = _output(evidently_python, "import evidently; print(evidently.__version__)")
        found["evidently_pandas"] = _output(evidently_python, "import pandas; print(pandas.__version__)")
    return found


def drifted(report_path: Path) -> list[str]:
    report = json.loads(report_path.read_text())
    return sorted(name for name, entry in report["features"].items() if entry["status"] == "alert")


def agreement(ours: list[str], theirs: list[str]) -> dict[str, Any]:
    a, b = set(ours), set(theirs)
    union = a | b
    return {
        "same_set": a == b,
        "jaccard": round(len(a & b) / len(union), 4) if union else 1.0,
        "only_mlplat": sorted(a - b),
        "only_evidently": sorted(b - a),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drift", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--numeric", type=int, default=50)
    parser.add_argument("--categorical", type=int, default=3)
    parser.add_argument("--skip-evidently", action="store_true", help="only our tool (quick iterations)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--repeat", type=int, default=3, help="runs of our tool per mode (the median is used)")
    args = parser.parse_args(argv)

    reference, current = ensure_data(args.rows, args.numeric, args.categorical)
    out = reference.parent / "out"
    out.mkdir(parents=True, exist_ok=True)
    categorical = ",".join(f"c{index}" for index in range(args.categorical))
    drift_cli = [sys.executable, "-m", "runtime.drift"]
    profile = out / "profile.npz"
    figures: dict[str, Any] = {}
    profile_argv = [*drift_cli, "profile", "--reference", str(reference), "--out", str(profile)]
    figures["profile_build"] = measure([*profile_argv, "--categorical", categorical], "mlplat-drift profile")
    figures["profile_build"]["profile_bytes"] = profile.stat().st_size
    from_profile, from_reference = out / "from_profile.json", out / "from_reference.json"
    run = [*drift_cli, "run", "--current", str(current), "--categorical", categorical]
    for key, source, target in (
        ("from_profile", ["--reference-profile", str(profile)], from_profile),
        ("from_reference", ["--reference", str(reference)], from_reference),
    ):
        runs = [
            measure([*run, *source, "--out", str(target)], f"mlplat-drift run {source[0]}") for _ in range(args.repeat)
        ]
        figures[key] = median_run(runs)
    ours = drifted(from_profile)
    assert ours == drifted(from_reference), "profile and raw reference runs disagree"
    figures["from_profile"]["drifted"] = ours

    evidently_python = None if args.skip_evidently else ensure_evidently()
    result: dict[str, Any] = {
        "benchmark": "drift",
        "machine": machine(),
        "versions": versions(evidently_python),
        "data": {
            "rows_reference": args.rows,
            "rows_current": args.rows,
            "numeric_features": args.numeric,
            "categorical_features": args.categorical,
            "drift_injected": expected_drift(args.numeric, args.categorical),
        },
        "mlplat_drift": figures,
        "expected_agreement": agreement(ours, expected_drift(args.numeric, args.categorical)),
    }
    if evidently_python is not None:
        script, evidently_out = out / "evidently_run.py", out / "evidently.json"
        script.write_text(EVIDENTLY_SCRIPT)
        evidently = measure(
            [str(evidently_python), str(script), str(reference), str(current), str(evidently_out)],
            "evidently",
        )
        columns = json.loads(evidently_out.read_text())["columns"]
        evidently["drifted"] = sorted(name for name, entry in columns.items() if entry["drift"])
        evidently["methods"] = sorted({entry["method"] for entry in columns.values()})
        result["evidently"] = evidently
        result["agreement"] = agreement(ours, evidently["drifted"])
        ours_profile, ours_raw = figures["from_profile"], figures["from_reference"]
        result["ratios"] = {
            "speed_vs_evidently": round(evidently["wall_seconds"] / ours_profile["wall_seconds"], 2),
            "memory_vs_evidently": round(ours_profile["peak_rss_bytes"] / evidently["peak_rss_bytes"], 3),
            "speed_vs_evidently_from_reference": round(evidently["wall_seconds"] / ours_raw["wall_seconds"], 2),
            "memory_vs_evidently_from_reference": round(ours_raw["peak_rss_bytes"] / evidently["peak_rss_bytes"], 3),
            "cpu_vs_evidently": round(evidently["cpu_seconds"] / ours_profile["cpu_seconds"], 2),
        }
        result["ratio_definitions"] = {
            "speed_vs_evidently": "Evidently wall seconds / mlplat-drift (from a saved profile) wall seconds",
            "memory_vs_evidently": "mlplat-drift peak RSS / Evidently peak RSS (below 1: ours is lower)",
            "cpu_vs_evidently": "Evidently CPU seconds / mlplat-drift (from a saved profile) CPU seconds",
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result.get("ratios", {}), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
