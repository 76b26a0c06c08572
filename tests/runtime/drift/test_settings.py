"""The drift job's settings as the workloads component renders them (components/runtime_settings.py)."""

from __future__ import annotations

import pytest

from components.runtime_settings import DriftEnvironment
from runtime.drift.settings import JobSettings, load_job_settings


def test_every_rendered_variable_is_a_job_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    env = DriftEnvironment(
        model_name="m",
        tracking_uri="http://mlflow:5000",
        prediction_log_uri="s3://logs/p",
        categorical=("a", "b"),
        pushgateway_url="http://pg:9091",
        ray_address="ray://raycluster-head.mlplat.svc:10001",
        ray_min_rows=5_000_000,
    ).as_env()
    fields = {f"MLPLAT_{name.upper()}" for name in JobSettings.model_fields}
    assert set(env) <= fields, set(env) - fields
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_job_settings()
    assert settings.drift_ray_address == "ray://raycluster-head.mlplat.svc:10001"
    assert settings.drift_ray_min_rows == 5_000_000 and settings.categorical() == {"a", "b"}
    assert settings.drift_max_caller_share == 0.5
