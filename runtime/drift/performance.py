"""Label-based performance monitoring: late labels joined to the prediction log by `request_id`, the training
metrics per variant, version and window, and on a drop beyond the limit the drift job's action path (webhook,
rollback of the champion alias through runtime/drift/registry.py, an entry in the promotion history).

The baseline of a version is the holdout figure its quality gate recorded (`mlplat.gate.<metric>` version tag);
the drop is relative to it: `(baseline - live) / baseline`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from runtime import prediction_log
from runtime.drift import actions, registry
from runtime.drift.errors import DriftInputError
from runtime.drift.tables import read_table

SCHEMA = "mlplat.performance/v1"
GATE_METRIC_TAG = "mlplat.gate.{metric}"  # written by `mlplat-promote gate` (runtime/promote/registry.py)


@dataclass(frozen=True)
class PerformanceOptions:
    model: str
    metric: str = "accuracy"
    label_column: str = "label"
    max_drop: float = 0.05
    threshold: float = 0.5
    window_minutes: int = 60
    min_rows: int = 100
    champion_alias: str = "champion"


@dataclass
class PerformanceOutcome:
    report: dict[str, Any]
    drops: list[dict[str, Any]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def joined(predictions: pd.DataFrame, labels: pd.DataFrame, label_column: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Prediction rows with their late label, one per request (requests scored as several rows are left out)."""
    for name, frame, column in (("predictions", predictions, "request_id"), ("labels", labels, "request_id"),
                                ("labels", labels, label_column)):  # fmt: skip
        if column not in frame.columns:
            raise DriftInputError(f"the {name} have no `{column}` column (columns: {', '.join(frame.columns)})")
    repeated = predictions["request_id"].duplicated(keep=False)
    single = predictions[~repeated]
    labels = labels.drop_duplicates("request_id", keep="last")[["request_id", label_column]]
    merged = single.merge(labels, on="request_id", how="inner")
    counts = {
        "predictions": len(predictions),
        "labels": len(labels),
        "multi_row_requests_left_out": int(repeated.sum()),
        "joined": len(merged),
    }
    return merged, counts


