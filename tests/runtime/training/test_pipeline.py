"""`mlplat-train run` end to end on a local Ray, the real MLflow server and mlplat-serve.

One Ray Train run only (they are slow on a small machine): a worker is killed mid-training, the run resumes
from its last checkpoint, registers a version with `gate=pending`, and that version answers `/invocations`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mlplat.dev import training_data
from mlplat.processes import LOOPBACK, ManagedProcess, descendants_named, free_port
from runtime.drift.profile import DEFAULT_PROFILE_ARTIFACT, load_profile
from runtime.training import cli, register
from tests.runtime.conftest import Server
from tests.runtime.training.conftest import REPO_ROOT, write_config

pytestmark = pytest.mark.slow


def _kill_a_worker_after_the_first_checkpoint(storage: Path, done: threading.Event) -> list[int]:
    killed: list[int] = []
    deadline = time.monotonic() + 600
    while not done.is_set() and time.monotonic() < deadline:
        # the controller writes its snapshot once a checkpoint is registered: from then on a restart resumes from it
        if any(storage.glob("*/checkpoint_manager_snapshot.json")):
            workers = descendants_named("RayTrainWorker")
            if workers:
                os.kill(workers[-1], signal.SIGKILL)  # a spot interruption: the worker is gone at once
                killed.append(workers[-1])
                return killed
        time.sleep(0.05)
    return killed


def _serve(tmp_path: Path, model: str, tracking_uri: str) -> ManagedProcess:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    env = {
        "MLPLAT_MODEL_NAME": model,
        "MLPLAT_TRACKING_URI": tracking_uri,
        "MLPLAT_MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "MLPLAT_LOG_LEVEL": "warning",
        "PYTHONPATH": str(REPO_ROOT),
    }
    argv = [sys.executable, "-m", "runtime.serving", "--host", LOOPBACK, "--port", str(port)]
    process = ManagedProcess(
        "mlplat-serve", argv, tmp_path / "serve.log", port, health_url=f"{url}/health/ready", env=env, cwd=REPO_ROOT
    )
    return process.start(timeout=120)


@pytest.mark.timeout(900)  # a Ray Train start, a worker restart and mlplat-serve's start on a loaded 2-core machine
def test_a_killed_worker_resumes_and_the_version_is_registered_and_served(
    local_ray: None,
    mlflow_server: Server,
    offline_history: tuple[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import mlflow

    model = "churn-train-e2e"
    storage = tmp_path / "checkpoints"
    features, labels = offline_history
    config = training_data.training_config(model, features, labels, storage=str(storage))
    config["estimator"] = {
        **config["estimator"],
        "rounds": 150,
        "checkpoint_every": 10,
        "workers": 2,
        "max_failures": 2,
    }
    path = write_config(tmp_path / "training.yaml", config)
    out = tmp_path / "summary.json"

    codes: list[int] = []
    done = threading.Event()

    def run() -> None:
        try:
            codes.append(
                cli.main(["run", "--config", str(path), "--tracking-uri", mlflow_server.url, "--out", str(out)])
            )
        finally:
            done.set()

    caplog.set_level(logging.INFO, logger="mlplat.training")
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    killed = _kill_a_worker_after_the_first_checkpoint(storage, done)
    runner.join(timeout=480)
    assert not runner.is_alive(), "the training run did not finish"
    assert killed, "no checkpoint appeared, so no worker was killed"
    assert codes == [0]

    summary = json.loads(out.read_text())
    assert summary["schema"] == "mlplat.training/v1"
    assert summary["resumed_from_checkpoint"] is True
    assert summary["resumed_from_iteration"] >= 10
    assert f"resumed from the checkpoint at iteration {summary['resumed_from_iteration']}" in caplog.text
    assert summary["validation"] == {"passed": True, "failures": []}
    assert summary["data"]["regions"] == ["eu-west-1"] and summary["data"]["tenants"] == ["acme-eu", "bosch-de"]
    assert summary["metrics"]["roc_auc"] > 0.55  # small, noisy data: above chance; recomputed exactly below

    client = mlflow.MlflowClient(mlflow_server.url)
    version = client.get_model_version(model, summary["model"]["version"])
    assert version.tags["gate"] == "pending"
    assert json.loads(version.tags[register.TENANTS_TAG]) == ["acme-eu", "bosch-de"]
    assert json.loads(version.tags[register.REGIONS_TAG]) == ["eu-west-1"]
    assert version.tags[register.WINDOW_TAG] == summary["data"]["window"]
    assert version.tags[register.COMMIT_TAG]
    assert not version.aliases and not client.get_registered_model(model).aliases  # training never moves aliases

    run = client.get_run(summary["run_id"])
    assert run.data.tags[register.LABEL_TAG] == "churned"
    assert json.loads(run.data.tags[register.FEATURES_TAG]) == training_data.demo_data.FEATURES
    folder = tmp_path / "artifacts"
    holdout = pd.read_parquet(client.download_artifacts(run.info.run_id, register.HOLDOUT_ARTIFACT, str(folder)))
    assert {*training_data.demo_data.FEATURES, "churned", "tenant", "plan_tier"} <= set(holdout.columns)
    report = json.loads(
        Path(client.download_artifacts(run.info.run_id, register.VALIDATION_ARTIFACT, str(folder))).read_text()
    )
    assert report["passed"] is True
    profile = load_profile(Path(client.download_artifacts(run.info.run_id, DEFAULT_PROFILE_ARTIFACT, str(folder))))
    assert set(training_data.demo_data.FEATURES) <= set(profile.features) and profile.prediction_column == "prediction"

    # the promotion pipeline's job, done here by hand so that mlplat-serve (which serves an alias) can load it
    client.set_registered_model_alias(model, "champion", version.version)
    serve = _serve(tmp_path, model, mlflow_server.url)
    try:
        rows = holdout[training_data.demo_data.FEATURES].head(20)
        body = {"dataframe_split": rows.to_dict(orient="split")}
        response = httpx.post(f"{serve_url(serve)}/invocations", json=body, timeout=30)
        assert response.status_code == 200, response.text
        served = np.asarray(response.json()["predictions"], dtype=float)
        pyfunc = mlflow.pyfunc.load_model(f"models:/{model}/{version.version}")
        local = pyfunc.predict(rows)
        np.testing.assert_allclose(served, np.asarray(local, dtype=float), rtol=1e-6)
        assert ((served >= 0) & (served <= 1)).all()
        scores = np.asarray(pyfunc.predict(holdout[training_data.demo_data.FEATURES]), dtype=float)
        assert roc_auc_score(holdout["churned"], scores) == pytest.approx(summary["metrics"]["roc_auc"])
    finally:
        serve.stop()


def serve_url(process: ManagedProcess) -> str:
    return f"http://{LOOPBACK}:{process.port}"


def test_a_failed_gate_registers_nothing_and_logs_a_failed_run(
    mlflow_server: Server, offline_history: tuple[str, str], tmp_path: Path
) -> None:
    import mlflow

    model = "churn-train-refused"
    features, labels = offline_history
    config = training_data.training_config(model, features, labels)
    config["validation"] = {**config["validation"], "min_rows": 100_000, "ranges": {"tenure_months": [0, 1]}}
    path = write_config(tmp_path / "training.yaml", config)
    out = tmp_path / "summary.json"
    code = cli.main(["run", "--config", str(path), "--tracking-uri", mlflow_server.url, "--out", str(out)])
    assert code == 1
    summary = json.loads(out.read_text())
    assert summary["model"]["version"] is None and summary["validation"]["passed"] is False
    rules = {(f["column"], f["rule"]) for f in summary["validation"]["failures"]}
    assert {("<dataset>", "min_rows"), ("tenure_months", "range")} <= rules
    client = mlflow.MlflowClient(mlflow_server.url)
    assert not client.search_model_versions(f"name = '{model}'")
    run = client.get_run(summary["run_id"])
    assert run.info.status == "FAILED"
    report = client.download_artifacts(run.info.run_id, register.VALIDATION_ARTIFACT, str(tmp_path))
    assert json.loads(Path(report).read_text())["passed"] is False


def test_a_bad_config_exits_2_naming_file_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = training_data.training_config("m", "f/", "l/")
    config["estimator"]["workers"] = 0
    path = write_config(tmp_path / "training.yaml", config)
    assert cli.main(["run", "--config", str(path)]) == 2
    error = capsys.readouterr().err
    assert str(path) in error and "estimator.workers" in error
