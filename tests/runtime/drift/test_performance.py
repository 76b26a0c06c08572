"""`mlplat-drift performance` against a real MLflow registry: late labels joined to the prediction log by
request_id, accuracy per variant/version/window, and a drop beyond the limit rolls the champion back, tells the
webhook and writes the promotion history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from runtime import prediction_log
from runtime.drift import registry
from runtime.drift.cli import main
from runtime.promotion_history import HistoryStore
from tests.runtime.conftest import Server
from tests.runtime.drift.http_capture import CaptureServer

pytestmark = pytest.mark.slow


def _champion_with_history(server: Server, name: str) -> MlflowClient:
    client = MlflowClient(server.url)
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, source="s3://mlplat-models-test/perf/model")
    registry.promote(client, name, "1")
    registry.promote(client, name, "2")  # v2 champion, v1 recorded as the one before
    client.set_model_version_tag(name, "2", "mlplat.gate.accuracy", "0.95")
    return client


def _logs(folder: Path, rows: int, correct_share: float, name: str) -> tuple[Path, Path]:
    """A prediction log (the serving layout) and a later labels file; `correct_share` of labels agree."""
    rng = np.random.default_rng(4)
    now = datetime.now(UTC)
    predictions = pd.DataFrame({
        "request_id": [f"r-{i}" for i in range(rows)], "ts": [now] * rows, "tenant": "acme-eu",
        "model_name": name, "model_version": "2", "variant": "champion", "f0": rng.normal(size=rows),
        prediction_log.PREDICTION_COLUMN: rng.integers(0, 2, size=rows).astype(float),
    })  # fmt: skip
    part = Path(prediction_log.partition_prefix(str(folder / "log"), name, now))
    part.mkdir(parents=True)
    predictions.to_parquet(part / "part-0.parquet")
    agree = rng.random(rows) < correct_share
    labels = np.where(agree, predictions["prediction"], 1 - predictions["prediction"]).astype(int)
    # labels come late and in another order; a few never come, some ids are not ours
    frame = pd.DataFrame({"request_id": predictions["request_id"], "label": labels}).iloc[::-1].head(rows - 20)
    frame = pd.concat([frame, pd.DataFrame({"request_id": ["other-1"], "label": [1]})])
    frame.to_parquet(folder / "labels.parquet")
    return folder / "log", folder / "labels.parquet"


def _run(server: Server, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setenv("MLPLAT_TRACKING_URI", server.url)
    return main(["performance", *argv])


def test_accuracy_drop_on_late_labels_rolls_back_and_is_recorded(
    mlflow_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "perf-drop"
    client = _champion_with_history(mlflow_server, name)
    predictions, labels = _logs(tmp_path, 400, correct_share=0.8, name=name)
    hook, history = CaptureServer(), str(tmp_path / "history")
    out, gauges = tmp_path / "report.json", tmp_path / "perf.prom"
    try:
        code = _run(mlflow_server, monkeypatch, "--predictions", str(predictions), "--labels", str(labels),
                    "--model", name, "--webhook", hook.url, "--history-uri", history, "--out", str(out),
                    "--metrics-textfile", str(gauges))  # fmt: skip
    finally:
        hook.stop()
    assert code == 1
    report = json.loads(out.read_text())
    assert report["counts"]["joined"] == 380 and report["counts"]["labels"] == 381
    (group,) = report["groups"]
    assert group["variant"] == "champion" and group["baseline"] == 0.95 and 0.75 < group["value"] < 0.85
    assert group["breach"] and report["actions"][0] == "rolled back champion v2 -> v1"
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert "Performance drop" in json.loads(hook.requests[0].body)["text"]
    (event,) = HistoryStore(history).events(name)
    assert event["event"] == "rollback" and event["restored"] == "1" and "accuracy" in event["why"]
    assert 'mlplat_model_performance_drop_ratio{metric="accuracy",model="perf-drop"' in gauges.read_text()


def test_no_drop_takes_no_action_and_bad_labels_are_reported(
    mlflow_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "perf-steady"
    client = _champion_with_history(mlflow_server, name)
    predictions, labels = _logs(tmp_path, 400, correct_share=0.96, name=name)
    out = tmp_path / "report.json"
    assert _run(mlflow_server, monkeypatch, "--predictions", str(predictions), "--labels", str(labels),
                "--model", name, "--out", str(out)) == 0  # fmt: skip
    assert json.loads(out.read_text())["actions"] == []
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    broken = tmp_path / "broken.parquet"
    pd.DataFrame({"id": ["r-1"], "label": [1]}).to_parquet(broken)
    assert _run(mlflow_server, monkeypatch, "--predictions", str(predictions), "--labels", str(broken),
                "--model", name) == 2  # fmt: skip
    assert "the labels have no `request_id` column" in capsys.readouterr().err
