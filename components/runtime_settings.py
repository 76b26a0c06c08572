"""The `MLPLAT_*` environment of the serving and drift containers (DESIGN.md section 7), built in one place so the
Kubernetes workloads and the local platform (`mlplat dev`) set exactly the same variables. No pulumi import."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ServingEnvironment:
    model_name: str
    tracking_uri: str
    region: str
    redis_url: str | None
    prediction_log_uri: str | None
    residency_file: str
    champion_alias: str = "champion"
    challenger_alias: str | None = "challenger"
    canary_weight: float = 0.0
    shadow: bool = False
    max_batch_size: int = 64
    max_batch_delay_ms: float = 0
    alias_poll_seconds: float = 30
    prediction_log_sample: float = 0.1
    prediction_log_flush_seconds: float = 30
    redis_token_file: str | None = None
    model_cache_dir: str | None = None

    def as_env(self) -> dict[str, str]:
        env = {
            "MLPLAT_MODEL_NAME": self.model_name,
            "MLPLAT_TRACKING_URI": self.tracking_uri,
            "MLPLAT_REGION": self.region,
            "MLPLAT_CHAMPION_ALIAS": self.champion_alias,
            "MLPLAT_CANARY_WEIGHT": f"{self.canary_weight:g}",
            "MLPLAT_SHADOW": "true" if self.shadow else "false",
            "MLPLAT_MAX_BATCH_SIZE": str(self.max_batch_size),
            "MLPLAT_MAX_BATCH_DELAY_MS": f"{self.max_batch_delay_ms:g}",
            "MLPLAT_ALIAS_POLL_SECONDS": f"{self.alias_poll_seconds:g}",
            "MLPLAT_PREDICTION_LOG_SAMPLE": f"{self.prediction_log_sample:g}",
            "MLPLAT_PREDICTION_LOG_FLUSH_SECONDS": f"{self.prediction_log_flush_seconds:g}",
            "MLPLAT_RESIDENCY_FILE": self.residency_file,
        }
        optional = {
            "MLPLAT_CHALLENGER_ALIAS": self.challenger_alias,
            "MLPLAT_REDIS_URL": self.redis_url,
            "MLPLAT_PREDICTION_LOG_URI": self.prediction_log_uri,
            "MLPLAT_REDIS_TOKEN_FILE": self.redis_token_file,
            "MLPLAT_MODEL_CACHE_DIR": self.model_cache_dir,
        }
        env.update({key: value for key, value in optional.items() if value is not None})
        return env


@dataclass(frozen=True, kw_only=True)
class DriftEnvironment:
    model_name: str
    tracking_uri: str
    prediction_log_uri: str
    categorical: tuple[str, ...] = ()
    action: str = "rollback"  # none | rollback | retrain
    window_minutes: int = 60
    report_uri: str | None = None
    metrics: str = "pushgateway"  # none | pushgateway | serve | textfile
    pushgateway_url: str | None = None
    metrics_textfile: str | None = None
    webhook_url: str | None = None
    champion_alias: str = "champion"
    # Windows above `ray_min_rows` (Parquet metadata) are counted on this Ray cluster (runtime/drift/ray_engine.py).
    ray_address: str | None = None
    ray_min_rows: int | None = None

    def as_env(self) -> dict[str, str]:
        env = {
            "MLPLAT_MODEL_NAME": self.model_name,
            "MLPLAT_TRACKING_URI": self.tracking_uri,
            "MLPLAT_PREDICTION_LOG_URI": self.prediction_log_uri,
            "MLPLAT_CHAMPION_ALIAS": self.champion_alias,
            "MLPLAT_DRIFT_ACTION": self.action,
            "MLPLAT_DRIFT_WINDOW_MINUTES": str(self.window_minutes),
            "MLPLAT_DRIFT_METRICS": self.metrics,
        }
        optional = {
            "MLPLAT_DRIFT_CATEGORICAL": ",".join(self.categorical) or None,
            "MLPLAT_DRIFT_REPORT_URI": self.report_uri,
            "MLPLAT_DRIFT_PUSHGATEWAY_URL": self.pushgateway_url,
            "MLPLAT_DRIFT_METRICS_TEXTFILE": self.metrics_textfile,
            "MLPLAT_DRIFT_WEBHOOK_URL": self.webhook_url,
            "MLPLAT_DRIFT_RAY_ADDRESS": self.ray_address,
            "MLPLAT_DRIFT_RAY_MIN_ROWS": None if self.ray_min_rows is None else str(self.ray_min_rows),
        }
        env.update({key: value for key, value in optional.items() if value is not None})
        return env
