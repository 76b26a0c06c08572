"""`mlplat-train dispatch` on moto SQS and EventBridge: one RayJob per (model, window), duplicates start nothing."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml

from mlplat.dev import training_data
from runtime.drift.actions import put_event, retrain_event
from runtime.training.dispatch import (
    DirectoryLedger,
    Dispatcher,
    RayJobSubmitter,
    S3Ledger,
    parse_event,
    rayjob_manifest,
)
from tests.runtime.drift.http_capture import CaptureServer
from tests.runtime.training.conftest import RecordingMoto

pytestmark = pytest.mark.slow
TEMPLATE = {
    "apiVersion": "ray.io/v1",
    "kind": "RayJob",
    "metadata": {"namespace": "mlplat"},
    "spec": {"shutdownAfterJobFinishes": True},
}
REPORT = {"dataset": {"status": "alert", "drift_share": 0.5}, "features": {"seats": {"status": "alert", "psi": 0.4}}}


def _event(window: str, event_id: str = "e-1") -> str:
    detail = retrain_event("churn", "3", window, REPORT, "s3://reports/x.json")
    return json.dumps(
        {
            "id": event_id,
            "detail-type": "ModelDriftDetected",
            "source": "mlplat.drift",
            "time": "2026-05-01T10:02:11Z",
            "detail": detail,
        }
    )


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    config = training_data.training_config("churn", "s3://b/tables/f/", "s3://b/tables/l/")
    (folder / "churn.yaml").write_text(yaml.safe_dump(config))
    (folder / "rayjob.json").write_text(json.dumps(TEMPLATE))
    return folder


@pytest.fixture
def queue(moto_env: RecordingMoto, request: pytest.FixtureRequest) -> str:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    name = f"retrain-{request.node.name[:40]}".replace("[", "-").replace("]", "")
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
    return str(sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive})["QueueUrl"])


def test_the_window_comes_from_the_drift_window_so_copies_agree() -> None:
    first = parse_event(_event("20260501T0900Z_20260501T1000Z", "a"), lambda model: 90)
    second = parse_event(_event("20260501T0900Z_20260501T1000Z", "b"), lambda model: 90)
    assert first.key == second.key == "churn/20260131T1000Z_20260501T1000Z"
    assert first.job_name == second.job_name and len(first.job_name) <= 63
    manifest = rayjob_manifest(TEMPLATE, first, Path("/etc/mlplat/training/churn.yaml"))
    assert manifest["metadata"]["name"] == first.job_name
    assert "--start 2026-01-31T10:00:00+00:00 --end 2026-05-01T10:00:00+00:00" in manifest["spec"]["entrypoint"]
    assert TEMPLATE["metadata"] == {"namespace": "mlplat"}  # the template is not modified


def test_duplicates_start_nothing_and_bad_messages_stay_for_the_dlq(
    moto_env: RecordingMoto, queue: str, configs: Path
) -> None:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="mlplat-euw1-training", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for body in (
        _event("20260501T0900Z_20260501T1000Z", "a"),
        _event("20260501T0900Z_20260501T1000Z", "b"),  # the drift job ran twice for the same window
        _event("20260501T1000Z_20260501T1100Z", "c"),
        "not json",
    ):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    kube = CaptureServer(status=201)
    try:
        dispatcher = Dispatcher(
            queue,
            configs,
            RayJobSubmitter(TEMPLATE, "mlplat", api_url=kube.url),
            S3Ledger("s3://mlplat-euw1-training/dispatch"),
            sqs=sqs,
        )
        results = dispatcher.drain()
        assert sorted(r.started for r in results) == [False, False, True, True]
        posts = [json.loads(r.body) for r in kube.requests]
        assert [r.path for r in kube.requests] == ["/apis/ray.io/v1/namespaces/mlplat/rayjobs"] * 2
        assert len({p["metadata"]["name"] for p in posts}) == 2

        # the same events delivered again, to a new dispatcher process: the S3 claims hold, nothing starts
        for body in (_event("20260501T0900Z_20260501T1000Z", "d"), _event("20260501T1000Z_20260501T1100Z", "e")):
            sqs.send_message(QueueUrl=queue, MessageBody=body)
        again = Dispatcher(
            queue,
            configs,
            RayJobSubmitter(TEMPLATE, "mlplat", api_url=kube.url),
            S3Ledger("s3://mlplat-euw1-training/dispatch"),
            sqs=sqs,
        )
        assert [r.started for r in again.drain()] == [False, False]
        assert len(kube.requests) == 2
    finally:
        kube.stop()
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"  # the bad message, not deleted
    claims = s3.list_objects_v2(Bucket="mlplat-euw1-training", Prefix="dispatch/")["KeyCount"]
    assert claims == 2


def test_a_lost_ledger_still_cannot_start_a_job_twice(
    moto_env: RecordingMoto, queue: str, configs: Path, tmp_path: Path
) -> None:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    sqs.send_message(QueueUrl=queue, MessageBody=_event("20260501T0900Z_20260501T1000Z"))
    kube = CaptureServer(status=409)  # the RayJob of that name exists already
    try:
        dispatcher = Dispatcher(
            queue,
            configs,
            RayJobSubmitter(TEMPLATE, "mlplat", api_url=kube.url),
            DirectoryLedger(tmp_path / "claims"),
            sqs=sqs,
        )
        [result] = dispatcher.drain()
    finally:
        kube.stop()
    assert "already exists" in result.detail


def test_the_drift_jobs_event_reaches_the_dispatcher_through_eventbridge(
    moto_env: RecordingMoto, queue: str, configs: Path, tmp_path: Path
) -> None:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    events = boto3.client("events", region_name="eu-west-1")
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="retrain-test",
        EventPattern=json.dumps({"source": ["mlplat.drift"], "detail-type": ["ModelDriftDetected"]}),
    )
    events.put_targets(Rule="retrain-test", Targets=[{"Id": "queue", "Arn": arn}])
    detail = retrain_event("churn", "3", "20260601T0900Z_20260601T1000Z", REPORT, "s3://reports/y.json")
    put_event("default", detail)
    put_event("default", detail)  # delivered twice
    kube = CaptureServer(status=201)
    try:
        dispatcher = Dispatcher(
            queue,
            configs,
            RayJobSubmitter(TEMPLATE, "mlplat", api_url=kube.url),
            DirectoryLedger(tmp_path / "claims"),
            sqs=sqs,
        )
        results = dispatcher.drain()
    finally:
        kube.stop()
        events.remove_targets(Rule="retrain-test", Ids=["queue"])
        events.delete_rule(Name="retrain-test")
    assert sorted(r.started for r in results) == [False, True]
    assert results[0].request is not None and results[0].request.window == "20260303T1000Z_20260601T1000Z"


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        json.dumps({"detail-type": "ModelDriftDetected", "detail": {}}),
        json.dumps({"detail-type": "Other", "detail": {"model_name": "churn"}}),
        json.dumps(
            {"detail-type": "ModelDriftDetected", "time": "yesterday", "detail": {"model_name": "churn", "window": "w"}}
        ),
    ],
)
def test_events_that_ask_for_no_run_are_refused_with_a_reason(body: str) -> None:
    from runtime.training.dispatch import BadEvent

    with pytest.raises(BadEvent):
        parse_event(body, lambda model: 90)
