"""Serving benchmark: `mlflow models serve` (the peer), an empty uvicorn endpoint (the ceiling) and `mlplat-
serve` with and without micro-batching, same model, same load generator, single-row `/invocations` at
concurrency 64; plus the `/v1/predict` 32-entity online-feature fetch against a local Redis.

Run from the repository root: `python -m bench.serving [--duration 10] [--rounds 2] [--sweep]`. Writes
`bench/results/serving.json` and `bench/results/features.json`. Every server runs on 127.0.0.1 and is stopped
by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlplat.processes import LOOPBACK, ManagedProcess, free_port, require_binary

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results"
MODEL_NAME = "bench-hgb"
FEATURES = [f"f{i}" for i in range(8)]
ROW = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8]
BODY = json.dumps({"dataframe_split": {"columns": FEATURES, "data": [ROW]}})
TENANT = "acme-eu"
ENTITIES = 32

EMPTY_APP = """
import sys
import uvicorn

BODY = b'{"predictions": [0.0]}'
HEADERS = [(b"content-type", b"application/json")]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools", access_log=False,
            log_level="warning")
"""


@dataclass
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    generator: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests_per_second": round(self.requests_per_second, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "requests": self.requests,
            "errors": self.errors,
            "generator": self.generator,
        }


# load generation


def ensure_wrk() -> str | None:
    """wrk from apt (installed once by scripts/ensure-system-deps.sh); None when it cannot be had."""
    if shutil.which("wrk") is None:
        script = REPO_ROOT / "scripts" / "ensure-system-deps.sh"
        result = subprocess.run([str(script), "wrk:wrk"], check=False, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"wrk unavailable ({result.stderr.strip()}); using the Python load generator", file=sys.stderr)
    return shutil.which("wrk")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _latency_ms(text: str, percentile: str) -> float:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no {percentile}% latency:\n{text}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(wrk: str, url: str, body: str, *, connections: int, duration: float, script_dir: Path) -> Load:
    script = script_dir / "post.lua"
    script.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = {json.dumps(body)}\n'
    )
    argv = [wrk, "-t1", f"-c{connections}", f"-d{duration:.0f}s", "--latency", "-s", str(script), url]
    output = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket.groups())) if socket else 0)
    return Load(rps, _latency_ms(output, "50"), _latency_ms(output, "99"), total, errors, "wrk -t1")


async def _python_load(host: str, port: int, path: str, body: bytes, *, connections: int, duration: float) -> Load:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                errors += not head.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Load(
        len(latencies) / elapsed,
        latencies[len(latencies) // 2] * 1e3,
        latencies[int(len(latencies) * 0.99)] * 1e3,
        len(latencies),
        errors,
        "python asyncio (wrk unavailable)",
    )


def measure(wrk: str | None, port: int, path: str, *, connections: int, duration: float, workdir: Path) -> Load:
    url = f"http://{LOOPBACK}:{port}{path}"
    if wrk is not None:
        run_wrk(wrk, url, BODY, connections=connections, duration=2, script_dir=workdir)  # warm-up, discarded
        return run_wrk(wrk, url, BODY, connections=connections, duration=duration, script_dir=workdir)
    body = BODY.encode()
    asyncio.run(_python_load(LOOPBACK, port, path, body, connections=connections, duration=2))
    return asyncio.run(_python_load(LOOPBACK, port, path, body, connections=connections, duration=duration))


# the model and the servers


def register_model(tracking_uri: str, artifacts: Path) -> str:
    """HistGradientBoosting on 8 numeric features (the model docs/serving.md measures both servers with), registered
    as champion."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from sklearn.ensemble import HistGradientBoostingRegressor

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.create_experiment("bench-serving", artifact_location=artifacts.as_uri())
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(5000, len(FEATURES))), columns=FEATURES)
    target = frame.sum(axis=1) + rng.normal(size=len(frame))
    model = HistGradientBoostingRegressor(max_iter=100, random_state=0).fit(frame, target)
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=MODEL_NAME,
            signature=infer_signature(frame, model.predict(frame)),
            pip_requirements=["scikit-learn"],
            serialization_format="cloudpickle",
        )
    MlflowClient(tracking_uri).set_registered_model_alias(MODEL_NAME, "champion", info.registered_model_version)
    return str(info.registered_model_version)


@contextmanager
def server(name: str, argv: list[str], port: int, *, health: str, env: dict[str, str], workdir: Path) -> Iterator[int]:
    process = ManagedProcess(
        name, argv, workdir / f"{name}.log", port, health_url=f"http://{LOOPBACK}:{port}{health}", env=env,
        cwd=REPO_ROOT,
    )  # fmt: skip
    process.start(timeout=180)
    try:
        yield port
    finally:
        process.stop()


def serve_env(tracking_uri: str, workdir: Path, **settings: str) -> dict[str, str]:
    env = {
        "MLPLAT_MODEL_NAME": MODEL_NAME,
        "MLPLAT_TRACKING_URI": tracking_uri,
        "MLPLAT_MODEL_CACHE_DIR": str(workdir / "model-cache"),
        "MLPLAT_LOG_LEVEL": "warning",
        "PYTHONPATH": str(REPO_ROOT),
    }
    env.update({f"MLPLAT_{key.upper()}": value for key, value in settings.items()})
    return env


