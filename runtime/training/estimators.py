"""Distributed training on Ray Train (V2 API): LightGBM for tabular models, PyTorch (when installed) for GPU ones.

The same code runs on a laptop's local Ray, in CI and as a RayJob on the training GPU pool. Workers checkpoint
every `checkpoint_every` rounds to the run's storage (the region's training bucket, or a local directory), and
`FailureConfig(max_failures)` restarts a lost worker group (a spot interruption) from the latest checkpoint, so a
failure costs at most one checkpoint interval. The resume point is logged and reported back to the driver.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from runtime.training.config import EstimatorKind, Task, TrainingConfig
from runtime.training.errors import TrainingConfigError, TrainingError

log = logging.getLogger("mlplat.training")
RESUMED_FROM = "resumed_from_iteration"
TORCH_CHECKPOINT = "model.pt"


class TrainingFailed(TrainingError):
    """Ray Train gave up (more failures than `max_failures`); nothing was registered."""

    exit_code = 1


@dataclass(frozen=True)
class Trained:
    """The fitted model and what the run went through."""

    model: Any  # lightgbm.Booster or torch.nn.Module
    kind: EstimatorKind
    resumed_from_iteration: int
    checkpoint_path: str
    seconds: float


def lightgbm_objective(config: TrainingConfig) -> dict[str, Any]:
    if config.task is Task.CLASSIFIER:
        return {"objective": "binary", "metric": ["binary_logloss", "auc"]}
    return {"objective": "regression", "metric": ["rmse"]}


def _checkpoint_callback() -> type:
    """Ray's LightGBM report callback, reporting only when a checkpoint is due: every report is a collective
    across the workers, and one per boosting round costs more than the round itself."""
    from ray.train.lightgbm import RayTrainReportCallback

    class CheckpointEveryK(RayTrainReportCallback):
        def __call__(self, env: Any) -> None:
            last = env.iteration == env.end_iteration - 1
            if last or (env.iteration + 1) % self._frequency == 0:
                super().__call__(env)

    return CheckpointEveryK


def _lightgbm_worker(loop: dict[str, Any]) -> None:
    """Runs on every Ray Train worker: its shard, data-parallel LightGBM, checkpoints via the report callback."""
    import lightgbm as lgb
    import ray.train
    from ray.train.lightgbm import RayTrainReportCallback, get_network_params, normalize_pandas_for_lightgbm

    features, label, categorical = loop["features"], loop["label"], loop["categorical"]
    train = normalize_pandas_for_lightgbm(ray.train.get_dataset_shard("train").materialize().to_pandas())
    valid = normalize_pandas_for_lightgbm(ray.train.get_dataset_shard("valid").materialize().to_pandas())
    start, init_model = 0, None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        init_model = RayTrainReportCallback.get_model(checkpoint)
        start = init_model.current_iteration()
        print(f"mlplat-train: resuming from the checkpoint at iteration {start} of {loop['rounds']}", flush=True)
    remaining = max(loop["rounds"] - start, 0)
    if remaining == 0 and checkpoint is not None:
        ray.train.report(
            {RESUMED_FROM: start}, checkpoint=checkpoint if ray.train.get_context().get_world_rank() == 0 else None
        )
        return
    params = {
        **loop["params"],
        "tree_learner": "data_parallel",
        "pre_partition": True,
        "verbose": -1,
        **get_network_params(),
    }
    train_set = lgb.Dataset(train[features], label=train[label], categorical_feature=categorical or "auto")
    valid_set = lgb.Dataset(
        valid[features], label=valid[label], categorical_feature=categorical or "auto", reference=train_set
    )
    report = _checkpoint_callback()(
        frequency=loop["checkpoint_every"],
        checkpoint_at_end=True,
        results_postprocessing_fn=lambda metrics: {**metrics, RESUMED_FROM: start},
    )
    lgb.train(
        params,
        train_set,
        num_boost_round=remaining,
        init_model=init_model,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[report],
    )


def _torch_worker(loop: dict[str, Any]) -> None:
    """A feed-forward network on tabular features, data-parallel with DDP; checkpoints every K epochs."""
    import ray.train
    import ray.train.torch
    import torch
    from ray.train import Checkpoint

    features, label = loop["features"], loop["label"]
    frame = ray.train.get_dataset_shard("train").materialize().to_pandas()
    inputs = torch.tensor(frame[features].astype("float32").fillna(0).to_numpy())
    target = torch.tensor(frame[label].astype("float32").to_numpy()).unsqueeze(1)
    hidden = int(loop["params"].get("hidden", 64))
    network = torch.nn.Sequential(torch.nn.Linear(len(features), hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    start = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder, TORCH_CHECKPOINT), weights_only=True)
        network.load_state_dict(state["model"])
        start = int(state["epoch"])
        print(f"mlplat-train: resuming from the checkpoint at epoch {start} of {loop['rounds']}", flush=True)
    model = ray.train.torch.prepare_model(network)
    device = ray.train.torch.get_device()
    inputs, target = inputs.to(device), target.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=float(loop["params"].get("learning_rate", 1e-3)))
    loss_fn = torch.nn.BCEWithLogitsLoss() if loop["task"] == Task.CLASSIFIER else torch.nn.MSELoss()
    for epoch in range(start, loop["rounds"]):
        optimiser.zero_grad()
        loss = loss_fn(model(inputs), target)
        loss.backward()
        optimiser.step()
        metrics = {"loss": float(loss), "epoch": epoch + 1, RESUMED_FROM: start}
        due = (epoch + 1) % loop["checkpoint_every"] == 0 or epoch + 1 == loop["rounds"]
        if due and ray.train.get_context().get_world_rank() == 0:
            with tempfile.TemporaryDirectory() as folder:
                plain = model.module if hasattr(model, "module") else model
                torch.save({"model": plain.state_dict(), "epoch": epoch + 1}, Path(folder, TORCH_CHECKPOINT))
                ray.train.report(metrics, checkpoint=Checkpoint.from_directory(folder))
        else:
            ray.train.report(metrics)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _storage(path: str) -> tuple[str, Any]:
    """Ray Train's storage path and filesystem; S3 through pyarrow (which honours AWS_ENDPOINT_URL)."""
    if path.startswith("s3://"):
        return path, None
    Path(path).mkdir(parents=True, exist_ok=True)
    return str(Path(path).resolve()), None


