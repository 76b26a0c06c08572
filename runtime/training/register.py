"""Registration in MLflow: the run (params, metrics, model, drift profile, validation report, holdout) and a new
registered version tagged with its data's window, regions and tenants, the git commit and `gate=pending`.

Aliases are never touched here: moving `challenger`/`champion` is the promotion pipeline's job (DESIGN §12).
The artifact paths and tags below are the contract the promotion gates read (docs/training.md).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from runtime.drift import registry
from runtime.drift.profile import DEFAULT_PROFILE_ARTIFACT, build_profile, profile_bytes
from runtime.training.config import EstimatorKind, TrainingConfig

HOLDOUT_ARTIFACT = "holdout/holdout.parquet"
VALIDATION_ARTIFACT = "validation/report.json"
EVALUATION_ARTIFACT = "evaluation/metrics.json"
MODEL_ARTIFACT = "model"
PREDICTION_COLUMN = "prediction"
GATE_TAG = "gate"
GATE_PENDING = "pending"
# Run tags (and params) the promotion gates read to score a version on its holdout.
LABEL_TAG = "mlplat.label"
FEATURES_TAG = "mlplat.features"
CATEGORICAL_TAG = "mlplat.categorical"
SLICES_TAG = "mlplat.slices"
TASK_TAG = "mlplat.task"
# Version tags: what data the version saw.
WINDOW_TAG = "mlplat.data.window"
REGIONS_TAG = "mlplat.data.regions"
TENANTS_TAG = "mlplat.data.tenants"
ROWS_TAG = "mlplat.data.rows"
COMMIT_TAG = "mlplat.git_commit"
TRIGGER_TAG = "mlplat.trigger"

log = logging.getLogger("mlplat.training")


@dataclass(frozen=True)
class Registered:
    run_id: str
    version: str


def git_commit() -> str:
    """MLPLAT_GIT_COMMIT (set by the image build), else the checkout's HEAD, else `unknown`."""
    if os.environ.get("MLPLAT_GIT_COMMIT"):
        return os.environ["MLPLAT_GIT_COMMIT"]
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def contract_tags(config: TrainingConfig) -> dict[str, str]:
    return {
        LABEL_TAG: config.data.label,
        FEATURES_TAG: json.dumps(config.features),
        CATEGORICAL_TAG: json.dumps(config.categorical),
        SLICES_TAG: json.dumps(config.slice_columns()),
        TASK_TAG: str(config.task),
    }


def _params(config: TrainingConfig) -> dict[str, str]:
    estimator = config.estimator
    params = {
        "estimator": str(estimator.kind),
        "rounds": str(estimator.rounds),
        "workers": str(estimator.workers),
        "gpus_per_worker": str(estimator.gpus_per_worker),
        "checkpoint_every": str(estimator.checkpoint_every),
        "holdout_share": str(config.holdout.share),
        "region": config.region,
        "tenants": ",".join(config.tenants),
        **{f"param.{k}": str(v)[:500] for k, v in estimator.params.items()},
    }
    return {**params, **contract_tags(config)}


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return str(found.experiment_id) if found else str(client.create_experiment(name))


def _log_json(client: Any, run_id: str, document: dict[str, Any], artifact: str) -> None:
    folder, name = os.path.split(artifact)
    with tempfile.TemporaryDirectory(prefix="mlplat-train-") as scratch:
        path = Path(scratch, name)
        path.write_text(json.dumps(document, indent=2, default=str))
        client.log_artifact(run_id, str(path), folder or None)


def log_refused_run(
    tracking_uri: str | None, config: TrainingConfig, validation_report: dict[str, Any], window: str
) -> str:
    """A FAILED run holding the validation report, so the reason a retrain did not happen is findable."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    run = client.create_run(
        _experiment(client, config.experiment_name),
        run_name=f"{config.model}-refused",
        tags={**contract_tags(config), WINDOW_TAG: window, "mlplat.validation": "failed"},
    )
    run_id = str(run.info.run_id)
    _log_json(client, run_id, validation_report, VALIDATION_ARTIFACT)
    client.set_terminated(run_id, status="FAILED")
    return run_id


def _drift_profile(config: TrainingConfig, frame: pd.DataFrame, predictions: np.ndarray) -> bytes:
    reference = pa.Table.from_pandas(
        frame[config.features].assign(**{PREDICTION_COLUMN: predictions}), preserve_index=False
    )
    profile = build_profile(
        reference, categorical=frozenset(config.categorical), prediction_column=PREDICTION_COLUMN, source="training set"
    )
    return profile_bytes(profile)


def _log_model(config: TrainingConfig, model: Any, kind: EstimatorKind, example: pd.DataFrame, output: Any) -> str:
    import mlflow
    from mlflow.models import infer_signature

    signature = infer_signature(example, output)
    if kind is EstimatorKind.LIGHTGBM:
        import lightgbm

        info = mlflow.lightgbm.log_model(
            model,
            name=MODEL_ARTIFACT,
            signature=signature,
            input_example=example.head(3),
            pip_requirements=[f"lightgbm=={lightgbm.__version__}", "pandas", "numpy"],
        )
    else:
        import torch

        info = mlflow.pytorch.log_model(
            model,
            name=MODEL_ARTIFACT,
            signature=infer_signature(example.astype("float32"), output),
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "pandas", "numpy"],
        )
    return str(info.model_uri)


def register(
    *,
    tracking_uri: str | None,
    config: TrainingConfig,
    model: Any,
    kind: EstimatorKind,
    training_frame: pd.DataFrame,
    training_predictions: np.ndarray,
    holdout: pd.DataFrame,
    holdout_predictions: np.ndarray,
    evaluation: dict[str, Any],
    flat_metrics: dict[str, float],
    validation_report: dict[str, Any],
    window: str,
    trigger: str,
    extra_metrics: dict[str, float],
) -> Registered:
    """One MLflow run with every artifact, then a new registered version tagged `gate=pending`."""
    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment_id = _experiment(client, config.experiment_name)
    data_tags = {
        WINDOW_TAG: window,
        REGIONS_TAG: json.dumps([config.region]),
        TENANTS_TAG: json.dumps(config.tenants),
        ROWS_TAG: str(len(training_frame) + len(holdout)),
        COMMIT_TAG: git_commit(),
        TRIGGER_TAG: trigger,
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{config.model}-{window}") as run:
        run_id = str(run.info.run_id)
        mlflow.set_tags({**contract_tags(config), **data_tags})
        mlflow.log_params(_params(config))
        mlflow.log_metrics({**flat_metrics, **extra_metrics})
        example = holdout[config.features].head(5).reset_index(drop=True)
        model_uri = _log_model(config, model, kind, example, holdout_predictions[:5])
        registry.log_reference_profile(
            client, run_id, _drift_profile(config, training_frame, training_predictions), DEFAULT_PROFILE_ARTIFACT
        )
        _log_json(client, run_id, validation_report, VALIDATION_ARTIFACT)
        _log_json(client, run_id, evaluation, EVALUATION_ARTIFACT)
        with tempfile.TemporaryDirectory(prefix="mlplat-train-") as scratch:
            path = Path(scratch, os.path.basename(HOLDOUT_ARTIFACT))
            holdout.to_parquet(path, index=False)
            client.log_artifact(run_id, str(path), os.path.dirname(HOLDOUT_ARTIFACT))
    version = mlflow.register_model(model_uri, config.model, tags={**data_tags, GATE_TAG: GATE_PENDING})
    log.info("registered %s version %s (gate=pending) from run %s", config.model, version.version, run_id)
    return Registered(run_id=run_id, version=str(version.version))
