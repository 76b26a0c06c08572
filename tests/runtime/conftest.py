"""Real servers on 127.0.0.1 for the runtime tests: Redis, an MLflow tracking server (SQLite), a moto S3 server.

Each is started once per test session on a free port and stopped by PID at the end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlplat.processes import LOOPBACK, ManagedProcess, free_port, require_binary


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    process: ManagedProcess


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = require_binary("redis-server", "install it with `apt-get install redis-server` (make setup does)")
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    argv = [binary, "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    process = ManagedProcess("redis", argv, workdir / "redis.log", port).start(timeout=20)
    yield Server(f"redis://{LOOPBACK}:{port}/0", port, process)
    process.stop()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--artifacts-destination",
        str(workdir / "artifacts"),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    url = f"http://{LOOPBACK}:{port}"
    process = ManagedProcess("mlflow", argv, workdir / "mlflow.log", port, health_url=f"{url}/health")
    process.start(timeout=120)
    yield Server(url, port, process)
    process.stop()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("moto")
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
    url = f"http://{LOOPBACK}:{port}"
    process = ManagedProcess("moto", argv, workdir / "moto.log", port, health_url=f"{url}/moto-api/")
    process.start(timeout=60)
    yield Server(url, port, process)
    process.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_server: Server) -> Server:
    """Points boto3 at the moto server with dummy credentials; nothing can reach real AWS."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": moto_server.url,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert os.environ["AWS_ENDPOINT_URL"] == moto_server.url
    return moto_server


@pytest.fixture(scope="session")
def tests_data_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """One local Ray for the whole session (drift's Ray engine and training share it): 2 CPUs, no dashboard."""
    import logging

    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
    yield
    if started:
        ray.shutdown()
