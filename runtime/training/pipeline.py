"""One training run end to end: residency -> point-in-time set -> validation gate -> Ray Train -> holdout
evaluation -> registration. Returns the `mlplat.training/v1` summary (DESIGN §11)."""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from runtime.training import estimators, evaluate, register, validation
from runtime.training.config import EstimatorKind, Task, TrainingConfig
from runtime.training.dataset import build_training_set
from runtime.training.errors import GateRefused

SUMMARY_SCHEMA = "mlplat.training/v1"
VALIDATION_SHARE = 0.1  # of the earlier rows, the latest ones: LightGBM's evaluation set during training
log = logging.getLogger("mlplat.training")


@dataclass
class Outcome:
    """The summary and the exit code it maps to."""

    summary: dict[str, Any]
    exit_code: int
    timings: dict[str, float] = field(default_factory=dict)


def window_id(start: datetime, end: datetime) -> str:
    return f"{start.strftime('%Y-%m-%dT%H:%M:%SZ')}/{end.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _summary(config: TrainingConfig, **parts: Any) -> dict[str, Any]:
    return {
        "schema": SUMMARY_SCHEMA,
        "run_id": parts.get("run_id"),
        "model": {"name": config.model, "version": parts.get("version")},
        "data": {
            "rows": parts.get("rows", 0),
            "window": parts.get("window"),
            "regions": [config.region],
            "tenants": list(config.tenants),
        },
        "validation": parts.get("validation", {"passed": False, "failures": []}),
        "metrics": parts.get("metrics", {}),
        "resumed_from_checkpoint": bool(parts.get("resumed_from", 0)),
        "resumed_from_iteration": parts.get("resumed_from", 0),
        "refused": parts.get("refused"),
        "seconds": parts.get("seconds", {}),
    }


def predict(model: Any, kind: EstimatorKind, task: Task, frame: pd.DataFrame) -> np.ndarray:
    if kind is EstimatorKind.LIGHTGBM:
        return np.asarray(model.predict(frame), dtype=float)
    import torch

    with torch.no_grad():
        output = model(torch.tensor(frame.astype("float32").fillna(0).to_numpy())).squeeze(1)
        return (torch.sigmoid(output) if task is Task.CLASSIFIER else output).numpy().astype(float)


def ray_run_name(config: TrainingConfig, now: datetime) -> str:
    """Ray Train resumes a run whose name already has checkpoints in storage: a RayJob sets
    MLPLAT_TRAINING_RUN_NAME to its own name so a restarted driver resumes; a manual run gets a fresh name."""
    return os.environ.get("MLPLAT_TRAINING_RUN_NAME") or f"{config.model}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def ensure_ray(address: str | None) -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)


def run(
    config: TrainingConfig,
    *,
    tracking_uri: str | None,
    ray_address: str | None = None,
    now: datetime | None = None,
    s3_client: Any | None = None,
    trigger: str = "manual",
) -> Outcome:
    """The whole run; a refusal by a gate returns exit code 1 and registers nothing."""
    now = now or datetime.now(UTC)
    timings: dict[str, float] = {}
    started = time.monotonic()
    residency = config.load_residency()
    try:
        training_set = build_training_set(config, residency, now, client=s3_client)
    except GateRefused as refusal:
        log.error("refused: %s", refusal)
        failure = {"column": config.data.tenant, "rule": "residency", "message": str(refusal)}
        return Outcome(
            _summary(config, refused=str(refusal), validation={"passed": False, "failures": [failure]}), 1, timings
        )
    timings["training_set"] = time.monotonic() - started
    window = window_id(training_set.start, training_set.end)
    frame = training_set.table.to_pandas()
    report = validation.report(frame, config, now)
    if not report["passed"]:
        run_id = register.log_refused_run(tracking_uri, config, report, window)
        for failure in report["failures"]:
            log.error("validation failed: %s", failure["message"])
        summary = _summary(
            config,
            run_id=run_id,
            rows=len(frame),
            window=window,
            validation={"passed": False, "failures": report["failures"]},
            refused="data validation failed",
        )
        return Outcome(summary, 1, timings)

    label_time = config.data.label_timestamp
    earlier, holdout = evaluate.split_by_time(frame, label_time, config.holdout.share)
    train_part, valid_part = evaluate.split_by_time(earlier, label_time, VALIDATION_SHARE)
    ensure_ray(ray_address)
    mark = time.monotonic()
    trained = estimators.train(config, train_part, valid_part, run_name=ray_run_name(config, now))
    timings["train"] = time.monotonic() - mark

    holdout_predictions = predict(trained.model, trained.kind, config.task, holdout[config.features])
    earlier_predictions = predict(trained.model, trained.kind, config.task, earlier[config.features])
    evaluation = evaluate.evaluate(config, holdout, holdout_predictions)
    flat = evaluate.flat_metrics(evaluation)
    mark = time.monotonic()
    registered = register.register(
        tracking_uri=tracking_uri,
        config=config,
        model=trained.model,
        kind=trained.kind,
        training_frame=earlier,
        training_predictions=earlier_predictions,
        holdout=holdout,
        holdout_predictions=holdout_predictions,
        evaluation=evaluation,
        flat_metrics=flat,
        validation_report=report,
        window=window,
        trigger=trigger,
        extra_metrics={"resumed_from_iteration": float(trained.resumed_from_iteration)},
    )
    timings["register"] = time.monotonic() - mark
    timings["total"] = time.monotonic() - started
    summary = _summary(
        config,
        run_id=registered.run_id,
        version=registered.version,
        rows=len(frame),
        window=window,
        validation={"passed": True, "failures": []},
        metrics=evaluation["overall"],
        resumed_from=trained.resumed_from_iteration,
        seconds={k: round(v, 2) for k, v in timings.items()},
    )
    return Outcome(summary, 0, timings)