def _metric(name: str, labels: np.ndarray, scores: np.ndarray, threshold: float) -> float | None:
    from sklearn import metrics

    if name == "roc_auc":
        return float(metrics.roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None
    predicted = (scores >= threshold).astype(int)
    if name == "accuracy":
        return float(metrics.accuracy_score(labels, predicted))
    if name == "f1":
        return float(metrics.f1_score(labels, predicted, zero_division=0))
    raise DriftInputError(f"unknown metric {name!r}: use accuracy, roc_auc or f1")


def evaluate(
    frame: pd.DataFrame, options: PerformanceOptions, baselines: dict[str, float | None]
) -> list[dict[str, Any]]:
    """One entry per (variant, version, window): rows, live metric, the gate's baseline and the relative drop."""
    ts = frame["ts"]
    stamps = (
        pd.to_datetime(ts, unit="s", utc=True) if pd.api.types.is_numeric_dtype(ts) else pd.to_datetime(ts, utc=True)
    )
    frame = frame.assign(window=stamps.dt.floor(f"{options.window_minutes}min"))
    groups = []
    for (variant, version, window), rows in frame.groupby(["variant", "model_version", "window"], sort=True):
        labels = rows[options.label_column].to_numpy(dtype=int)
        scores = rows[prediction_log.PREDICTION_COLUMN].to_numpy(dtype=float)
        live = _metric(options.metric, labels, scores, options.threshold) if len(rows) >= options.min_rows else None
        baseline = baselines.get(str(version))
        drop = (baseline - live) / baseline if live is not None and baseline else None
        groups.append({
            "variant": variant, "version": str(version), "window": window.isoformat(), "rows": len(rows),
            "metric": options.metric, "value": live, "baseline": baseline,
            "drop_ratio": drop, "breach": drop is not None and drop > options.max_drop,
        })  # fmt: skip
    return groups


def baselines(mlflow: Any, model: str, versions: set[str], metric: str) -> dict[str, float | None]:
    found: dict[str, float | None] = {}
    for version in versions:
        tags = mlflow.get_model_version(model, version).tags or {}
        value = tags.get(GATE_METRIC_TAG.format(metric=metric))
        found[version] = float(value) if value not in (None, "") else None
    return found


def run(
    predictions_uri: str,
    labels_uri: str,
    options: PerformanceOptions,
    *,
    mlflow: Any,
    rollback: bool,
    webhook_url: str | None,
    history: Any | None,
) -> PerformanceOutcome:
    predictions = read_table(predictions_uri).to_pandas()
    labels = read_table(labels_uri).to_pandas()
    frame, counts = joined(predictions, labels, options.label_column)
    if frame.empty:
        raise DriftInputError(f"no prediction in {predictions_uri} has a label in {labels_uri} (joined by request_id)")
    versions = {str(v) for v in frame["model_version"].unique()}
    groups = evaluate(frame, options, baselines(mlflow, options.model, versions, options.metric))
    report = {"schema": SCHEMA, "model": options.model, "counts": counts, "max_drop": options.max_drop,
              "groups": groups}  # fmt: skip
    outcome = PerformanceOutcome(report, drops=[g for g in groups if g["breach"]])
    champion = registry.champion(mlflow, options.model, options.champion_alias).version
    latest = [g for g in outcome.drops if g["variant"] == "champion" and g["version"] == champion]
    if latest:
        _act(latest[-1], options, outcome, mlflow=mlflow, rollback=rollback, webhook_url=webhook_url, history=history)
    return outcome


def _act(
    drop: dict[str, Any],
    options: PerformanceOptions,
    outcome: PerformanceOutcome,
    *,
    mlflow: Any,
    rollback: bool,
    webhook_url: str | None,
    history: Any | None,
) -> None:
    reason = (
        f"{options.metric} on late labels {drop['value']:.4f} vs gate {drop['baseline']:.4f} "
        f"(drop {drop['drop_ratio']:.1%} > {options.max_drop:.0%}) in window {drop['window']}, {drop['rows']} rows"
    )
    window_id = f"performance-{drop['window']}"
    if rollback:
        try:
            done = registry.rollback(
                mlflow, options.model, options.champion_alias, bad_version=drop["version"], window_id=window_id,
                reason=reason, report_uri="",
            )  # fmt: skip
            outcome.actions.append(
                f"rolled back {options.champion_alias} v{done.from_version} -> v{done.to_version}"
                if done.done
                else f"no rollback: {done.reason}"
            )
            if done.done and history is not None:
                history.append(options.model, "rollback", version=drop["version"], why=reason,
                               by="mlplat-drift performance", alias=options.champion_alias,
                               restored=done.to_version, figures=drop)  # fmt: skip
        except Exception as error:
            outcome.failures.append(f"rollback: {error}")
    if webhook_url:
        text = f"Performance drop for model {options.model} v{drop['version']}: {reason}. " + (
            "; ".join(outcome.actions) or "no action"
        )
        try:
            actions.post_json(webhook_url, {"text": text})
            outcome.actions.append("webhook notified")
        except Exception as error:
            outcome.failures.append(f"webhook: {error}")


def write_metrics(outcome: PerformanceOutcome, path: str) -> None:
    """`mlplat_model_performance{...}` and `..._drop_ratio{...}` of the newest window per variant and version
    in the node-exporter textfile format (the alert rule `MlplatModelAccuracyDrop` reads the drop ratio)."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    gauges = CollectorRegistry()
    labels = ["model", "version", "variant", "metric"]
    value = Gauge("mlplat_model_performance", "Metric on late labels, newest window.", labels, registry=gauges)
    drop = Gauge("mlplat_model_performance_drop_ratio", "Relative drop below the gate's figure.", labels,
                 registry=gauges)  # fmt: skip
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for group in outcome.report["groups"]:
        newest[(group["variant"], group["version"])] = group
    for (variant, version), group in newest.items():
        key = (outcome.report["model"], version, variant, group["metric"])
        if group["value"] is not None:
            value.labels(*key).set(group["value"])
        if group["drop_ratio"] is not None and not math.isnan(group["drop_ratio"]):
            drop.labels(*key).set(group["drop_ratio"])
    write_to_textfile(path, gauges)
