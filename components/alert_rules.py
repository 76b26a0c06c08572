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
PERFORMANCE_DROP = "mlplat_model_performance_drop_ratio"  # `mlplat-drift performance` (runtime/drift/performance.py)
GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"  # dcgm-exporter, percent
NODE_TAINT = "kube_node_spec_taint"  # kube-state-metrics
SPOT_INTERRUPTION_TAINT = "aws-node-termination-handler/spot-itn"  # set by NTH on a spot interruption notice
RUNTIME_METRICS = (REQUESTS, REQUEST_DURATION_BUCKET, MODEL_INFO, DRIFT_FEATURE_PSI, DRIFT_LAST_RUN)
# Severity routing (the seeds'): `page` wakes someone (PagerDuty), `ticket` is work for office hours (Slack).
PAGE, TICKET = "page", "ticket"


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    error_rate: float = 0.05
    p99_latency_seconds: float = 2.0
    psi: float = 0.25
    gpu_utilisation: float = 30.0
    spot_interruptions_per_hour: int = 3
    drift_stale_seconds: int = 3 * 3600
    accuracy_drop: float = 0.05


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
            PAGE,
            f"More than {t.error_rate:.0%} of serving requests fail with 5xx",
        ),
        _alert(
            "MlplatServingLatencyP99High",
            f"histogram_quantile(0.99, sum by (le, endpoint) (rate({REQUEST_DURATION_BUCKET}[5m]))) "
            f"> {t.p99_latency_seconds:g}",
            "10m",
            PAGE,
            f"p99 serving latency above {t.p99_latency_seconds:g} s",
        ),
        _alert(
            "MlplatModelUnavailable",
            f'(sum({MODEL_INFO}{{variant="champion"}}) or vector(0)) < 1',
            "5m",
            PAGE,
            "No serving replica reports a loaded champion model",
        ),
    ]
    drift = [
        _alert(
            "MlplatDataDriftPsiHigh",
            f"max by (model, feature) ({DRIFT_FEATURE_PSI}) > {t.psi:g}",
            "0m",
            TICKET,
            f"A feature's PSI is above {t.psi:g} (data drift)",
        ),
        _alert(
            "MlplatModelAccuracyDrop",
            f'max by (model, version, variant) ({PERFORMANCE_DROP}{{metric="accuracy"}}) > {t.accuracy_drop:g}',
            "0m",
            TICKET,
            f"Accuracy on late labels dropped more than {t.accuracy_drop:.0%} below the gate's holdout figure",
        ),
        _alert(
            "MlplatDriftJobStale",
            f"time() - max by (model) ({DRIFT_LAST_RUN}) > {t.drift_stale_seconds}",
            "15m",
            TICKET,
            "The drift job has not reported a run recently",
        ),
    ]
    gpu = [
        _alert(
            "MlplatGpuUtilisationLow",
            f"avg({GPU_UTIL}) < {t.gpu_utilisation:g}",
            "1h",
            TICKET,
            f"Fleet GPU utilisation below {t.gpu_utilisation:g}% for an hour: scale the pools down",
        ),
        _alert(
            "MlplatSpotInterruptionRateHigh",
            # one series per tainted node: the nodes that got a spot interruption notice in the last hour
            f'count(max_over_time({NODE_TAINT}{{key="{SPOT_INTERRUPTION_TAINT}"}}[1h])) '
            f"> {t.spot_interruptions_per_hour}",
            "0m",
            TICKET,
            f"More than {t.spot_interruptions_per_hour} spot interruption notices in an hour",
        ),
    ]
    return [
        {"name": "mlplat-serving", "rules": serving},
        {"name": "mlplat-drift", "rules": drift},
        {"name": "mlplat-gpu-fleet", "rules": gpu},
    ]


def rule_file(t: Thresholds) -> dict[str, Any]:
    """The same groups as a Prometheus rule file (`rule_files:`), checked with `promtool check rules`."""
    return {"groups": rule_groups(t)}


@dataclass(frozen=True, kw_only=True)
class Receivers:
    """Where alerts go. Secrets are files mounted from a Kubernetes Secret (never inline in the config):
    kube-prometheus-stack mounts `alertmanagerSpec.secrets` at /etc/alertmanager/secrets/<secret>/."""

    secret: str = "mlplat-alert-receivers"
    slack_channel: str = "#mlplat-alerts"
    slack_key: str = "slack-webhook-url"
    pagerduty_key: str = "pagerduty-routing-key"

    def secret_file(self, key: str) -> str:
        return f"/etc/alertmanager/secrets/{self.secret}/{key}"


def alertmanager_config(receivers: Receivers) -> dict[str, Any]:
    """Routes by severity: `page` to PagerDuty (and Slack), everything else to Slack."""
    slack = {
        "api_url_file": receivers.secret_file(receivers.slack_key),
        "channel": receivers.slack_channel,
        "send_resolved": True,
        "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})",
        "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
    }
    pagerduty = {
        "routing_key_file": receivers.secret_file(receivers.pagerduty_key),
        "severity": "critical",
        "send_resolved": True,
    }
    return {
        "route": {
            "receiver": "slack",
            "group_by": ["alertname", "namespace", "model"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"receiver": "pagerduty", "matchers": [f'severity="{PAGE}"'], "continue": True},
                {"receiver": "slack", "matchers": [f'severity=~"{PAGE}|{TICKET}"']},
            ],
        },
        "inhibit_rules": [
            # one page is enough: a missing model also means errors and latency
            {
                "source_matchers": ['alertname="MlplatModelUnavailable"'],
                "target_matchers": [f'severity="{PAGE}"', 'alertname!="MlplatModelUnavailable"'],
                "equal": ["namespace"],
            },
        ],
        "receivers": [
            {"name": "slack", "slack_configs": [slack]},
            {"name": "pagerduty", "pagerduty_configs": [pagerduty]},
        ],
    }