def train(config: TrainingConfig, train_frame: pd.DataFrame, valid_frame: pd.DataFrame, run_name: str) -> Trained:
    """Fit on Ray Train; the caller has called `ray.init` (local or `--ray-address`)."""
    import time

    import ray.data
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig

    estimator = config.estimator
    columns = [*config.features, config.data.label]
    loop = {
        "features": config.features,
        "categorical": config.categorical,
        "label": config.data.label,
        "params": {**lightgbm_objective(config), **estimator.params}
        if estimator.kind is EstimatorKind.LIGHTGBM
        else dict(estimator.params),
        "rounds": estimator.rounds,
        "checkpoint_every": estimator.checkpoint_every,
        "task": config.task,
    }
    resources = {"CPU": estimator.cpus_per_worker}
    if estimator.gpus_per_worker:
        resources["GPU"] = estimator.gpus_per_worker
    storage_path, filesystem = _storage(config.storage_path())
    run_config = RunConfig(
        name=run_name,
        storage_path=storage_path,
        storage_filesystem=filesystem,
        checkpoint_config=CheckpointConfig(num_to_keep=2),
        failure_config=FailureConfig(max_failures=estimator.max_failures),
    )
    scaling = ScalingConfig(
        num_workers=estimator.workers, use_gpu=estimator.gpus_per_worker > 0, resources_per_worker=resources
    )
    datasets: dict[str, Any] = {
        "train": ray.data.from_pandas(train_frame[columns].reset_index(drop=True)),
        "valid": ray.data.from_pandas(valid_frame[columns].reset_index(drop=True)),
    }
    started = time.monotonic()
    trainer: Any
    if estimator.kind is EstimatorKind.LIGHTGBM:
        from ray.train.lightgbm import LightGBMTrainer

        trainer = LightGBMTrainer(
            _lightgbm_worker, train_loop_config=loop, scaling_config=scaling, run_config=run_config, datasets=datasets
        )
    else:
        if not torch_available():
            raise TrainingConfigError(
                "estimator.kind torch needs PyTorch, which this image does not install "
                "(use the GPU training image, or kind lightgbm)"
            )
        from ray.train.torch import TorchTrainer

        trainer = TorchTrainer(
            _torch_worker, train_loop_config=loop, scaling_config=scaling, run_config=run_config, datasets=datasets
        )
    try:
        result = trainer.fit()
    except Exception as error:  # Ray raises TrainingFailedError once max_failures is spent
        raise TrainingFailed(f"training failed after {estimator.max_failures} retries: {error}") from None
    if result.checkpoint is None:
        raise TrainingFailed("training finished without a checkpoint")
    resumed = int((result.metrics or {}).get(RESUMED_FROM, 0))
    if resumed:
        log.info("a worker was lost; training resumed from the checkpoint at iteration %d", resumed)
    return Trained(
        model=_load(estimator.kind, result.checkpoint, len(config.features), estimator.params),
        kind=estimator.kind,
        resumed_from_iteration=resumed,
        checkpoint_path=result.checkpoint.path,
        seconds=time.monotonic() - started,
    )


def _load(kind: EstimatorKind, checkpoint: Any, n_features: int, params: dict[str, Any]) -> Any:
    if kind is EstimatorKind.LIGHTGBM:
        from ray.train.lightgbm import RayTrainReportCallback

        return RayTrainReportCallback.get_model(checkpoint)
    import torch

    hidden = int(params.get("hidden", 64))
    network = torch.nn.Sequential(torch.nn.Linear(n_features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    with checkpoint.as_directory() as folder:
        network.load_state_dict(torch.load(Path(folder, TORCH_CHECKPOINT), weights_only=True)["model"])
    return network.eval()
