"""Benchmark: `mlplat-drift run` over current windows of growing size, streamed here (`--engine local`), on a
local Ray with 2 workers (`--engine ray`) and, where it fits, in memory (`--engine memory`: the peer).

`python -m bench.drift_scale [--sizes 1,10,50] [--engines memory,local,ray] [--memory-max 10]` generates, once
(cached under build/bench-drift-scale/), a 1M-row reference profile and current windows of N million rows x 20
numeric + 3 categorical columns as 1M-row Parquet files (some columns drifted). Each run is a subprocess,
measured the same way: wall time, and peak resident memory of its whole process tree (Ray's workers and
raylet included) sampled from /proc every 50 ms. Every engine's report must equal the others' on the same
window (the benchmark fails otherwise). Writes bench/results/drift_scale.json with rows/s, peak RSS and the
ratios: throughput over the in-memory path's, and peak RSS at the largest window over the 1M-row figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import RESULTS, machine, versions, write_result

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "build" / "bench-drift-scale"
N_NUMERIC, N_CATEGORICAL = 20, 3
FILE_ROWS = 1_000_000
REFERENCE_ROWS = 1_000_000
CATEGORIES = np.array(["red", "green", "blue", "amber", "violet"])
CATEGORY_P = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
SAMPLE_SECONDS = 0.2
# Distinct 1M-row files generated; bigger windows list them again (hard links): 10 GB of random floats would
# cost ~15 minutes of both cores to generate on the 2-core machine, and repetition changes no per-row cost.
DISTINCT_FILES = 10


def _table(rows: int, seed: int, drifted: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for index in range(N_NUMERIC):
        shift = 0.3 if drifted and index < 4 else 0.0
        values = rng.normal(shift, 1.0, rows)
        if index % 5 == 4:  # some low-cardinality columns: ties at reference values
            values = np.round(values, 1)
        columns[f"x{index}"] = values
    for index in range(N_CATEGORICAL):
        p = CATEGORY_P[::-1] if drifted and index == 0 else CATEGORY_P
        columns[f"c{index}"] = pa.array(CATEGORIES[rng.choice(CATEGORIES.size, rows, p=p)]).dictionary_encode()
    return pa.table(columns)


def _generate(size_m: int) -> Path:
    """The window of `size_m` million rows: 1M-row files (hard links to the `DISTINCT_FILES` generated once)."""
    files = WORK / "files"
    files.mkdir(parents=True, exist_ok=True)
    window = WORK / f"current-{size_m}m"
    window.mkdir(parents=True, exist_ok=True)
    for index in range(size_m):
        distinct = index % DISTINCT_FILES
        source = files / f"part-{distinct:04d}.parquet"
        if not source.exists():
            pq.write_table(
                _table(FILE_ROWS, 1000 + distinct, drifted=distinct % 2 == 1), source, row_group_size=131_072
            )
        link = window / f"part-{index:04d}.parquet"
        if not link.exists():
            os.link(source, link)
    return window


def _profile() -> Path:
    profile = WORK / "reference.npz"
    if not profile.exists():
        sample = WORK / "reference.parquet"
        pq.write_table(_table(REFERENCE_ROWS, 1, drifted=False), sample, row_group_size=131_072)
        _cli(["profile", "--reference", str(sample), "--categorical", "c0,c1,c2", "--out", str(profile)])
    return profile


def _tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, parent = int(entry.name), int(fields.get("PPid", "0").strip())
        children.setdefault(parent, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def _cli(args: list[str]) -> dict[str, Any]:
    """Run `mlplat-drift ARGS` in a subprocess: wall seconds, CPU seconds of it and every descendant it
    reaped (Ray's raylet and workers included), and peak tree RSS."""
    # A loaded machine starts a raylet slowly: wait for it rather than fail.
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_DEDUP_LOGS": "0", "RAY_raylet_start_wait_time_s": "300"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime.drift", *args], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(process.pid))
            stop.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    stop.set()
    sampler.join()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode not in (0, 1):
        raise RuntimeError(f"mlplat-drift {' '.join(args)} failed ({process.returncode}): {stderr[-2000:]}")
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "peak_rss_mib": round(peak / 2**20, 1)}


