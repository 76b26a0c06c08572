"""The containers' `MLPLAT_*` environment is rendered from their own settings classes: a deployment can set only
variables the containers read, and the containers' defaults unless it overrides one on purpose."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from components.runtime_settings import (
    DRIFT_RENDERED,
    SERVING_RENDERED,
    DriftEnvironment,
    ServingEnvironment,
    render_value,
    variable,
)
from mlplat.dev.platform import default_platform
from runtime.drift.settings import JobSettings
from runtime.serving.settings import ServeSettings

AWS_VARIABLES = {"AWS_REGION", "AWS_DEFAULT_REGION"}


def _variables(settings_class: type) -> dict[str, str]:
    return {variable(settings_class, name): name for name in settings_class.model_fields}


def _containers(graph: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Container name -> its env, for the serving Deployment and the drift CronJob."""
    found = {}
    for resource in graph["resources"]:
        inputs = resource["inputs"]
        if inputs.get("kind") == "Deployment":
            pod = inputs["spec"]["template"]["spec"]
        elif inputs.get("kind") == "CronJob":
            pod = inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        else:
            continue
        for container in pod["containers"]:
            if container["name"] in {"serving", "drift"}:
                found[container["name"]] = {e["name"]: e.get("value") for e in container.get("env", [])}
    return found


def _check(env: dict[str, str], settings_class: type, overridden: set[str]) -> None:
    known = _variables(settings_class)
    unknown = set(env) - set(known) - AWS_VARIABLES
    assert not unknown, f"{sorted(unknown)} are not fields of {settings_class.__name__}"
    for name, value in env.items():
        field = known.get(name)
        if field is None or field in overridden:
            continue
        assert value == render_value(settings_class.model_fields[field].default), f"{name} drifted from the default"


SERVING_OVERRIDES = {
    "model_name", "tracking_uri", "region", "redis_url", "prediction_log_uri", "residency_file", "challenger_alias",
    "canary_weight", "shadow", "prediction_log_sample", "redis_token_file", "model_cache_dir",
}  # fmt: skip
DRIFT_OVERRIDES = {
    "model_name", "tracking_uri", "prediction_log_uri", "drift_categorical", "drift_action", "drift_window_minutes",
    "drift_metrics", "drift_pushgateway_url",
}  # fmt: skip


def test_deployed_containers_set_only_their_settings_at_their_defaults(
    regional_graphs: dict[str, dict[str, Any]],
) -> None:
    for name, graph in regional_graphs.items():
        containers = _containers(graph)
        assert set(containers) == {"serving", "drift"}, name
        _check(containers["serving"], ServeSettings, SERVING_OVERRIDES)
        _check(containers["drift"], JobSettings, DRIFT_OVERRIDES)
        # the measured default (docs/serving.md: p99 38 ms at 2 ms against 119 ms at 0 ms), not a restated 0
        assert containers["serving"]["MLPLAT_MAX_BATCH_DELAY_MS"] == "2", name


def test_mlplat_dev_sets_only_the_containers_settings() -> None:
    platform = default_platform(Path(__file__).resolve().parents[2])
    serving = platform.serving_environment(canary_weight=0.2).as_env()
    _check(serving, ServeSettings, {"model_name", "tracking_uri", "region", "redis_url", "prediction_log_uri",
           "residency_file", "challenger_alias", "canary_weight", "alias_poll_seconds", "prediction_log_sample",
           "prediction_log_flush_seconds", "model_cache_dir"})  # fmt: skip
    assert serving["MLPLAT_MAX_BATCH_DELAY_MS"] == "2"
    drift = platform.drift_environment(("plan_tier",)).as_env()
    _check(drift, JobSettings, {"model_name", "tracking_uri", "prediction_log_uri", "drift_categorical",
           "drift_action", "drift_window_minutes", "drift_report_uri", "drift_metrics", "drift_metrics_textfile",
           "drift_max_caller_share"})  # fmt: skip


def test_the_rendered_defaults_are_the_containers() -> None:
    env = ServingEnvironment(model_name="m", tracking_uri="http://mlflow").as_env()
    assert set(env) == {variable(ServeSettings, n) for n in SERVING_RENDERED}
    for name in SERVING_RENDERED[2:]:
        assert env[variable(ServeSettings, name)] == render_value(ServeSettings.model_fields[name].default)
    drift = DriftEnvironment(model_name="m", tracking_uri="http://mlflow", prediction_log_uri="s3://b/p").as_env()
    assert set(drift) == {variable(JobSettings, n) for n in DRIFT_RENDERED}
    assert drift["MLPLAT_DRIFT_ACTION"] == "none" and drift["MLPLAT_DRIFT_METRICS"] == "none"


def test_a_name_the_container_does_not_read_is_refused() -> None:
    with pytest.raises(ValueError, match="no field"):
        ServingEnvironment(model_name="m", tracking_uri="t", batch_delay=3).as_env()
    with pytest.raises(ValueError, match="no field"):
        DriftEnvironment(model_name="m", tracking_uri="t", prediction_log_uri="p", action="rollback").as_env()


def test_a_value_the_container_would_refuse_fails_at_render(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPLAT_DRIFT_PUSHGATEWAY_URL", "http://from-my-shell:9091")  # never leaks into a render
    with pytest.raises(ValidationError, match="PUSHGATEWAY_URL"):
        DriftEnvironment(model_name="m", tracking_uri="t", prediction_log_uri="p", drift_metrics="pushgateway").as_env()
    with pytest.raises(ValidationError):
        ServingEnvironment(model_name="m", tracking_uri="t", canary_weight=1.5).as_env()
