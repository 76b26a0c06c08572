"""`mlplat-train dispatch`: retrain events from the region's SQS queue -> one training run per (model, window).

Events: the drift job's `ModelDriftDetected` (EventBridge -> SQS, `runtime/drift/actions.py`) and the per-model
schedules (EventBridge scheduled rules -> SQS, same envelope, `detail-type` `ScheduledRetrain`). The window is
derived from the event (the drift window's end, or the schedule tick), so every copy of the same event names the
same window. Idempotency: before starting anything the dispatcher *claims* `<model>/<window>` in a ledger with a
create-only write (S3 `If-None-Match: *`, or `O_EXCL` locally); a duplicate event loses the claim and starts
nothing. In the cluster a run is a KubeRay `RayJob` created through the Kubernetes API (name derived from the
claim, so even a lost ledger cannot start two); `--submit local` runs the pipeline here (`mlplat dev`).

A message that cannot be understood is left on the queue: after the queue's maxReceiveCount it lands in the DLQ.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from runtime.training.config import TrainingConfig, load_config
from runtime.training.errors import TrainingConfigError, TrainingError

log = logging.getLogger("mlplat.training.dispatch")
DRIFT_DETAIL_TYPE = "ModelDriftDetected"
SCHEDULE_DETAIL_TYPE = "ScheduledRetrain"
DRIFT_WINDOW = re.compile(r"^(?P<start>\d{8}T\d{4}Z)_(?P<end>\d{8}T\d{4}Z)$")
RAYJOB_TEMPLATE = "rayjob.json"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class BadEvent(TrainingError):
    """A message the dispatcher cannot turn into a run (left on the queue for the DLQ)."""


@dataclass(frozen=True)
class RetrainRequest:
    """One training run to start: the model and the window of label timestamps."""

    model: str
    start: datetime
    end: datetime
    trigger: str
    event_id: str

    @property
    def window(self) -> str:
        return f"{self.start:%Y%m%dT%H%MZ}_{self.end:%Y%m%dT%H%MZ}"

    @property
    def key(self) -> str:
        return f"{self.model}/{self.window}"

    @property
    def job_name(self) -> str:
        """A DNS-1123 name (at most 63 characters), the same for every copy of the request."""
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:10]
        model = re.sub(r"[^a-z0-9-]+", "-", self.model.lower()).strip("-")[:30] or "model"
        return f"train-{model}-{self.end:%Y%m%d%H%M}-{digest}"


@dataclass(frozen=True)
class Dispatched:
    request: RetrainRequest | None
    started: bool
    detail: str
    message_id: str

    def as_dict(self) -> dict[str, Any]:
        request = self.request
        return {
            "message_id": self.message_id,
            "model": request.model if request else None,
            "window": request.window if request else None,
            "job": request.job_name if request else None,
            "started": self.started,
            "detail": self.detail,
        }


def _parse_time(value: str) -> datetime:
    text = value.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text) if "-" in text else datetime.strptime(value, "%Y%m%dT%H%MZ")
    except ValueError:
        raise BadEvent(f"not a time: {value!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def parse_event(body: str, window_days_of: Any) -> RetrainRequest:
    """The request an EventBridge envelope (as SQS delivers it) asks for; `BadEvent` when it asks for none."""
    try:
        event = json.loads(body)
    except json.JSONDecodeError as error:
        raise BadEvent(f"message is not JSON: {error}") from None
    if not isinstance(event, dict) or not isinstance(event.get("detail"), dict):
        raise BadEvent("message is not an EventBridge event with a `detail` object")
    detail, kind = event["detail"], event.get("detail-type")
    model = detail.get("model_name")
    if not isinstance(model, str) or not model:
        raise BadEvent("event detail has no model_name")
    if kind == DRIFT_DETAIL_TYPE:
        match = DRIFT_WINDOW.match(str(detail.get("window", "")))
        end = _parse_time(match["end"]) if match else _parse_time(str(event.get("time")))
        trigger = f"drift:{detail.get('window')}"
    elif kind == SCHEDULE_DETAIL_TYPE:
        end = _parse_time(str(event.get("time"))).replace(second=0, microsecond=0)
        trigger = "schedule"
    else:
        raise BadEvent(f"unknown detail-type {kind!r}")
    days = window_days_of(model)
    return RetrainRequest(model, end - timedelta(days=days), end, trigger, str(event.get("id", "")))


class Ledger(Protocol):
    def claim(self, key: str, record: dict[str, Any]) -> bool: ...
    def release(self, key: str) -> None: ...


class DirectoryLedger:
    """Claims as files created with O_EXCL (one machine: `mlplat dev`, tests)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def claim(self, key: str, record: dict[str, Any]) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x") as handle:
                json.dump(record, handle)
        except FileExistsError:
            return False
        return True

    def release(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Ledger:
    """Claims as S3 objects written with `If-None-Match: *`: S3 accepts exactly one writer per key."""

    def __init__(self, uri: str, client: Any | None = None) -> None:
        import boto3

        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = client or boto3.client("s3")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}.json" if self.prefix else f"{key}.json"

    def claim(self, key: str, record: dict[str, Any]) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=json.dumps(record).encode(), IfNoneMatch="*"
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"PreconditionFailed", "ConditionalRequestConflict"}:
                return False
            raise
        return True

    def release(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


class Submitter(Protocol):
    def submit(self, request: RetrainRequest, config_path: Path) -> str: ...


class LocalSubmitter:
    """Runs `mlplat-train run` for the window in a child process (the local platform)."""

    def __init__(self, tracking_uri: str | None, timeout: float = 1800) -> None:
        self.tracking_uri = tracking_uri
        self.timeout = timeout

    def submit(self, request: RetrainRequest, config_path: Path) -> str:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="mlplat-dispatch-") as scratch:
            out = Path(scratch) / "summary.json"
            argv = [
                sys.executable, "-m", "runtime.training", "run", "--config", str(config_path),
                "--start", request.start.isoformat(), "--end", request.end.isoformat(), "--trigger", request.trigger,
                "--out", str(out),
            ]  # fmt: skip
            if self.tracking_uri:
                argv += ["--tracking-uri", self.tracking_uri]
            env = {**os.environ, "MLPLAT_TRAINING_RUN_NAME": request.job_name}
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, env=env, check=False)
            if done.returncode == 2:
                raise TrainingConfigError(f"mlplat-train run refused its arguments: {done.stderr.strip()[-500:]}")
            summary = json.loads(out.read_text()) if out.exists() else {}
        version = (summary.get("model") or {}).get("version")
        return f"local run exited {done.returncode}" + (f", registered version {version}" if version else "")