def mlplat_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "runtime.serving", "--host", LOOPBACK, "--port", str(port)]


# the online-feature fetch


def feature_bench(tracking_uri: str, workdir: Path, iterations: int) -> dict[str, Any]:
    """p50/p99 of one pipelined 32-entity fetch (in-process client) and of `/v1/predict` end to end."""
    import httpx
    import redis

    from runtime.serving.features import OnlineStore, write_entity

    binary = require_binary("redis-server", "install it with `apt-get install redis-server`")
    redis_port = free_port()
    redis_argv = [binary, "--bind", LOOPBACK, "--port", str(redis_port), "--save", "", "--appendonly", "no"]
    redis_process = ManagedProcess("redis", redis_argv, workdir / "redis.log", redis_port, cwd=workdir)
    redis_process.start(timeout=20)
    url = f"redis://{LOOPBACK}:{redis_port}/0"
    try:
        client = redis.Redis.from_url(url)
        ids = [f"c-{i}" for i in range(ENTITIES)]
        for i, entity in enumerate(ids):
            key, mapping = write_entity(TENANT, entity, {f: float(i + j) for j, f in enumerate(FEATURES)}, time.time())
            client.hset(key, mapping=mapping)  # type: ignore[arg-type]
        client.close()

        async def fetch_loop() -> list[float]:
            store = OnlineStore(url)
            timings = []
            for _ in range(iterations):
                started = time.perf_counter()
                await store.fetch(TENANT, ids, FEATURES, now=time.time())
                timings.append(time.perf_counter() - started)
            await store.close()
            return timings

        fetch = _percentiles(asyncio.run(fetch_loop()))
        port = free_port()
        env = serve_env(
            tracking_uri, workdir, redis_url=url, region="eu-west-1",
            residency_file=str(REPO_ROOT / "stacks" / "platform.yaml"), prediction_log_sample="0",
        )  # fmt: skip
        with server("mlplat-predict", mlplat_argv(port), port, health="/health/ready", env=env, workdir=workdir):
            payload = {"tenant": TENANT, "entity_ids": ids}
            timings = []
            with httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=10) as http:
                for _ in range(50):
                    http.post("/v1/predict", json=payload).raise_for_status()
                for _ in range(iterations // 2):
                    started = time.perf_counter()
                    http.post("/v1/predict", json=payload).raise_for_status()
                    timings.append(time.perf_counter() - started)
                server_side = _histogram_mean(http.get("/metrics").text, "mlplat_feature_fetch_duration_seconds")
        predict = _percentiles(timings)
    finally:
        redis_process.stop()
    return {
        "entities": ENTITIES,
        "features_per_entity": len(FEATURES),
        "iterations": iterations,
        "fetch_ms": fetch,
        "predict_end_to_end_ms": predict,
        "server_side_fetch_mean_ms": round(server_side * 1e3, 3),
        "target_p99_ms": 2.0,
        "meets_target": fetch["p99"] <= 2.0,
    }


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50": round(ordered[len(ordered) // 2] * 1e3, 3),
        "p99": round(ordered[int(len(ordered) * 0.99)] * 1e3, 3),
        "mean": round(statistics.fmean(ordered) * 1e3, 3),
    }


def _histogram_mean(metrics: str, name: str) -> float:
    values = {}
    for line in metrics.splitlines():
        for suffix in ("_sum", "_count"):
            if line.startswith(f"{name}{suffix}"):
                values[suffix] = float(line.split()[-1])
    return values.get("_sum", 0.0) / values["_count"] if values.get("_count") else 0.0


# the report


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu,
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
        "gpu": None,
    }


