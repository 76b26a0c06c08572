"""`mlplat-serve` settings: DESIGN.md section 7 variables and defaults; a bad value is named, exit 2."""

from __future__ import annotations

import pytest

from runtime.serving.cli import main
from runtime.serving.settings import ServeSettings


def test_design_variables_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("MLPLAT_MODEL_NAME", "churn")
    monkeypatch.setenv("MLPLAT_REGION", "eu-west-1")
    monkeypatch.setenv("MLPLAT_CHALLENGER_ALIAS", "challenger")
    monkeypatch.setenv("MLPLAT_CANARY_WEIGHT", "0.25")
    monkeypatch.setenv("MLPLAT_MAX_BATCH_SIZE", "32")
    monkeypatch.setenv("MLPLAT_MAX_BATCH_DELAY_MS", "1.5")
    monkeypatch.setenv("MLPLAT_ALIAS_POLL_SECONDS", "5")
    monkeypatch.setenv("MLPLAT_PREDICTION_LOG_URI", "s3://bucket/prefix")
    settings = ServeSettings()  # type: ignore[call-arg]
    assert settings.tracking_uri == "http://mlflow:5000"
    assert (settings.champion_alias, settings.challenger_alias, settings.canary_weight) == (
        "champion",
        "challenger",
        0.25,
    )
    assert (settings.max_batch_size, settings.max_batch_delay_ms, settings.alias_poll_seconds) == (
        32,
        1.5,
        5.0,
    )
    assert settings.shadow is False and settings.redis_url is None
    assert settings.prediction_log_sample == 0.1 and settings.routes_challenger


def test_bad_settings_exit_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLPLAT_MODEL_NAME", "churn")
    monkeypatch.setenv("MLPLAT_CANARY_WEIGHT", "2")
    assert main([]) == 2
    assert "MLPLAT_CANARY_WEIGHT" in capsys.readouterr().err
    monkeypatch.delenv("MLPLAT_MODEL_NAME")
    monkeypatch.setenv("MLPLAT_CANARY_WEIGHT", "0")
    assert main([]) == 2
    assert "MLPLAT_MODEL_NAME" in capsys.readouterr().err
