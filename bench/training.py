"""Benchmark: the training pipeline on local Ray, against named peers in the same run.

`python -m bench.training [--customers 4000] [--rounds 100]` writes the churn demo's offline history (two EU
tenants, weekly snapshots) under build/bench-training/ and measures:
  1. the point-in-time training set: DuckDB `ASOF JOIN` (ours) against pandas `merge_asof` (peer), rows/s;
  2. training throughput with Ray Train LightGBM on 1 and on 2 local workers, against plain single-process
     `lightgbm.train` on the same rows (the peer: what Ray's distribution costs on one machine);
  3. resume after a killed worker: the same 2-worker run uninterrupted and with one worker SIGKILLed after the
     first registered checkpoint (wall times and their ratio);
  4. one full `mlplat-train run` from a cold start (new interpreter, Ray started by the run, a real MLflow server).
Writes bench/results/training.json. Figures are measured, never asserted; on a loaded machine run it smaller.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bench.common import machine, versions, write_result
from mlplat.dev import training_data
from mlplat.processes import LOOPBACK, ManagedProcess, descendants_named, free_port

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "build" / "bench-training"


def _config(features: str, labels: str, rounds: int, workers: int, storage: Path) -> Any:
    from runtime.training.config import parse_config

    data = training_data.training_config("bench-churn", features, labels, storage=str(storage))
    data["residency_file"] = str(REPO / "stacks" / "platform.yaml")
    data["estimator"] = {**data["estimator"], "rounds": rounds, "workers": workers, "checkpoint_every": 10}
    return parse_config(data, "bench")


def _pandas_peer(config: Any, now: datetime) -> tuple[int, float]:
    """The same join with pandas.merge_asof (sorted inputs, `by` entity and tenant, backward direction)."""
    started = time.perf_counter()
    features = pd.concat(pd.read_parquet(p) for p in sorted(Path(config.data.features).rglob("*.parquet")))
    labels = pd.concat(pd.read_parquet(p) for p in sorted(Path(config.data.labels).rglob("*.parquet")))
    labels = labels[labels["tenant"].isin(config.tenants)]
    features = features[features["tenant"].isin(config.tenants)]
    start, end = config.window(now)
    labels = labels[(labels["label_time"] >= start) & (labels["label_time"] < end)]
    features["event_time"] = pd.to_datetime(features["event_time"], utc=True)
    joined = pd.merge_asof(
        labels.sort_values("label_time"),
        features.sort_values("event_time"),
        left_on="label_time",
        right_on="event_time",
        by=["tenant", "customer_id"],
        direction="backward",
    )
    return len(joined), time.perf_counter() - started


def _training_set(config: Any, now: datetime) -> dict[str, Any]:
    from runtime.training.dataset import build_training_set

    started = time.perf_counter()
    table = build_training_set(config, config.load_residency(), now).table
    ours = time.perf_counter() - started
    peer_rows, peer = _pandas_peer(config, now)
    if peer_rows != table.num_rows:
        raise RuntimeError(f"the joins disagree: duckdb {table.num_rows} rows, pandas {peer_rows}")
    return {
        "rows": table.num_rows,
        "duckdb_seconds": round(ours, 3),
        "pandas_merge_asof_seconds": round(peer, 3),
        "duckdb_rows_per_s": round(table.num_rows / ours),
        "pandas_rows_per_s": round(peer_rows / peer),
        "frame": table.to_pandas(),
    }


def _ray_fit(config: Any, frame: pd.DataFrame, name: str, kill: bool = False) -> dict[str, Any]:
    from runtime.training import estimators, evaluate

    earlier, _ = evaluate.split_by_time(frame, "label_time", 0.2)
    train, valid = evaluate.split_by_time(earlier, "label_time", 0.1)
    storage = Path(config.storage_path())
    done = threading.Event()
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 600
        while not done.is_set() and time.monotonic() < deadline:
            if any((storage / name).glob("checkpoint_manager_snapshot.json")):
                workers = descendants_named("RayTrainWorker")
                if workers:
                    os.kill(workers[-1], signal.SIGKILL)
                    killed.append(workers[-1])
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    if kill:
        thread.start()
    started = time.perf_counter()
    trained = estimators.train(config, train, valid, run_name=name)
    seconds = time.perf_counter() - started
    done.set()
    return {
        "workers": config.estimator.workers,
        "rows": len(train),
        "seconds": round(seconds, 2),
        "rows_per_s": round(len(train) / seconds),
        "killed_worker": bool(killed),
        "resumed_from_iteration": trained.resumed_from_iteration,
    }


def _plain_lightgbm(config: Any, frame: pd.DataFrame) -> dict[str, Any]:
    import lightgbm as lgb

    from runtime.training import estimators, evaluate

    earlier, _ = evaluate.split_by_time(frame, "label_time", 0.2)
    params = {**estimators.lightgbm_objective(config), **config.estimator.params, "verbose": -1}
    started = time.perf_counter()
    lgb.train(
        params,
        lgb.Dataset(earlier[config.features], label=earlier[config.data.label], categorical_feature=config.categorical),
        num_boost_round=config.estimator.rounds,
    )
    seconds = time.perf_counter() - started
    return {"rows": len(earlier), "seconds": round(seconds, 3), "rows_per_s": round(len(earlier) / seconds)}


def _cold_run(features: str, labels: str, rounds: int) -> dict[str, Any]:
    """`python -m runtime.training run` in a fresh interpreter against a fresh MLflow server."""
    mlflow_dir = WORK / "mlflow"
    shutil.rmtree(mlflow_dir, ignore_errors=True)
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{mlflow_dir / 'mlflow.db'}",
            "--artifacts-destination", str(mlflow_dir / "artifacts"), "--host", LOOPBACK, "--port", str(port),
            "--workers", "1"]  # fmt: skip
    server = ManagedProcess("mlflow", argv, mlflow_dir / "mlflow.log", port, health_url=f"{url}/health").start(180)
    try:
        config = training_data.training_config("bench-cold", features, labels, storage=str(WORK / "cold-checkpoints"))
        config["residency_file"] = str(REPO / "stacks" / "platform.yaml")
        config["estimator"] = {**config["estimator"], "rounds": rounds}
        path = WORK / "cold.yaml"
        path.write_text(yaml.safe_dump(config))
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "runtime.training", "run", "--config", str(path), "--tracking-uri", url,
             "--out", str(WORK / "cold-summary.json")],
            cwd=REPO, capture_output=True, text=True, check=False, timeout=1800,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        seconds = time.perf_counter() - started
    finally:
        server.stop()
    summary = json.loads((WORK / "cold-summary.json").read_text()) if done.returncode == 0 else {}
    return {
        "exit_code": done.returncode,
        "seconds": round(seconds, 1),
        "rows": summary.get("data", {}).get("rows"),
        "stages_seconds": summary.get("seconds"),
        "roc_auc": summary.get("metrics", {}).get("roc_auc"),
        "stderr_tail": done.stderr[-400:] if done.returncode else "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=4000, help="customers per tenant")
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args(argv)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    now = datetime.now(UTC)
    features, labels = training_data.write_history(
        str(WORK / "offline"), {"acme-eu": args.customers, "bosch-de": args.customers}, end=now, seed=5
    )
    import logging

    import ray

    results: dict[str, Any] = {}
    config1 = _config(features, labels, args.rounds, 1, WORK / "checkpoints")
    built = _training_set(config1, now)
    frame = built.pop("frame")
    results["training_set"] = built
    results["plain_lightgbm"] = _plain_lightgbm(config1, frame)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    try:
        results["ray_1_worker"] = _ray_fit(config1, frame, "one-worker")
        config2 = _config(features, labels, args.rounds, 2, WORK / "checkpoints")
        results["ray_2_workers"] = _ray_fit(config2, frame, "two-workers")
        results["resume_after_kill"] = _ray_fit(config2, frame, "two-workers-killed", kill=True)
    finally:
        ray.shutdown()
    results["cold_mlplat_train_run"] = _cold_run(features, labels, args.rounds)
    uninterrupted, killed = results["ray_2_workers"]["seconds"], results["resume_after_kill"]["seconds"]
    ratios = {
        "duckdb_vs_pandas_merge_asof": round(
            results["training_set"]["duckdb_rows_per_s"] / results["training_set"]["pandas_rows_per_s"], 2
        ),
        "ray_2_vs_1_worker": round(results["ray_2_workers"]["rows_per_s"] / results["ray_1_worker"]["rows_per_s"], 2),
        "ray_1_worker_vs_plain_lightgbm": round(
            results["ray_1_worker"]["rows_per_s"] / results["plain_lightgbm"]["rows_per_s"], 4
        ),
        "resume_after_kill_vs_uninterrupted": round(killed / uninterrupted, 2),
    }
    load = os.getloadavg()
    write_result(
        "training",
        {
            "machine": {**machine(), "load_average_at_end": [round(x, 1) for x in load]},
            "versions": versions("ray", "lightgbm", "duckdb", "pandas", "pandera", "mlflow"),
            "parameters": {"customers_per_tenant": args.customers, "rounds": args.rounds, "checkpoint_every": 10},
            "results": results,
            "ratios": ratios,
        },
    )
    print(json.dumps(ratios, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
