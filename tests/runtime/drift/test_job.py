"""The drift job end to end: prediction logs in a window, the champion's profile from a real MLflow server,
reports next to the logs, metrics pushed, webhook sent, rollback once per window, retrain event via moto."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runtime import prediction_log
from runtime.drift import registry, storage
from runtime.drift.job import run_job
from runtime.drift.profile import DEFAULT_PROFILE_ARTIFACT, build_profile, load_profile, profile_bytes
from runtime.drift.settings import load_job_settings
from tests.runtime.conftest import Server
from tests.runtime.drift.http_capture import CaptureServer

pytestmark = pytest.mark.slow
WINDOW_END = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
FEATURES = ("f0", "f1", "f2", "f3")


def features(seed: int, n: int, shift: float) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(shift if i < 2 else 0.0, 1, n) for i, name in enumerate(FEATURES)}


def log_rows(
    prefix: str, model: str, version: str, n: int, *, shift: float, seed: int, callers: list[str] | None = None
) -> None:
    """Rows as serving logs them, spread over the two hourly partitions the 60-minute window touches
    (with a `caller` column when `callers` is given, as serving writes it since issue 20)."""
    values = features(seed, n, shift)
    stamps = [WINDOW_END - timedelta(minutes=55) + timedelta(seconds=3 * i % 3300) for i in range(n)]
    table = pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "tenant": ["acme-eu"] * n,
            "model_name": [model] * n,
            "model_version": [version] * n,
            "variant": ["champion"] * n,
            **values,
            "prediction": values["f0"] * 0.5 + values["f1"],
        }
    )
    if callers is not None:
        table = table.append_column(prediction_log.CALLER_COLUMN, pa.array(callers))
    hours = np.array([stamp.replace(minute=0, second=0) for stamp in stamps])
    for hour in sorted(set(hours.tolist())):
        part = table.filter(pa.array(hours == hour))
        target = f"{prediction_log.partition_prefix(prefix, model, hour)}/part-{seed}.parquet"
        buffer = io.BytesIO()
        pq.write_table(part, buffer)
        storage.write_bytes(target, buffer.getvalue())


def reference_profile() -> bytes:
    values = features(1, 5000, 0.0)
    values["prediction"] = values["f0"] * 0.5 + values["f1"]
    return profile_bytes(build_profile(pa.table(values), prediction_column="prediction"))


@pytest.fixture
def registered(mlflow_server: Server, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """A model with versions 1 and 2 (each run carrying the reference profile), promoted in that order."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server.url)
    name = f"drift-{request.node.name[:40]}".replace("[", "-").replace("]", "")
    experiment = client.create_experiment(name)
    client.create_registered_model(name)
    profile = reference_profile()
    for _ in range(2):
        run = client.create_run(experiment)
        registry.log_reference_profile(client, run.info.run_id, profile, DEFAULT_PROFILE_ARTIFACT)
        version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)
        registry.promote(client, name, str(version.version))
    return name


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer()
    yield server
    server.stop()


def job_env(monkeypatch: pytest.MonkeyPatch, model: str, prefix: str, **values: str) -> None:
    values = {
        "model_name": model,
        "prediction_log_uri": prefix,
        "drift_window_end": WINDOW_END.isoformat(),
        **values,
    }
    for key, value in values.items():
        monkeypatch.setenv(f"MLPLAT_{key.upper()}", value)


