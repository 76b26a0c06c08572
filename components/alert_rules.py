"""The platform's alert matrix as PrometheusRule groups, written against the metric names the serving
(`mlplat_*`, runtime/serving/metrics.py) and drift (`mlplat_drift_*`, runtime/drift/metrics.py) containers export,
DCGM's GPU metrics and kube-state-metrics' node taints. No pulumi import; the names are checked against the runtime
code by tests/components/test_observability.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Exposition names (prometheus_client adds `_total` to counters and `_bucket` to histograms).
REQUESTS = "mlplat_requests_total"
REQUEST_DURATION_BUCKET = "mlplat_request_duration_seconds_bucket"
MODEL_INFO = "mlplat_model_info"
DRIFT_FEATURE_PSI = "mlplat_drift_feature_psi"
DRIFT_LAST_RUN = "mlplat_drift_last_run_timestamp_seconds"
GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"  # dcgm-exporter, percent
NODE_TAINT = "kube_node_spec_taint"  # kube-state-metrics
SPOT_INTERRUPTION_TAINT = "aws-node-termination-handler/spot-itn"  # set by NTH on a spot interruption notice
RUNTIME_METRICS = (REQUESTS, REQUEST_DURATION_BUCKET, MODEL_INFO, DRIFT_FEATURE_PSI, DRIFT_LAST_RUN)


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    error_rate: float = 0.05
    p99_latency_seconds: float = 2.0
    psi: float = 0.25
    gpu_utilisation: float = 30.0
    spot_interruptions_per_hour: int = 3
    drift_stale_seconds: int = 3 * 3600


def _alert(name: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, "platform": "mlplat"},
        "annotations": {"summary": summary},
    }


def rule_groups(t: Thresholds) -> list[dict[str, Any]]:
    serving = [
        _alert(
            "MlplatServingErrorRateHigh",
            f'sum by (namespace) (rate({REQUESTS}{{status=~"5.."}}[5m])) / '
            f"sum by (namespace) (rate({REQUESTS}[5m])) > {t.error_rate:g}",
            "5m",
            "critical",
            f"More than {t.error_rate:.0%} of serving requests fail with 5xx",
        ),
        _alert(
            "MlplatServingLatencyP99High",
            f"histogram_quantile(0.99, sum by (le, endpoint) (rate({REQUEST_DURATION_BUCKET}[5m]))) "
            f"> {t.p99_latency_seconds:g}",
            "10m",
            "warning",
            f"p99 serving latency above {t.p99_latency_seconds:g} s",
        ),
        _alert(
            "MlplatModelUnavailable",
            f'(sum({MODEL_INFO}{{variant="champion"}}) or vector(0)) < 1',
            "5m",
            "critical",
            "No serving replica reports a loaded champion model",
        ),
    ]
    drift = [
        _alert(
            "MlplatDataDriftPsiHigh",
            f"max by (model, feature) ({DRIFT_FEATURE_PSI}) > {t.psi:g}",
            "0m",
            "warning",
            f"A feature's PSI is above {t.psi:g} (data drift)",
        ),
        _alert(
            "MlplatDriftJobStale",
            f"time() - max by (model) ({DRIFT_LAST_RUN}) > {t.drift_stale_seconds}",
            "15m",
            "warning",
            "The drift job has not reported a run recently",
        ),
    ]
    gpu = [
        _alert(
            "MlplatGpuUtilisationLow",
            f"avg({GPU_UTIL}) < {t.gpu_utilisation:g}",
            "1h",
            "info",
            f"Fleet GPU utilisation below {t.gpu_utilisation:g}% for an hour: scale the pools down",
        ),
        _alert(
            "MlplatSpotInterruptionRateHigh",
            # one series per tainted node: the nodes that got a spot interruption notice in the last hour
            f'count(max_over_time({NODE_TAINT}{{key="{SPOT_INTERRUPTION_TAINT}"}}[1h])) '
            f"> {t.spot_interruptions_per_hour}",
            "0m",
            "warning",
            f"More than {t.spot_interruptions_per_hour} spot interruption notices in an hour",
        ),
    ]
    return [
        {"name": "mlplat-serving", "rules": serving},
        {"name": "mlplat-drift", "rules": drift},
        {"name": "mlplat-gpu-fleet", "rules": gpu},
    ]