def versions(wrk: str | None) -> dict[str, str]:
    from importlib.metadata import version

    found = {"python": platform.python_version()}
    for package in ("mlflow", "scikit-learn", "uvicorn", "fastapi", "numpy", "pandas", "redis", "orjson"):
        found[package] = version(package)
    if wrk is not None:
        out = subprocess.run([wrk, "-v"], check=False, capture_output=True, text=True)
        found["wrk"] = (out.stdout + out.stderr).split("\n")[0].strip()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the median is reported")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sweep", action="store_true", help="also measure batching settings (documents defaults)")
    parser.add_argument("--feature-iterations", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--features-only", action="store_true", help="only the online-feature fetch benchmark")
    args = parser.parse_args(argv)
    if args.features_only:
        return features_only(args.out, args.feature_iterations)

    wrk = ensure_wrk()
    info = {"machine": machine(), "versions": versions(wrk)}
    with tempfile.TemporaryDirectory(prefix="mlplat-bench-") as tmp:
        workdir = Path(tmp)
        tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
        version = register_model(tracking_uri, workdir / "artifacts")
        (workdir / "empty_app.py").write_text(EMPTY_APP)
        # MLflow execs `uvicorn` by name: the interpreter's own bin directory must lead PATH
        bin_dir = str(Path(sys.executable).parent)
        mlflow_env = {"MLFLOW_TRACKING_URI": tracking_uri, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
        targets: dict[str, tuple[Any, str, str, dict[str, str]]] = {}

        def add(name: str, argv_for: Any, health: str, path: str, env: dict[str, str]) -> None:
            targets[name] = (argv_for, health, path, env)

        add("mlflow_models_serve", lambda p: [sys.executable, "-m", "mlflow", "models", "serve", "-m",
            f"models:/{MODEL_NAME}@champion", "--env-manager", "local", "-h", LOOPBACK, "-p", str(p)],
            "/ping", "/invocations", mlflow_env)  # fmt: skip
        add("empty_uvicorn", lambda p: [sys.executable, str(workdir / "empty_app.py"), str(p)], "/", "/", {})
        add("mlplat_batched", mlplat_argv, "/health/ready", "/invocations",
            serve_env(tracking_uri, workdir, prediction_log_sample="0"))  # fmt: skip
        add("mlplat_unbatched", mlplat_argv, "/health/ready", "/invocations",
            serve_env(tracking_uri, workdir, max_batch_size="1", prediction_log_sample="0"))  # fmt: skip
        if args.sweep:
            for size in (16, 64, 256):
                for delay in ("0", "2"):
                    add(f"sweep_batch{size}_delay{delay}ms", mlplat_argv, "/health/ready", "/invocations",
                        serve_env(tracking_uri, workdir, max_batch_size=str(size), max_batch_delay_ms=delay,
                                  prediction_log_sample="0"))  # fmt: skip

        raw: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        for round_index in range(args.rounds):
            for name, (argv_for, health, path, env) in targets.items():
                if name.startswith("sweep_") and round_index > 0:
                    continue
                port = free_port()
                with server(name, argv_for(port), port, health=health, env=env, workdir=workdir):
                    load = measure(
                        wrk, port, path, connections=args.connections, duration=args.duration, workdir=workdir
                    )
                raw[name].append({**load.as_dict(), "round": round_index, "load_average": list(os.getloadavg())})
                print(
                    f"{name:32s} round {round_index}: {load.requests_per_second:9.1f} req/s  "
                    f"p50 {load.p50_ms:7.2f} ms  p99 {load.p99_ms:7.2f} ms  errors {load.errors}"
                )
        features = feature_bench(tracking_uri, workdir, args.feature_iterations)

    summary = {name: _median(runs) for name, runs in raw.items() if runs}
    ours, peer, ceiling = summary["mlplat_batched"], summary["mlflow_models_serve"], summary["empty_uvicorn"]
    ratios = {
        "vs_mlflow": round(ours["requests_per_second"] / peer["requests_per_second"], 2),
        "of_ceiling": round(ours["requests_per_second"] / ceiling["requests_per_second"], 3),
        "p99_vs_mlflow": round(ours["p99_ms"] / peer["p99_ms"], 4),
        "batched_vs_unbatched": round(
            ours["requests_per_second"] / summary["mlplat_unbatched"]["requests_per_second"], 2
        ),
    }
    report = {
        "benchmark": "serving",
        "workload": {
            "model": "sklearn HistGradientBoostingRegressor, 100 iterations, 8 float features, pyfunc",
            "model_version": version,
            "request": "POST /invocations, 1-row dataframe_split",
            "connections": args.connections,
            "duration_seconds": args.duration,
            "rounds": args.rounds,
            "one_server_process_each": True,
            "load_generator_on_same_machine": True,
        },
        **info,
        "load_average_at_end": list(os.getloadavg()),
        "raw": raw,
        "summary": summary,
        "ratios": ratios,
        "targets": {"vs_mlflow": 20.0, "of_ceiling": 0.15, "p99_ms": 50.0},
        "meets_targets": ratios["vs_mlflow"] >= 20 and ratios["of_ceiling"] >= 0.15 and ours["p99_ms"] <= 50,
        "gpu": "no GPU machine was lent to this task; the GPU batching run was not done",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serving.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "features.json").write_text(json.dumps({"benchmark": "features", **info, **features}, indent=2) + "\n")
    print(json.dumps({"ratios": ratios, "features": features["fetch_ms"]}, indent=2))
    return 0


def features_only(out: Path, iterations: int) -> int:
    wrk = shutil.which("wrk")
    info = {"machine": machine(), "versions": versions(wrk)}
    with tempfile.TemporaryDirectory(prefix="mlplat-bench-") as tmp:
        workdir = Path(tmp)
        tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
        register_model(tracking_uri, workdir / "artifacts")
        features = feature_bench(tracking_uri, workdir, iterations)
    out.mkdir(parents=True, exist_ok=True)
    (out / "features.json").write_text(json.dumps({"benchmark": "features", **info, **features}, indent=2) + "\n")
    print(json.dumps(features["fetch_ms"]))
    return 0


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run by throughput (of two rounds, the better one), with its own latencies."""
    best = sorted(runs, key=lambda run: run["requests_per_second"])[len(runs) // 2]
    return {key: best[key] for key in ("requests_per_second", "p50_ms", "p99_ms", "errors")}


if __name__ == "__main__":
    sys.exit(main())