def _run(profile: Path, window: Path, engine: str, rows: int, out: Path) -> dict[str, Any]:
    args = ["run", "--reference-profile", str(profile), "--current", str(window), "--engine", engine]
    figures = _cli([*args, "--categorical", "c0,c1,c2", "--out", str(out), "--workers", "2"])
    figures["rows_per_second"] = round(rows / figures["seconds"])
    figures["rows_per_cpu_second"] = round(rows / figures["cpu_seconds"])
    print(
        f"  {engine:>6} {rows:>11,} rows: {figures['seconds']:7.1f} s ({figures['cpu_seconds']:7.1f} s CPU) "
        f"{figures['rows_per_second']:>10,} rows/s  peak RSS {figures['peak_rss_mib']:8.1f} MiB",
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,10,50", help="window sizes in millions of rows")
    parser.add_argument("--engines", default="memory,local,ray")
    parser.add_argument("--memory-max", type=int, default=10, help="largest window (M rows) run in memory")
    parser.add_argument("--append", action="store_true", help="add to the figures already in the results file")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    engines = args.engines.split(",")
    WORK.mkdir(parents=True, exist_ok=True)
    generated = time.perf_counter()
    profile = _profile()
    windows = {size: _generate(size) for size in sizes}
    print(f"data ready in {time.perf_counter() - generated:.0f} s under {WORK}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    identical: dict[str, Any] = {}
    previous = RESULTS / "drift_scale.json"
    if args.append and previous.exists():
        earlier = json.loads(previous.read_text())
        results, identical = earlier["results"], earlier["reports_identical_across_engines"]
        sizes = sorted({*earlier["data"]["sizes_m"], *sizes})
    for size in sizes:
        rows = size * FILE_ROWS
        reports: dict[str, bytes] = {}
        for engine in dict.fromkeys([*engines, *results]):
            out = WORK / f"report-{size}m-{engine}.json"
            if f"{size}M" in results.get(engine, {}) and out.exists():
                reports[engine] = out.read_bytes()  # measured by an earlier run (--append): still compared
                continue
            if engine not in engines or (engine == "memory" and size > args.memory_max):
                continue
            results.setdefault(engine, {})[f"{size}M"] = _run(profile, windows[size], engine, rows, out)
            reports[engine] = out.read_bytes()
        if not reports:
            continue
        same = len(set(reports.values())) == 1
        identical[f"{size}M"] = same if len(reports) > 1 else f"only {', '.join(reports)} run"
        if not same:
            print(f"reports differ at {size}M rows: {sorted(reports)}", file=sys.stderr)
    ratios: dict[str, Any] = {}
    for engine, figures in results.items():
        for window in figures:
            if "1M" in figures and window != "1M":
                ratios[f"{engine}_peak_rss_{window}_over_1M"] = round(
                    figures[window]["peak_rss_mib"] / figures["1M"]["peak_rss_mib"], 2
                )
        for window, memory in results.get("memory", {}).items():
            if engine != "memory" and window in figures:
                ratios[f"{engine}_throughput_over_memory_{window}"] = round(
                    figures[window]["rows_per_second"] / memory["rows_per_second"], 2
                )
                ratios[f"{engine}_cpu_throughput_over_memory_{window}"] = round(
                    figures[window]["rows_per_cpu_second"] / memory["rows_per_cpu_second"], 2
                )
    write_result(
        "drift_scale",
        {
            "machine": machine(),
            "load_average_at_end": os.getloadavg(),
            "versions": versions("numpy", "pyarrow", "scipy", "ray"),
            "data": {
                "reference_rows": REFERENCE_ROWS,
                "columns": f"{N_NUMERIC} numeric (4 of them x5/x10 rounded to 0.1: ties) + {N_CATEGORICAL} categorical",
                "file_rows": FILE_ROWS,
                "sizes_m": sizes,
                "note": f"window N: N 1M-row files, hard links to {DISTINCT_FILES} generated ones (odd ones drifted)",
            },
            "results": results,
            "reports_identical_across_engines": identical,
            "ratios": ratios,
        },
    )
    return 0 if all(value is not False for value in identical.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
