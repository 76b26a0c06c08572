"""The job's Prometheus metrics (`mlplat_drift_*`, base units): built from a report, then pushed to a
Pushgateway, served for scraping, or written as a node-exporter textfile."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, start_http_server, write_to_textfile

STATUS_VALUE = {"ok": 0, "warn": 1, "alert": 2, "unavailable": -1}
JOB_NAME = "mlplat-drift"


def build_registry(
    *,
    model: str,
    version: str,
    report: dict[str, Any] | None,
    n_rows: int,
    duration_seconds: float,
    action: str,
) -> CollectorRegistry:
    """One registry holding this run's gauges (a fresh one per run: nothing global)."""
    registry = CollectorRegistry()
    labels = {"model": model, "version": version}
    Gauge(
        "mlplat_drift_last_run_timestamp_seconds",
        "When the drift job last finished.",
        list(labels),
        registry=registry,
    ).labels(**labels).set(time.time())
    Gauge(
        "mlplat_drift_run_duration_seconds",
        "Wall time of the last drift run.",
        list(labels),
        registry=registry,
    ).labels(**labels).set(duration_seconds)
    Gauge("mlplat_drift_current_rows", "Prediction-log rows in the window.", list(labels), registry=registry).labels(
        **labels
    ).set(n_rows)
    Gauge(
        "mlplat_drift_action_info",
        "The action taken by the last run (value 1).",
        [*labels, "action"],
        registry=registry,
    ).labels(**labels, action=action).set(1)
    if report is None:
        return registry
    dataset = report["dataset"]
    Gauge(
        "mlplat_drift_dataset_status",
        "Dataset status: 0 ok, 1 warn, 2 alert.",
        list(labels),
        registry=registry,
    ).labels(**labels).set(STATUS_VALUE[dataset["status"]])
    Gauge("mlplat_drift_dataset_drift_share", "Share of features at alert.", list(labels), registry=registry).labels(
        **labels
    ).set(dataset["drift_share"])
    feature_labels = [*labels, "feature"]
    psi = Gauge("mlplat_drift_feature_psi", "PSI per feature.", feature_labels, registry=registry)
    js = Gauge(
        "mlplat_drift_feature_js_distance",
        "Jensen-Shannon distance per feature.",
        feature_labels,
        registry=registry,
    )
    status = Gauge(
        "mlplat_drift_feature_status",
        "Feature status: -1 unavailable, 0 ok, 1 warn, 2 alert.",
        feature_labels,
        registry=registry,
    )
    entries = dict(report["features"])
    if report.get("prediction"):
        entries["prediction"] = report["prediction"]
    for name, entry in entries.items():
        status.labels(**labels, feature=name).set(STATUS_VALUE[entry["status"]])
        if entry["psi"] is not None:
            psi.labels(**labels, feature=name).set(entry["psi"])
            js.labels(**labels, feature=name).set(entry["js_distance"])
    return registry


def push(registry: CollectorRegistry, gateway: str, model: str) -> None:
    push_to_gateway(gateway, job=JOB_NAME, registry=registry, grouping_key={"model": model}, timeout=10)


def serve(registry: CollectorRegistry, host: str, port: int, linger_seconds: float) -> None:
    """Answer scrapes on host:port for `linger_seconds`, then return (the job then exits)."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    try:
        time.sleep(linger_seconds)
    finally:
        server.shutdown()
        thread.join(timeout=5)


def write_textfile(registry: CollectorRegistry, path: str) -> None:
    write_to_textfile(path, registry)