def test_rollback_moves_champion_once_and_audits_both_versions(
    registered: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capture: CaptureServer
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    prefix = str(tmp_path / "logs")
    log_rows(prefix, registered, "2", 3000, shift=1.0, seed=7)
    log_rows(prefix, registered, "1", 500, shift=0.0, seed=8)  # the other version's rows are not judged
    job_env(
        monkeypatch,
        registered,
        prefix,
        drift_action="rollback",
        drift_webhook_url=f"{capture.url}/slack",
        drift_metrics="pushgateway",
        drift_pushgateway_url=capture.url,
    )
    first = run_job(load_job_settings())
    assert first.exit_code == 0, first.failures
    assert first.status == "alert" and first.n_rows == 3000
    assert client.get_model_version_by_alias(registered, "champion").version == "1"
    bad, restored = (
        client.get_model_version(registered, "2").tags,
        client.get_model_version(registered, "1").tags,
    )
    assert bad["mlplat.drift.rolled_back"] == "true"
    assert bad["mlplat.drift.rolled_back.rolled_back_to"] == "1"
    assert bad["mlplat.drift.rolled_back.report"] == first.report_uri
    assert "drift alert" in bad["mlplat.drift.rolled_back.reason"]
    assert restored["mlplat.drift.restored.restored_from"] == "2"
    assert restored["mlplat.drift.restored.report"] == first.report_uri

    report_dir = Path(prefix) / "_drift" / f"model={registered}" / "window=20261120T0930Z_20261120T1030Z"
    report = json.loads((report_dir / "report.json").read_text())
    assert report["model"]["version"] == "2" and report["features"]["f0"]["status"] == "alert"
    assert set(report["features"]) == set(FEATURES) and report["prediction"]["status"] == "alert"
    assert "<svg" in (report_dir / "report.html").read_text()

    slack = [json.loads(r.body) for r in capture.requests if r.path == "/slack"]
    assert len(slack) == 1 and "ALERT" in slack[0]["text"] and "rolled back" in slack[0]["text"]
    pushed = [r for r in capture.requests if r.path.startswith("/metrics/job/mlplat-drift")]
    assert pushed and b"mlplat_drift_feature_psi" in pushed[0].body
    assert b'mlplat_drift_dataset_status{model="' in pushed[0].body

    tags_before = dict(client.get_model_version(registered, "1").tags)
    second = run_job(load_job_settings())
    assert second.exit_code == 0 and second.version == "2"
    assert any("already rolled back" in action for action in second.actions)
    assert client.get_model_version_by_alias(registered, "champion").version == "1"
    assert client.get_model_version(registered, "1").tags == tags_before


def test_a_window_one_caller_dominates_is_not_acted_on(
    registered: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20 item 5: one caller flooding the log with extreme rows must not roll the champion back. Older
    files without the caller column are read alongside (their rows count as no one's)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    prefix = str(tmp_path / "logs")
    log_rows(prefix, registered, "2", 400, shift=0.0, seed=21)  # written before the caller column existed
    log_rows(prefix, registered, "2", 2600, shift=3.0, seed=22, callers=["sub:attacker"] * 2500 + ["sub:a"] * 100)
    job_env(monkeypatch, registered, prefix, drift_action="rollback")
    outcome = run_job(load_job_settings())
    assert outcome.exit_code == 0 and outcome.status == "alert" and outcome.n_rows == 3000
    assert any("skipped: window dominated by one caller" in action for action in outcome.actions), outcome.actions
    assert client.get_model_version_by_alias(registered, "champion").version == "2"
    assert outcome.report_uri is not None
    dataset = json.loads(Path(outcome.report_uri).read_text())["dataset"]
    assert dataset["reliable"] is False and dataset["top_caller_share"] == pytest.approx(2500 / 3000)
    assert "caller" not in json.loads(Path(outcome.report_uri).read_text())["features"]
    monkeypatch.setenv("MLPLAT_DRIFT_MAX_CALLER_SHARE", "0.9")
    acted = run_job(load_job_settings())
    assert any("rolled back" in action for action in acted.actions), acted.actions


def test_no_previous_champion_is_a_failed_action_not_a_crash(
    registered: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    client.delete_model_version_tag(registered, "2", registry.PREVIOUS_CHAMPION_TAG)
    client.set_registered_model_tag(registered, registry.HISTORY_TAG, "[]")
    prefix = str(tmp_path / "logs")
    log_rows(prefix, registered, "2", 1000, shift=1.0, seed=3)
    job_env(monkeypatch, registered, prefix, drift_action="rollback")
    outcome = run_job(load_job_settings())
    assert outcome.exit_code == 1 and "no previous champion" in outcome.failures[0]
    assert outcome.report_uri is not None and Path(outcome.report_uri).exists()
    assert client.get_model_version_by_alias(registered, "champion").version == "2"


def test_quiet_window_and_small_samples_take_no_action(
    registered: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = str(tmp_path / "logs")
    metrics_file = str(tmp_path / "m.prom")
    job_env(
        monkeypatch,
        registered,
        prefix,
        drift_action="rollback",
        drift_metrics="textfile",
        drift_metrics_textfile=metrics_file,
    )
    empty = run_job(load_job_settings())
    assert empty.exit_code == 0 and empty.status == "no_data" and empty.n_rows == 0
    assert "mlplat_drift_current_rows" in (tmp_path / "m.prom").read_text()
    log_rows(prefix, registered, "2", 3000, shift=0.0, seed=11)
    same = run_job(load_job_settings())
    assert same.status == "ok" and not any("rolled back" in a for a in same.actions)


def test_retrain_event_goes_to_eventbridge_once_per_window(
    registered: str, aws_env: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.s3_client.cache_clear()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="logs-retrain", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    events, sqs = boto3.client("events"), boto3.client("sqs")
    queue = sqs.create_queue(QueueName=f"retrain-{registered[-20:]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="retrain", EventPattern=json.dumps({"source": ["mlplat.drift"]}))
    events.put_targets(Rule="retrain", Targets=[{"Id": "q", "Arn": arn}])
    prefix = "s3://logs-retrain/predictions"
    log_rows(prefix, registered, "2", 2000, shift=1.0, seed=5)
    job_env(monkeypatch, registered, prefix, drift_action="retrain")
    first = run_job(load_job_settings())
    assert first.exit_code == 0, first.failures
    assert first.report_uri is not None and first.report_uri.startswith("s3://logs-retrain/predictions/_drift/")
    assert json.loads(storage.read_bytes(first.report_uri))["dataset"]["status"] == "alert"
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1
    detail = json.loads(messages[0]["Body"])["detail"]
    assert detail["model_name"] == registered and detail["model_version"] == "2" and "f0" in detail["drifted_features"]
    second = run_job(load_job_settings())
    assert any("already requested" in action for action in second.actions)
    assert not sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages")
    storage.s3_client.cache_clear()


def test_profile_command_logs_to_the_training_run(
    mlflow_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    from runtime.drift.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    client = MlflowClient(mlflow_server.url)
    run = client.create_run(client.create_experiment("drift-profile-cli"))
    sample = tmp_path / "train.parquet"
    values = features(1, 3000, 0.0)
    pq.write_table(pa.table({**values, "prediction": values["f0"]}), sample)
    argv = ["profile", "--reference", str(sample), "--prediction-column", "prediction"]
    assert main([*argv, "--mlflow-run", run.info.run_id]) == 0
    data = registry.reference_profile_bytes(client, run.info.run_id, DEFAULT_PROFILE_ARTIFACT)
    assert load_profile(data).prediction_column == "prediction"
    assert main(argv) == 2


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.drift.errors import DriftInputError

    monkeypatch.delenv("MLPLAT_MODEL_NAME", raising=False)
    monkeypatch.setenv("MLPLAT_PREDICTION_LOG_URI", "/tmp/x")
    monkeypatch.setenv("MLPLAT_DRIFT_ACTION", "explode")
    with pytest.raises(DriftInputError) as error:
        load_job_settings()
    assert "MLPLAT_MODEL_NAME" in str(error.value) and "MLPLAT_DRIFT_ACTION" in str(error.value)
