"""Webhook payloads and the retrain event."""

from __future__ import annotations

import json

import pytest

from runtime.drift.actions import post_json, retrain_event, slack_message, worst_features
from runtime.drift.compare import CompareOptions, compare
from runtime.drift.errors import DriftActionError
from runtime.drift.profile import build_profile
from tests.runtime.drift.http_capture import CaptureServer
from tests.runtime.drift.samples import mixed_table


def _report() -> dict:
    return compare(
        build_profile(mixed_table(1, 3000), prediction_column="prediction"),
        mixed_table(2, 3000, shift=1.0),
        CompareOptions(),
    )


def test_slack_message_names_status_worst_features_action_and_report() -> None:
    report = _report()
    message = slack_message(
        model="m", version="4", window_id="w1", report=report, report_uri="s3://r.json", action="rolled back"
    )
    assert message["text"].startswith("Drift ") and "m v4" in message["text"] and "s3://r.json" in message["text"]
    assert "rolled back" in message["text"]
    assert "`x0`" in message["blocks"][1]["text"]["text"]
    assert worst_features(report)[0][0] == "x0"
    json.dumps(message)


def test_retrain_event_lists_drifted_features() -> None:
    event = retrain_event("m", "4", "w1", _report(), "s3://r.json")
    assert event["drifted_features"] == ["x0"] and event["report"] == "s3://r.json"


def test_webhook_errors_are_action_errors() -> None:
    server = CaptureServer(status=500)
    try:
        with pytest.raises(DriftActionError, match="answered 500"):
            post_json(f"{server.url}/hook", {"text": "x"})
        server.status = 200
        post_json(f"{server.url}/hook", {"text": "x"})
        assert json.loads(server.requests[-1].body) == {"text": "x"}
    finally:
        server.stop()
    with pytest.raises(DriftActionError, match="failed"):
        post_json("http://127.0.0.1:9/none", {"text": "x"})
