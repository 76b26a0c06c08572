"""The retrain step of `mlplat dev demo`: drift alert -> retrain event -> dispatcher -> a new version, gate=pending.

The drift job runs with `MLPLAT_DRIFT_ACTION=retrain` and puts its `ModelDriftDetected` event on (moto)
EventBridge; a rule delivers it to the region's retrain queue (moto SQS), exactly the cluster's path. Then
`mlplat-train dispatch --submit local --once` claims the (model, window), runs `mlplat-train run` on the window
ending at the drift window's end over the offline history in (moto) S3, and the registry gains a version tagged
`gate=pending`; a second delivery of the same event starts nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlplat.dev import training_data
from mlplat.dev.platform import LOCAL_REGION, MODEL_NAME, DevPlatform

OFFLINE_BUCKET = "mlplat-euw1-features-offline"
RETRAIN_QUEUE = "mlplat-euw1-retrain"
RULE = "mlplat-euw1-retrain-on-drift"
TENANT_CUSTOMERS = {"acme-eu": 600, "bosch-de": 400}

Step = Callable[[str], None]


@dataclass
class RetrainResult:
    drift_exit_code: int | None = None
    event_sent: bool = False
    dispatched: list[dict[str, Any]] = field(default_factory=list)
    version: str | None = None
    gate: str | None = None
    window: str | None = None
    seconds: float = 0.0


def _env(platform: DevPlatform) -> dict[str, str]:
    return {
        **os.environ,
        **platform.aws_env(),
        "MLFLOW_TRACKING_URI": platform.mlflow_url,
        "PYTHONPATH": str(platform.root),
    }


def prepare(platform: DevPlatform) -> tuple[str, Path]:
    """The offline history in moto S3, the retrain queue with its EventBridge rule, and the model's training.yaml."""
    import boto3

    env = platform.aws_env()
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=LOCAL_REGION,
    )
    s3 = session.client("s3", endpoint_url=platform.moto_url)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):  # `mlplat dev up` keeps buckets between demos
        s3.create_bucket(Bucket=OFFLINE_BUCKET, CreateBucketConfiguration={"LocationConstraint": LOCAL_REGION})
    features, labels = training_data.write_history(f"s3://{OFFLINE_BUCKET}", TENANT_CUSTOMERS, days=80, seed=11, s3=s3)
    sqs = session.client("sqs", endpoint_url=platform.moto_url)
    queue_url = str(sqs.create_queue(QueueName=RETRAIN_QUEUE)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = session.client("events", endpoint_url=platform.moto_url)
    events.put_rule(
        Name=RULE, EventPattern=json.dumps({"source": ["mlplat.drift"], "detail-type": ["ModelDriftDetected"]})
    )
    events.put_targets(Rule=RULE, Targets=[{"Id": "retrain-queue", "Arn": arn}])
    configs = platform.state / "training"
    configs.mkdir(parents=True, exist_ok=True)
    config = training_data.training_config(
        MODEL_NAME, features, labels,
        storage=str(configs / "checkpoints"),
        residency_file=str(platform.root / "stacks" / "platform.yaml"),
    )  # fmt: skip
    config["estimator"] = {**config["estimator"], "rounds": 60, "checkpoint_every": 20}
    (configs / f"{MODEL_NAME}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return queue_url, configs


def _alerted_window_end(platform: DevPlatform) -> str:
    """The end of the window the drift job alerted on (its rollback marker), so this run judges the same rows."""
    import mlflow

    from runtime.drift import registry

    client = mlflow.MlflowClient(platform.mlflow_url)
    window = registry.window_marker(client, MODEL_NAME, registry.ROLLBACK_WINDOW_TAG)
    if window and "_" in window:
        end = time.strptime(window.split("_", 1)[1], "%Y%m%dT%H%MZ")
        return time.strftime("%Y-%m-%dT%H:%M:%S", end)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 60))


def _drift_job_with_retrain(platform: DevPlatform, categorical: tuple[str, ...]) -> int:
    env = {
        **_env(platform),
        **platform.drift_environment(categorical).as_env(),
        "MLPLAT_DRIFT_ACTION": "retrain",
        "MLPLAT_DRIFT_RETRAIN_TARGET": "eventbridge",
        "MLPLAT_DRIFT_EVENT_BUS": "default",
        "MLPLAT_DRIFT_WINDOW_END": _alerted_window_end(platform),
    }
    with (platform.state / "logs" / "drift-retrain.log").open("ab") as out:
        return subprocess.run(
            [sys.executable, "-m", "runtime.drift", "job"], env=env, cwd=platform.root, stdout=out,
            stderr=subprocess.STDOUT, check=False, timeout=300,
        ).returncode  # fmt: skip


def _dispatch(platform: DevPlatform, queue_url: str, configs: Path) -> list[dict[str, Any]]:
    argv = [
        sys.executable, "-m", "runtime.training", "dispatch", "--queue", queue_url, "--configs", str(configs),
        "--submit", "local", "--once", "--ledger", str(configs / "claims"), "--tracking-uri", platform.mlflow_url,
    ]  # fmt: skip
    log = platform.state / "logs" / "dispatch.log"
    done = subprocess.run(
        argv, env=_env(platform), cwd=platform.root, capture_output=True, text=True, check=False, timeout=1800
    )
    log.write_text(done.stdout + done.stderr)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def retrain_on_drift(platform: DevPlatform, categorical: tuple[str, ...], step: Step) -> RetrainResult:
    import mlflow

    started = time.monotonic()
    result = RetrainResult()
    step("writing the offline history to S3 and the retrain queue (EventBridge rule -> SQS)")
    queue_url, configs = prepare(platform)
    step("running the drift job again (action: retrain -> ModelDriftDetected on EventBridge)")
    result.drift_exit_code = _drift_job_with_retrain(platform, categorical)
    step("mlplat-train dispatch: one training run for the drifted window (local Ray)")
    result.dispatched = _dispatch(platform, queue_url, configs)
    result.event_sent = bool(result.dispatched)
    started_runs = [d for d in result.dispatched if d.get("started")]
    if started_runs:
        result.window = started_runs[0].get("window")
        client = mlflow.MlflowClient(platform.mlflow_url)
        versions = sorted(client.search_model_versions(f"name = '{MODEL_NAME}'"), key=lambda v: int(v.version))
        newest = versions[-1]
        if (newest.tags or {}).get("mlplat.trigger", "").startswith("drift"):
            result.version, result.gate = str(newest.version), newest.tags.get("gate")
    result.seconds = time.monotonic() - started
    return result


def summary_lines(result: RetrainResult | None) -> list[str]:
    if result is None:
        return []
    return [
        f"  retrain             drift event -> queue -> dispatcher: {len(result.dispatched)} message(s), "
        f"window {result.window or 'none'}",
        f"  new version         v{result.version} gate={result.gate} (aliases untouched)"
        if result.version
        else "  new version         NOT registered (see logs/dispatch.log)",
        f"  retrain took        {result.seconds:.0f}s",
    ]