def rayjob_manifest(template: dict[str, Any], request: RetrainRequest, config_path: Path) -> dict[str, Any]:
    """The RayJob for one request: the template (rendered by the `Training` component) with name and entrypoint."""
    manifest = copy.deepcopy(template)
    metadata = manifest.setdefault("metadata", {})
    metadata["name"] = request.job_name
    metadata.setdefault("labels", {}).update({"mlplat/model": request.model[:63], "mlplat/trigger": "retrain"})
    metadata.setdefault("annotations", {}).update({"mlplat/window": request.window, "mlplat/event": request.event_id})
    spec = manifest.setdefault("spec", {})
    spec["entrypoint"] = " ".join(
        [
            "python -m runtime.training run", f"--config {config_path}",
            f"--start {request.start.isoformat()}", f"--end {request.end.isoformat()}",
            f"--trigger {request.trigger.split(':')[0]}",
        ]
    )  # fmt: skip
    env = spec.setdefault("runtimeEnvYAML", "")
    spec["runtimeEnvYAML"] = env + f"\nenv_vars:\n  MLPLAT_TRAINING_RUN_NAME: {request.job_name}\n"
    return manifest


class RayJobSubmitter:
    """Creates a RayJob custom resource through the Kubernetes API with the pod's service-account token."""

    def __init__(self, template: dict[str, Any], namespace: str, api_url: str | None = None) -> None:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        self.api_url = api_url or os.environ.get("MLPLAT_KUBE_API") or (f"https://{host}:{port}" if host else "")
        if not self.api_url:
            raise TrainingConfigError("no Kubernetes API: set MLPLAT_KUBE_API or run in a pod")
        self.template = template
        self.namespace = namespace

    def _auth(self) -> tuple[dict[str, str], str | bool]:
        token_file = SERVICE_ACCOUNT / "token"
        headers = {"Content-Type": "application/json"}
        if token_file.exists():
            headers["Authorization"] = f"Bearer {token_file.read_text().strip()}"
        ca = SERVICE_ACCOUNT / "ca.crt"
        return headers, str(ca) if ca.exists() else True

    def submit(self, request: RetrainRequest, config_path: Path) -> str:
        import httpx

        manifest = rayjob_manifest(self.template, request, config_path)
        headers, verify = self._auth()
        url = f"{self.api_url.rstrip('/')}/apis/ray.io/v1/namespaces/{self.namespace}/rayjobs"
        response = httpx.post(url, json=manifest, headers=headers, verify=verify, timeout=30)
        if response.status_code == 409:
            return f"RayJob {request.job_name} already exists"
        if not response.is_success:
            raise TrainingError(
                f"creating RayJob {request.job_name} failed: HTTP {response.status_code} {response.text[:300]}"
            )
        return f"RayJob {request.job_name} created"


