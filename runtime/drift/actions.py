"""What the job tells the outside world: a Slack-compatible webhook message and the retrain event."""

from __future__ import annotations

import json
from typing import Any

from runtime.drift.errors import DriftActionError

WEBHOOK_TIMEOUT_SECONDS = 10.0
EVENT_SOURCE = "mlplat.drift"
EVENT_DETAIL_TYPE = "ModelDriftDetected"
TOP_FEATURES = 5


def worst_features(report: dict[str, Any], limit: int = TOP_FEATURES) -> list[tuple[str, float, str]]:
    """The features with the highest PSI: (name, psi, status)."""
    scored = [
        (name, float(entry["psi"]), entry["status"])
        for name, entry in report["features"].items()
        if entry["psi"] is not None
    ]
    return sorted(scored, key=lambda item: -item[1])[:limit]


def slack_message(
    *, model: str, version: str, window_id: str, report: dict[str, Any], report_uri: str, action: str
) -> dict[str, Any]:
    """A Slack incoming-webhook payload (`text` plus blocks); other chat tools read `text`."""
    dataset = report["dataset"]
    lines = [f"• `{name}` PSI {value:.3f} ({status})" for name, value, status in worst_features(report)]
    prediction = report.get("prediction")
    if prediction and prediction.get("psi") is not None:
        lines.append(f"• prediction PSI {prediction['psi']:.3f} ({prediction['status']})")
    text = (
        f"Drift {dataset['status'].upper()} for model {model} v{version}, window {window_id}: "
        f"{dataset['n_alert']} of {dataset['n_features']} features at alert "
        f"(share {dataset['drift_share']:.2f}). "
        f"Action: {action}. Report: {report_uri}"
    )
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "\n".join(lines) or "no feature statistics"},
            },
        ],
    }


def post_json(url: str, payload: dict[str, Any]) -> None:
    """POST a JSON body; any non-2xx answer or network error is a `DriftActionError`."""
    import httpx

    try:
        response = httpx.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        raise DriftActionError(f"webhook {url} failed: {error}") from None
    if not response.is_success:
        raise DriftActionError(f"webhook {url} answered {response.status_code}: {response.text[:200]}")


def retrain_event(model: str, version: str, window_id: str, report: dict[str, Any], report_uri: str) -> dict[str, Any]:
    """The retrain request: which model and version drifted, in which window, where the report is."""
    dataset = report["dataset"]
    return {
        "model_name": model,
        "model_version": version,
        "window": window_id,
        "status": dataset["status"],
        "drift_share": dataset["drift_share"],
        "drifted_features": [name for name, entry in report["features"].items() if entry["status"] == "alert"],
        "report": report_uri,
    }


def put_event(bus: str, detail: dict[str, Any]) -> str:
    """EventBridge PutEvents (boto3 honours AWS_ENDPOINT_URL); returns the event id."""
    import boto3

    response = boto3.client("events").put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": EVENT_DETAIL_TYPE,
                "Detail": json.dumps(detail),
                "EventBusName": bus,
            }
        ]
    )
    entry = response["Entries"][0]
    if response.get("FailedEntryCount") or "EventId" not in entry:
        raise DriftActionError(f"EventBridge refused the retrain event: {entry.get('ErrorMessage', entry)}")
    return str(entry["EventId"])
