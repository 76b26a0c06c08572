"""Promotion fixtures: the history in a moto S3 bucket, and a fleet (two serving replicas + Prometheus)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from mlplat.dev import prometheus as dev_prometheus
from mlplat.processes import LOOPBACK, ManagedProcess, free_port
from tests.runtime.conftest import Server

HISTORY_BUCKET = "mlplat-models-test"
REGION = "eu-west-1"
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def history_root(moto_server: Server) -> Iterator[str]:
    """`s3://bucket/promotion-history` on the moto server; boto3 and MLflow reach moto for the whole session."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": moto_server.url,
        }.items():  # fmt: skip
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        boto3.client("s3").create_bucket(
            Bucket=HISTORY_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        yield f"s3://{HISTORY_BUCKET}/promotion-history"


@dataclass
class Fleet:
    """Prometheus scraping two `mlplat-serve` replicas of one region that follow the published canary weight."""

    model: str
    region: str
    prometheus: str
    replicas: list[str]
    champion: str
    failing: str
    healthy: str


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, mlflow_server: Server, history_root: str) -> Iterator[Fleet]:
    """Champion v1, a challenger raising on whole-number rows (alias `challenger`) and a healthy one; two replicas
    with rollout on and a 0.3 s alias poll; a Prometheus scraping both every second."""
    from mlflow import MlflowClient

    from tests.runtime.promote.models import FailsOnWholeNumbers, dataset, fit, register

    name = "rollout-churn"
    holdout = dataset(300, seed=11)
    champion_model = fit(dataset(2000, seed=10))
    champion = register(mlflow_server.url, name, champion_model, holdout)
    failing = register(mlflow_server.url, name, FailsOnWholeNumbers(champion_model), holdout)
    healthy = register(mlflow_server.url, name, fit(dataset(2000, seed=12)), holdout)
    client = MlflowClient(mlflow_server.url)
    client.set_registered_model_alias(name, "champion", champion)
    client.set_registered_model_alias(name, "challenger", failing)

    workdir = tmp_path_factory.mktemp("fleet")
    started: list[ManagedProcess] = []
    replicas = []
    try:
        for index in range(2):
            port = free_port()
            env = {
                "MLPLAT_MODEL_NAME": name, "MLPLAT_TRACKING_URI": mlflow_server.url, "MLPLAT_REGION": REGION,
                "MLPLAT_CHALLENGER_ALIAS": "challenger", "MLPLAT_ROLLOUT_ENABLED": "true",
                "MLPLAT_ALIAS_POLL_SECONDS": "0.3", "MLPLAT_MODEL_CACHE_DIR": str(workdir / f"cache-{index}"),
                "MLPLAT_LOG_LEVEL": "warning", "PYTHONPATH": str(REPO_ROOT),
            }  # fmt: skip
            url = f"http://{LOOPBACK}:{port}"
            argv = [sys.executable, "-m", "runtime.serving", "--host", LOOPBACK, "--port", str(port)]
            process = ManagedProcess(f"serve-{index}", argv, workdir / f"serve-{index}.log", port,
                                     health_url=f"{url}/health/ready", env=env, cwd=REPO_ROOT)  # fmt: skip
            started.append(process)
            replicas.append(url)
        for process in started:
            process.start(timeout=120)
        state = workdir / "prometheus"
        prometheus = dev_prometheus.process(state, free_port(), scrape_seconds=1.0)
        dev_prometheus.write_targets(
            state / "targets.json", "mlplat-serving", [u.removeprefix("http://") for u in replicas]
        )
        started.append(prometheus.start(timeout=60))
        yield Fleet(name, REGION, f"http://{LOOPBACK}:{prometheus.port}", replicas, champion, failing, healthy)
    finally:
        for process in started:
            process.stop()
