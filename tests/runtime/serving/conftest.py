"""Serving fixtures: a tiny sklearn model registered twice (champion, challenger) in the real MLflow server,
and a factory that starts `mlplat-serve` on 127.0.0.1 with chosen settings and stops it by PID."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from mlplat.processes import LOOPBACK, ManagedProcess, free_port, require_binary
from tests.runtime.conftest import Server

MODEL_NAME = "churn"
FEATURES = [f"f{i}" for i in range(8)]
REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Registered:
    name: str
    tracking_uri: str
    champion_version: str
    challenger_version: str
    champion: object  # the sklearn estimators, to compute expected answers in-process
    challenger: object


def training_frame(seed: int = 0, rows: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    target = frame["f0"] * 2 + frame["f1"] - frame["f2"] ** 2 + rng.normal(scale=0.1, size=rows)
    return frame, target.to_numpy()


def log_version(model: object, frame: pd.DataFrame) -> str:
    import mlflow
    from mlflow.models import infer_signature

    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=MODEL_NAME,
            signature=infer_signature(frame, model.predict(frame)),  # type: ignore[attr-defined]
            pip_requirements=["scikit-learn"],
            serialization_format="cloudpickle",
        )
    return str(info.registered_model_version)


@pytest.fixture(scope="session")
def registered(mlflow_server: Server) -> Registered:
    import mlflow
    from mlflow import MlflowClient
    from sklearn.ensemble import HistGradientBoostingRegressor

    mlflow.set_tracking_uri(mlflow_server.url)
    frame, target = training_frame()
    champion = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(frame, target)
    challenger = HistGradientBoostingRegressor(max_iter=5, random_state=0).fit(frame, target)
    champion_version = log_version(champion, frame)
    challenger_version = log_version(challenger, frame)
    client = MlflowClient(mlflow_server.url)
    client.set_registered_model_alias(MODEL_NAME, "champion", champion_version)
    client.set_registered_model_alias(MODEL_NAME, "challenger", challenger_version)
    return Registered(MODEL_NAME, mlflow_server.url, champion_version, challenger_version, champion, challenger)


@dataclass
class Serving:
    url: str
    process: ManagedProcess

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)


ServeFactory = Callable[..., Serving]


@pytest.fixture(scope="session")
def start_serving(tmp_path_factory: pytest.TempPathFactory, registered: Registered) -> Iterator[ServeFactory]:
    """Starts `python -m runtime.serving` with MLPLAT_* settings (lower-case keyword arguments)."""
    started: list[ManagedProcess] = []

    def start(wait_ready: bool = True, **settings: object) -> Serving:
        workdir = tmp_path_factory.mktemp("serve")
        port = free_port()
        env = {
            "MLPLAT_MODEL_NAME": registered.name,
            "MLPLAT_TRACKING_URI": registered.tracking_uri,
            "MLPLAT_MODEL_CACHE_DIR": str(workdir / "cache"),
            "MLPLAT_LOG_LEVEL": "warning",
            "PYTHONPATH": str(REPO_ROOT),
        }
        env.update({f"MLPLAT_{key.upper()}": str(value) for key, value in settings.items()})
        url = f"http://{LOOPBACK}:{port}"
        argv = [sys.executable, "-m", "runtime.serving", "--host", LOOPBACK, "--port", str(port)]
        health = f"{url}/health/ready" if wait_ready else f"{url}/health/live"
        log = workdir / "serve.log"
        process = ManagedProcess("mlplat-serve", argv, log, port, health_url=health, env=env, cwd=REPO_ROOT)
        started.append(process)
        process.start(timeout=60)
        return Serving(url, process)

    yield start
    for process in started:
        process.stop()


class RedisProcess:
    """A Redis of the serving tests' own, so a test can stop it and start it again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        self.process: ManagedProcess | None = None

    def start(self) -> None:
        binary = require_binary("redis-server", "install it with `apt-get install redis-server`")
        argv = [binary, "--bind", LOOPBACK, "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir)]  # fmt: skip
        self.process = ManagedProcess("redis-store", argv, self.workdir / "redis.log", self.port).start(timeout=20)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture(scope="session")
def store_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path_factory.mktemp("redis-store"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prediction_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prediction-log")


@pytest.fixture(scope="session")
def serving(start_serving: ServeFactory, store_redis: RedisProcess, prediction_log_dir: Path) -> Serving:
    """The default server: champion only, batching on, in eu-west-1 with its online store and residency map,
    logging every prediction."""
    return start_serving(
        prediction_log_uri=prediction_log_dir,
        prediction_log_sample=1.0,
        prediction_log_flush_seconds=0.5,
        region="eu-west-1",
        redis_url=store_redis.url,
        residency_file=REPO_ROOT / "stacks" / "platform.yaml",
        feature_max_age_seconds=3600,
    )


def pytest_configure() -> None:
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
