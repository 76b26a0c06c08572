"""Settings of the drift job (`mlplat-drift job`), read once from `MLPLAT_*` environment variables."""

from __future__ import annotations

import os
from datetime import datetime
from enum import StrEnum

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.drift.errors import DriftInputError
from runtime.drift.thresholds import Thresholds

# Where the job finds the profile in the champion's training run. Kept here, not in profile.py, so that reading the
# settings (as components/runtime_settings.py does when it renders the CronJob's environment) needs no numpy/pyarrow.
DEFAULT_PROFILE_ARTIFACT = "drift/reference_profile.npz"


class Action(StrEnum):
    """What the job does when the dataset is at alert."""

    NONE = "none"
    ROLLBACK = "rollback"
    RETRAIN = "retrain"


class MetricsMode(StrEnum):
    """How the job publishes its Prometheus metrics."""

    NONE = "none"
    PUSHGATEWAY = "pushgateway"
    SERVE = "serve"
    TEXTFILE = "textfile"


class RetrainTarget(StrEnum):
    EVENTBRIDGE = "eventbridge"
    WEBHOOK = "webhook"


def _default_tracking_uri() -> str | None:
    return os.environ.get("MLFLOW_TRACKING_URI")


class JobSettings(BaseSettings):
    """The CronJob's settings; the Kubernetes workload and `mlplat dev` set these variables."""

    model_config = SettingsConfigDict(env_prefix="MLPLAT_", extra="ignore", protected_namespaces=())

    model_name: str = Field(description="Registered model whose prediction logs are checked (required).")
    prediction_log_uri: str = Field(description="Prefix serving logs to: a local directory or s3://bucket/prefix.")
    tracking_uri: str | None = Field(
        default_factory=_default_tracking_uri, description="MLflow URI; defaults to MLFLOW_TRACKING_URI."
    )
    champion_alias: str = Field(default="champion", description="Alias of the version being checked.")
    drift_window_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60, description="Window length.")
    drift_window_end: datetime | None = Field(
        default=None,
        description="Window end (ISO 8601, UTC if naive); default: now rounded down to the minute.",
    )
    drift_reference_artifact: str = Field(
        default=DEFAULT_PROFILE_ARTIFACT, description="Path of the reference profile in the version's run."
    )
    drift_reference_profile: str | None = Field(
        default=None, description="A profile file or s3:// URI to use instead of the MLflow artifact."
    )
    drift_categorical: str = Field(default="", description="Comma-separated categorical features.")
    drift_report_uri: str | None = Field(
        default=None, description="Where reports go; default: <prediction_log_uri>/_drift/model=<name>."
    )
    drift_psi_warn: float = Field(default=0.1, gt=0)
    drift_psi_alert: float = Field(default=0.25, gt=0)
    drift_share_alert: float = Field(default=0.2, ge=0, lt=1)
    drift_min_rows: int = Field(default=200, ge=1, description="Fewer current rows: no statistics, no action.")
    drift_action: Action = Field(default=Action.NONE, description="On alert: none, rollback or retrain.")
    drift_webhook_url: str | None = Field(default=None, description="Slack-compatible webhook for warn/alert.")
    drift_retrain_target: RetrainTarget = Field(default=RetrainTarget.EVENTBRIDGE)
    drift_event_bus: str = Field(default="default", description="EventBridge bus of the retrain event.")
    drift_retrain_webhook_url: str | None = Field(default=None, description="Webhook of the retrain event.")
    drift_metrics: MetricsMode = Field(default=MetricsMode.NONE, description="none/pushgateway/serve/textfile.")
    drift_pushgateway_url: str | None = Field(default=None, description="Pushgateway address (host:port or URL).")
    drift_metrics_port: int = Field(default=9108, ge=1, le=65535, description="Port of the `serve` mode.")
    drift_metrics_host: str = Field(default="0.0.0.0", description="Bind address of the `serve` mode.")  # noqa: S104
    drift_metrics_linger_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How long `serve` mode keeps answering scrapes after the run.",
    )
    drift_metrics_textfile: str = Field(
        default="/tmp/mlplat_drift.prom",  # noqa: S108 - the image's only writable place besides mounts
        description="File of `textfile` mode.",
    )
    drift_workers: int = Field(default=2, ge=1, le=64)
    drift_batch_rows: int = Field(default=131_072, ge=1, description="Rows per record batch when streaming.")
    drift_ray_address: str | None = Field(
        default=None, description="Ray cluster for large windows (e.g. ray://raycluster-head:10001); unset: never Ray."
    )
    drift_ray_min_rows: int = Field(
        default=20_000_000,
        ge=0,
        description="Windows with more rows than this (Parquet metadata, before reading) are counted on Ray.",
    )
    drift_max_caller_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A window where one caller sent more than this share of rows is reported unreliable (no action).",
    )

    @field_validator(
        "tracking_uri",
        "drift_reference_profile",
        "drift_report_uri",
        "drift_webhook_url",
        "drift_retrain_webhook_url",
        "drift_pushgateway_url",
        "drift_ray_address",
        "drift_window_end",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _consistent(self) -> JobSettings:
        self.thresholds()  # raises ValueError on inconsistent tiers
        if self.drift_metrics is MetricsMode.PUSHGATEWAY and not self.drift_pushgateway_url:
            raise ValueError("MLPLAT_DRIFT_METRICS=pushgateway needs MLPLAT_DRIFT_PUSHGATEWAY_URL")
        if (
            self.drift_action is Action.RETRAIN
            and self.drift_retrain_target is RetrainTarget.WEBHOOK
            and not self.drift_retrain_webhook_url
        ):
            raise ValueError("MLPLAT_DRIFT_RETRAIN_TARGET=webhook needs MLPLAT_DRIFT_RETRAIN_WEBHOOK_URL")
        if self.drift_reference_profile is None and not self.tracking_uri:
            raise ValueError("set MLPLAT_TRACKING_URI (or MLFLOW_TRACKING_URI) or MLPLAT_DRIFT_REFERENCE_PROFILE")
        return self

    def thresholds(self) -> Thresholds:
        return Thresholds(
            psi_warn=self.drift_psi_warn,
            psi_alert=self.drift_psi_alert,
            drift_share_alert=self.drift_share_alert,
        )

    def categorical(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.drift_categorical.split(",") if name.strip())

    def report_root(self) -> str:
        if self.drift_report_uri:
            return self.drift_report_uri.rstrip("/")
        return f"{self.prediction_log_uri.rstrip('/')}/_drift/model={self.model_name}"


def load_job_settings() -> JobSettings:
    """The settings from the environment; a `DriftInputError` naming each bad variable otherwise."""
    try:
        return JobSettings()
    except ValidationError as error:
        problems = "; ".join(
            f"MLPLAT_{str(item['loc'][0]).upper()}: {item['msg']}" if item["loc"] else item["msg"]
            for item in error.errors()
        )
        raise DriftInputError(f"bad job settings: {problems}") from None