@dataclass
class Dispatcher:
    queue_url: str
    configs: Path
    submitter: Submitter
    ledger: Ledger
    wait_seconds: int = 20
    sqs: Any = None
    _windows: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_args(
        cls,
        *,
        queue_url: str,
        configs: Path,
        submit: str,
        ledger: str | None,
        tracking_uri: str | None,
        wait_seconds: int,
    ) -> Dispatcher:
        import boto3

        if not configs.is_dir():
            raise TrainingConfigError(f"--configs {configs}: not a directory of <model>.yaml files")
        claims: Ledger
        if ledger and ledger.startswith("s3://"):
            claims = S3Ledger(ledger)
        else:
            claims = DirectoryLedger(Path(ledger or configs / ".claims"))
        submitter: Submitter
        if submit == "local":
            submitter = LocalSubmitter(tracking_uri)
        else:
            template_path = configs / RAYJOB_TEMPLATE
            try:
                template = json.loads(template_path.read_text())
            except (OSError, json.JSONDecodeError) as error:
                raise TrainingConfigError(f"{template_path}: cannot read the RayJob template: {error}") from None
            namespace = os.environ.get("MLPLAT_NAMESPACE", "mlplat")
            submitter = RayJobSubmitter(template, namespace)
        region = queue_url.split(".")[1] if queue_url.startswith("https://sqs.") else None
        sqs = boto3.client("sqs", region_name=region) if region else boto3.client("sqs")
        return cls(queue_url, configs, submitter, claims, wait_seconds, sqs)

    def config_path(self, model: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", model):
            raise BadEvent(f"model name {model!r} is not a plain name")
        return self.configs / f"{model}.yaml"

    def _config(self, model: str) -> TrainingConfig:
        path = self.config_path(model)
        if not path.exists():
            raise BadEvent(f"no training config for model {model!r} ({path})")
        return load_config(path)

    def window_days(self, model: str) -> int:
        if model not in self._windows:
            config = self._config(model)
            if config.data.window_days is None:
                raise BadEvent(f"{self.config_path(model)}: a retrained model needs data.window_days")
            self._windows[model] = config.data.window_days
        return self._windows[model]

    def handle(self, message: dict[str, Any]) -> Dispatched:
        """One message: parse, claim, submit; deletes it when it was handled (started or a duplicate)."""
        message_id = str(message.get("MessageId", ""))
        try:
            request = parse_event(message["Body"], self.window_days)
        except (BadEvent, TrainingConfigError) as error:
            log.error("message %s left for the dead-letter queue: %s", message_id, error)
            return Dispatched(None, False, f"bad event: {error}", message_id)
        record = {"event": request.event_id, "job": request.job_name, "claimed_at": datetime.now(UTC).isoformat()}
        if not self.ledger.claim(request.key, record):
            log.info("duplicate: %s already started (event %s)", request.key, request.event_id)
            self._delete(message)
            return Dispatched(request, False, f"duplicate of {request.key}", message_id)
        try:
            detail = self.submitter.submit(request, self.config_path(request.model))
        except Exception:
            self.ledger.release(request.key)  # the next delivery retries
            raise
        log.info("started %s: %s", request.key, detail)
        self._delete(message)
        return Dispatched(request, True, detail, message_id)

    def _delete(self, message: dict[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _receive(self, wait: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait, VisibilityTimeout=300
        )
        return list(response.get("Messages", []))

    def drain(self) -> list[Dispatched]:
        """Handle messages until the queue answers empty once (the CronJob / `--once` mode)."""
        results: list[Dispatched] = []
        while True:
            messages = self._receive(wait=1)
            if not messages:
                return results
            results += [self.handle(m) for m in messages]

    def serve_forever(self) -> Iterator[Dispatched]:
        """Long-poll forever (the Deployment mode)."""
        while True:
            for message in self._receive(self.wait_seconds):
                try:
                    yield self.handle(message)
                except TrainingError as error:
                    log.error("message %s: %s (left on the queue)", message.get("MessageId"), error)
            time.sleep(0)
