"""Every setting of `mlplat-serve`, read once from `MLPLAT_*` environment variables (DESIGN.md section 7)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_tracking_uri() -> str | None:
    return os.environ.get("MLFLOW_TRACKING_URI")


def _default_model_cache_dir() -> Path:
    """The service user's own cache ($XDG_CACHE_HOME or ~/.cache), never a shared directory such as /tmp."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlplat-serve" / "models"


class ServeSettings(BaseSettings):
    """Settings of the serving container; the Kubernetes workload and `mlplat dev` set these variables."""

    model_config = SettingsConfigDict(env_prefix="MLPLAT_", extra="ignore", protected_namespaces=())

    model_name: str = Field(description="Registered model to serve (required).")
    tracking_uri: str | None = Field(
        default_factory=_default_tracking_uri,
        description="MLflow tracking/registry URI; defaults to MLFLOW_TRACKING_URI.",
    )
    region: str = Field(default="local", description="AWS region this replica serves; the residency guard uses it.")
    champion_alias: str = Field(default="champion", description="Alias of the model version that answers.")
    challenger_alias: str | None = Field(default=None, description="Alias of the canary/shadow version.")
    canary_weight: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of entities routed to challenger.")
    shadow: bool = Field(default=False, description="Challenger scores a copy of each request and never answers.")
    max_batch_size: int = Field(default=64, ge=1, le=4096, description="Rows per micro-batch at most.")
    max_batch_delay_ms: float = Field(
        default=2.0, ge=0.0, le=1000.0, description="How long the first queued row may wait for company."
    )
    max_queue_rows: int = Field(default=4096, ge=1, description="Queued rows per variant before 503 shedding.")
    request_timeout_ms: float = Field(default=10_000.0, gt=0, description="Per-request deadline; beyond it 504.")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    header_timeout_seconds: float = Field(
        default=5.0, gt=0, description="A connection that has not sent a request's full headers by then is closed."
    )
    body_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request whose body has not fully arrived by then gets 408."
    )
    keep_alive_timeout_seconds: int = Field(
        default=5, ge=1, description="An idle keep-alive connection is closed after this long."
    )
    max_connections: int = Field(
        default=1024, ge=1, description="Open connections at most; beyond it new ones get 503 + Retry-After."
    )
    max_inflight_requests: int = Field(
        default=256, ge=1, description="Scoring requests in progress at most; beyond it 503 + Retry-After."
    )
    alias_poll_seconds: float = Field(default=30.0, gt=0, description="How often the registry aliases are polled.")
    model_cache_dir: Path = Field(
        default_factory=_default_model_cache_dir,
        description="Last good model per alias on disk (private: 0700, checksummed), so a restart while MLflow "
        "is down still serves.",
    )
    gil_switch_interval_ms: float = Field(
        default=5.0, gt=0, description="Python's GIL switch interval: lower lets the model thread in sooner."
    )
    model_threads: int = Field(default=1, ge=1, description="Native threads a model call may use (OpenMP/BLAS).")

    redis_url: str | None = Field(default=None, description="Online store (redis:// or rediss:// for TLS).")
    redis_token_file: Path | None = Field(default=None, description="File holding the Redis AUTH token.")
    redis_ca_file: Path | None = Field(default=None, description="CA bundle for a rediss:// online store.")
    redis_fetch: Literal["script", "pipeline"] = Field(
        default="script",
        description="One round trip: a server-side script call, or a pipeline (keys across cluster slots).",
    )
    redis_timeout_ms: float = Field(default=250.0, gt=0, description="Online store socket timeout.")
    redis_max_keys_per_trip: int = Field(
        default=512, ge=1, description="Keys per coalesced round trip at most (one request of more goes alone)."
    )
    feature_max_age_seconds: float = Field(default=86_400.0, gt=0, description="Older features are reported stale.")
    residency_file: Path | None = Field(
        default=None,
        description="YAML/JSON with `jurisdictions` and `tenants` (stacks/platform.yaml's shape).",
    )

    prediction_log_uri: str | None = Field(default=None, description="Local directory or s3://bucket/prefix.")
    prediction_log_sample: float = Field(default=0.1, ge=0.0, le=1.0, description="Share of requests logged.")
    prediction_log_buffer_rows: int = Field(default=50_000, ge=1, description="Buffered rows before drops.")
    prediction_log_flush_seconds: float = Field(default=30.0, gt=0, description="Flush period of the log.")
    prediction_log_max_rows_per_request: int = Field(
        default=100, ge=1, description="Logged rows of one request at most (sampled rows beyond it are dropped)."
    )
    prediction_log_max_rows_per_caller: int = Field(
        default=5000, ge=1, description="Logged rows of one caller per caller window at most."
    )
    prediction_log_caller_window_seconds: float = Field(
        default=3600.0, gt=0, description="The window of the per-caller cap (the drift job reads hour partitions)."
    )

    auth_key_file: Path | None = Field(
        default=None,
        description="Enables bearer auth: an HS256 secret, or a PEM public key for RS256.",
    )
    auth_audience: str | None = Field(
        default=None, description="Required `aud` claim when set; unset, tokens that carry an `aud` are refused."
    )
    auth_max_token_lifetime_seconds: float = Field(
        default=86_400.0, gt=0, description="Tokens whose `exp` lies further in the future are refused."
    )

    rollout_enabled: bool = Field(default=False, description="Progressive rollout of the challenger.")
    rollout_steps: str = Field(default="0.05,0.25,0.5,1.0", description="Canary weights, in order.")
    rollout_soak_seconds: float = Field(default=300.0, gt=0, description="Time at a step before advancing.")
    rollout_min_requests: int = Field(default=200, ge=1, description="Canary requests a window needs to judge.")
    rollout_eval_seconds: float = Field(default=10.0, gt=0, description="How often the controller evaluates.")

    log_level: str = Field(default="info", validation_alias=AliasChoices("MLPLAT_LOG_LEVEL"))

    @field_validator("challenger_alias", "redis_url", "prediction_log_uri", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _rollout_steps_parse(self) -> ServeSettings:
        steps = self.rollout_step_weights
        if not steps or any(not 0 < s <= 1 for s in steps) or list(steps) != sorted(steps):
            raise ValueError("MLPLAT_ROLLOUT_STEPS must be increasing weights in (0, 1], e.g. 0.05,0.25,0.5,1.0")
        return self

    @property
    def rollout_step_weights(self) -> tuple[float, ...]:
        return tuple(float(part) for part in self.rollout_steps.split(",") if part.strip())

    @property
    def routes_challenger(self) -> bool:
        """True when the challenger takes traffic (canary, rollout) or scores copies (shadow)."""
        return self.challenger_alias is not None and (self.canary_weight > 0 or self.shadow or self.rollout_enabled)
