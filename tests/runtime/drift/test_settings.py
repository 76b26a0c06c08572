"""The drift job's scale and caller settings as the workloads component renders them (components/runtime_settings.py)."""

from __future__ import annotations

import pytest

from components.runtime_settings import DriftEnvironment
from runtime.drift.settings import load_job_settings


def test_ray_and_caller_settings_render_and_load(monkeypatch: pytest.MonkeyPatch) -> None:
    env = DriftEnvironment(
        model_name="m",
        tracking_uri="http://mlflow:5000",
        prediction_log_uri="s3://logs/p",
        drift_categorical="a,b",
        drift_ray_address="ray://raycluster-head.mlplat.svc:10001",
        drift_ray_min_rows=5_000_000,
        drift_max_caller_share=0.4,
    ).as_env()
    assert env["MLPLAT_DRIFT_RAY_ADDRESS"] == "ray://raycluster-head.mlplat.svc:10001"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_job_settings()
    assert settings.drift_ray_address == "ray://raycluster-head.mlplat.svc:10001"
    assert settings.drift_ray_min_rows == 5_000_000 and settings.drift_max_caller_share == 0.4
    assert settings.categorical() == {"a", "b"}
    with pytest.raises(ValueError, match="drift_max_caller_share"):
        DriftEnvironment(model_name="m", tracking_uri="t", prediction_log_uri="p", drift_max_caller_share=0).as_env()
