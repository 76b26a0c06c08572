"""Prometheus metrics of the serving container: one registry, `mlplat_` prefix, base units."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
DIFF_BUCKETS = (0.0, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "mlplat_requests", "Requests answered, by endpoint, variant and status.",
            ["endpoint", "variant", "status"], registry=r,
        )  # fmt: skip
        self.request_latency = Histogram(
            "mlplat_request_duration_seconds", "Time from request to answer.", ["endpoint", "variant"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_wait = Histogram(
            "mlplat_queue_wait_seconds", "Time a request waited for its micro-batch.", ["variant"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.model_latency = Histogram(
            "mlplat_model_duration_seconds", "Time of one model call (one micro-batch).", ["variant"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.batch_size = Histogram(
            "mlplat_batch_size_rows", "Rows per model call.", ["variant"], buckets=BATCH_BUCKETS, registry=r
        )
        self.inference_count = Counter(
            "mlplat_inference", "Rows scored (Triton's inference count).", ["variant"], registry=r
        )
        self.execution_count = Counter(
            "mlplat_execution", "Model calls (Triton's execution count).", ["variant"],
            registry=r,
        )  # fmt: skip
        self.feature_latency = Histogram(
            "mlplat_feature_fetch_duration_seconds", "One pipelined online-store round trip.",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.feature_missing = Counter(
            "mlplat_feature_missing_entities", "Entities with no features in the online store.", registry=r
        )
        self.feature_stale = Counter(
            "mlplat_feature_stale_entities", "Entities whose features are older than the max age.", registry=r
        )
        self.feature_store_errors = Counter(
            "mlplat_feature_store_errors",
            "Online-store round trips that failed (degraded answers).",
            registry=r,
        )
        self.residency_refusals = Counter(
            "mlplat_residency_refusals", "Requests refused because the tenant's data may not be served here.",
            registry=r,
        )  # fmt: skip
        self.shadow_difference = Histogram(
            "mlplat_shadow_difference", "Absolute champion - challenger difference per shadow-scored row.",
            buckets=DIFF_BUCKETS, registry=r,
        )  # fmt: skip
        self.shadow_errors = Counter("mlplat_shadow_errors", "Shadow scorings that failed.", registry=r)
        self.rollout_weight = Gauge(
            "mlplat_rollout_weight_ratio", "Share of traffic routed to the challenger.", registry=r
        )
        self.rollout_steps = Counter(
            "mlplat_rollout_steps", "Rollout decisions that changed the weight.", ["action"], registry=r
        )
        self.model_info = Gauge(
            "mlplat_model_info", "1 for the model version each variant serves.",
            ["variant", "model", "version", "source"], registry=r,
        )  # fmt: skip
        self.model_swaps = Counter(
            "mlplat_model_swaps", "Alias moves applied without restart.", ["variant"], registry=r
        )
        self.prediction_log_rows = Counter(
            "mlplat_prediction_log_rows", "Rows written to the prediction log.", registry=r
        )
        self.prediction_log_dropped = Counter(
            "mlplat_prediction_log_dropped_rows",
            "Sampled rows not logged, by reason: request_cap, caller_cap, buffer_full, write_failed.",
            ["reason"], registry=r,
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)
