"""Benchmark: `mlplat-promote gate` on a 100k-row holdout against the champion, next to MLflow's own evaluation.

`python -m bench.promote [--rows 100000]` starts an MLflow server on 127.0.0.1 (SQLite, local artifacts),
registers a champion and a candidate (HistGradientBoostingClassifier, 12 features, one with the training
contract's holdout), then measures in the same run:
  1. the whole gate (`runtime.promote.gate.evaluate`: downloads, both models scored on the holdout, metrics,
     per-slice regression, four-fifths rule, 200 single-row latency calls, size, signature, artifacts),
  2. the peer: `mlflow.models.evaluate(model_type="classifier")` of candidate and champion on the same holdout
     (MLflow's model validation path, explainability off), which computes metrics only.
Writes bench/results/promote.json with raw figures and `ratios.gate_vs_mlflow_evaluate` (our wall time over
MLflow's: below 1 is faster, while doing more).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import machine, versions, write_result
from mlplat.processes import LOOPBACK, ManagedProcess, free_port

FEATURES = [f"x{i:02d}" for i in range(12)]


def data(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    logit = 1.5 * frame["x00"] - frame["x01"] + 0.5 * frame["x02"] * frame["x03"] + rng.normal(scale=0.8, size=rows)
    frame["label"] = (logit > 0).astype(int)
    frame["tenant"] = rng.choice(["acme-eu", "bosch-de", "globex-us"], size=rows)
    return frame


def register(uri: str, holdout: pd.DataFrame, seed: int, iterations: int) -> str:
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.ensemble import HistGradientBoostingClassifier

    train = data(50_000, seed)
    model = HistGradientBoostingClassifier(max_iter=iterations, random_state=seed).fit(train[FEATURES], train["label"])
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(), tempfile.TemporaryDirectory() as scratch:
        mlflow.log_params({"mlplat.label": "label", "mlplat.features": json.dumps(FEATURES)})
        folder = Path(scratch)
        holdout.to_parquet(folder / "holdout.parquet")
        mlflow.log_artifact(str(folder / "holdout.parquet"), "holdout")
        (folder / "report.json").write_text('{"passed": true}')
        mlflow.log_artifact(str(folder / "report.json"), "validation")
        (folder / "reference_profile.npz").write_bytes(b"-")
        mlflow.log_artifact(str(folder / "reference_profile.npz"), "drift")
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name="bench-churn", pip_requirements=["scikit-learn"],
            serialization_format="cloudpickle",
            signature=infer_signature(train[FEATURES].head(100), model.predict(train[FEATURES].head(100))),
        )  # fmt: skip
    return str(info.registered_model_version)


def peer(uri: str, holdout: pd.DataFrame, champion: str, candidate: str) -> float:
    """MLflow's evaluation of both versions on the same holdout (what `mlflow.validate_evaluation_results` needs)."""
    import mlflow

    frame = holdout[[*FEATURES, "label"]]
    started = time.perf_counter()
    for version in (candidate, champion):
        with mlflow.start_run():
            mlflow.models.evaluate(
                f"models:/bench-churn/{version}", frame, targets="label", model_type="classifier",
                evaluator_config={"log_model_explainability": False},
            )  # fmt: skip
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.promote")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    from runtime.promote import registry
    from runtime.promote.config import PromotionConfig
    from runtime.promote.gate import evaluate

    with tempfile.TemporaryDirectory(prefix="bench-promote-") as work:
        folder, port = Path(work), free_port()
        server = ManagedProcess(
            "mlflow", [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder}/m.db",
                       "--artifacts-destination", str(folder / "artifacts"), "--host", LOOPBACK, "--port", str(port),
                       "--workers", "1"],
            folder / "mlflow.log", port, health_url=f"http://{LOOPBACK}:{port}/health",
        ).start(timeout=180)  # fmt: skip
        try:
            uri = f"http://{LOOPBACK}:{port}"
            holdout = data(args.rows, seed=99)
            champion = register(uri, holdout, seed=1, iterations=60)
            candidate = register(uri, holdout, seed=2, iterations=100)
            client = registry.client(uri)
            client.set_registered_model_alias("bench-churn", "champion", champion)
            load = os.getloadavg()[0]
            started = time.perf_counter()
            report = evaluate(client, uri, "bench-churn", candidate, PromotionConfig(), folder / "cache")
            gate_seconds = time.perf_counter() - started
            peer_seconds = peer(uri, holdout, champion, candidate)
        finally:
            server.stop()
    checks = {check.name: check.passed for check in report.checks}
    print(f"gate {gate_seconds:.2f} s, mlflow.models.evaluate x2 {peer_seconds:.2f} s", file=sys.stderr)
    write_result("promote", {
        "machine": machine(), "versions": versions("mlflow", "scikit-learn", "pandas", "numpy"),
        "holdout_rows": args.rows, "load_average_before": load,
        "gate": {"seconds": round(gate_seconds, 3), "passed": report.passed, "checks": checks,
                 "latency_p99_ms": next(c.observed for c in report.checks if c.name == "latency.p99_ms")},
        "mlflow_evaluate_both_seconds": round(peer_seconds, 3),
        "ratios": {"gate_vs_mlflow_evaluate": round(gate_seconds / peer_seconds, 3)},
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
