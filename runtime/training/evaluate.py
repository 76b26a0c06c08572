"""The time-based holdout and the metrics the promotion gates read, overall and per slice."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from runtime.training.config import Task, TrainingConfig

THRESHOLD = 0.5


def split_by_time(frame: pd.DataFrame, time_column: str, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(earlier, latest): the rows whose timestamp is at or after the (1 - share) quantile row are held out.

    Rows sharing the cut-off timestamp all go to the holdout, so no instant is split between the two."""
    if frame.empty:
        return frame, frame
    ordered = frame.sort_values(time_column, kind="stable")
    cutoff = ordered[time_column].iloc[min(int(len(ordered) * (1 - share)), len(ordered) - 1)]
    latest = ordered[time_column] >= cutoff
    return ordered[~latest].reset_index(drop=True), ordered[latest].reset_index(drop=True)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def classifier_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float | None]:
    predicted = (scores >= THRESHOLD).astype(int)
    both_classes = len(np.unique(labels)) == 2
    clipped = np.clip(scores, 1e-15, 1 - 1e-15)
    return {
        "roc_auc": _finite(skm.roc_auc_score(labels, scores)) if both_classes else None,
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "brier": float(skm.brier_score_loss(labels, clipped)),
        "log_loss": float(skm.log_loss(labels, clipped, labels=[0, 1])),
    }


def regressor_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float | None]:
    return {
        "rmse": float(np.sqrt(skm.mean_squared_error(labels, predictions))),
        "mae": float(skm.mean_absolute_error(labels, predictions)),
    }


def score(task: Task, labels: np.ndarray, predictions: np.ndarray) -> dict[str, float | None]:
    labels = np.asarray(labels, dtype=float)
    predictions = np.asarray(predictions, dtype=float)
    if task is Task.CLASSIFIER:
        return classifier_metrics(labels.astype(int), predictions)
    return regressor_metrics(labels, predictions)


def evaluate(config: TrainingConfig, holdout: pd.DataFrame, predictions: np.ndarray) -> dict[str, Any]:
    """`{"overall": {...}, "slices": {column: {value: {"rows", metrics...}}}, "rows": n}` on the holdout."""
    labels = holdout[config.data.label].to_numpy()
    result: dict[str, Any] = {"rows": len(holdout), "overall": score(config.task, labels, predictions), "slices": {}}
    for column in config.slice_columns():
        groups: dict[str, Any] = {}
        for value, index in holdout.groupby(column, sort=True, dropna=False).indices.items():
            groups[str(value)] = {"rows": len(index), **score(config.task, labels[index], predictions[index])}
        result["slices"][column] = groups
    return result


def flat_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """MLflow metric names: `roc_auc`, and per slice `slice.tenant.acme-eu.roc_auc`."""
    flat = {name: value for name, value in evaluation["overall"].items() if value is not None}
    for column, groups in evaluation["slices"].items():
        for value, entry in groups.items():
            for name, metric in entry.items():
                if metric is not None and name != "rows":
                    flat[f"slice.{column}.{_metric_safe(value)}.{name}"] = metric
    return flat


def _metric_safe(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in value)
