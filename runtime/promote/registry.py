"""What `mlplat-promote` keeps in the MLflow registry: the current state as tags (the history holds the record).

Version tags: `gate` (pending/passed/failed, pending set by training), `mlplat.gate.failed` (every failed check),
`mlplat.gate.<metric>` (holdout figures, the baseline of label monitoring), `mlplat.approval.*`.
Registered-model tags: the canary weight per region (runtime/serving/rollout.py owns those keys) and
`mlplat.rollout.<region>` (the region controller's state as JSON).
"""

from __future__ import annotations

import json
import os
from typing import Any

from runtime.promote.errors import PromoteError
from runtime.serving.rollout import RolloutState, version_tag, weight_tag

GATE_TAG = "gate"
GATE_FAILED_TAG = "mlplat.gate.failed"
GATE_METRIC_TAG = "mlplat.gate.{metric}"
APPROVED_BY_TAG = "mlplat.approval.by"
APPROVED_AT_TAG = "mlplat.approval.at"
APPROVED_REASON_TAG = "mlplat.approval.reason"
ROLLOUT_STATE_TAG = "mlplat.rollout.{region}"
ROLLOUT_HALTED_TAG = "mlplat.rollout.halted"
CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
TAG_VALUE_LIMIT = 5000  # MLflow's limit on a tag value


def tracking_uri(explicit: str | None) -> str | None:
    return explicit or os.environ.get("MLPLAT_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI")


def client(uri: str | None) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def version_of(mlflow: Any, name: str, version: str) -> Any:
    try:
        return mlflow.get_model_version(name, str(version))
    except Exception as error:
        raise PromoteError(f"model {name!r} has no version {version}: {_first_line(error)}") from None


def alias_version(mlflow: Any, name: str, alias: str) -> str | None:
    """The version `alias` points at, or None when the alias is not set."""
    try:
        return str(mlflow.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None


def model_tags(mlflow: Any, name: str) -> dict[str, str]:
    try:
        return dict(mlflow.get_registered_model(name).tags or {})
    except Exception as error:
        raise PromoteError(f"no registered model {name!r}: {_first_line(error)}") from None


def clip(text: str) -> str:
    return text if len(text) <= TAG_VALUE_LIMIT else text[: TAG_VALUE_LIMIT - 3] + "..."


def publish_weight(mlflow: Any, name: str, region: str, version: str, weight: float) -> None:
    """What every serving replica of `region` applies on its next poll (version first: never a stale route)."""
    mlflow.set_registered_model_tag(name, version_tag(region), str(version))
    mlflow.set_registered_model_tag(name, weight_tag(region), f"{weight:g}")


def rollout_state(tags: dict[str, str], region: str, version: str) -> RolloutState | None:
    """The region's saved state for `version`, or None when no rollout of this version ran there."""
    raw = tags.get(ROLLOUT_STATE_TAG.format(region=region))
    if not raw:
        return None
    data = json.loads(raw)
    if str(data.get("version")) != str(version):
        return None
    return RolloutState(data["state"], int(data["index"]), float(data["step_started"]))


def save_rollout_state(mlflow: Any, name: str, region: str, version: str, state: RolloutState) -> None:
    value = {"version": str(version), "state": state.state, "index": state.index, "step_started": state.step_started}
    mlflow.set_registered_model_tag(name, ROLLOUT_STATE_TAG.format(region=region), json.dumps(value))


def approval(mlflow: Any, name: str, version: str) -> dict[str, str] | None:
    tags = version_of(mlflow, name, version).tags or {}
    if not tags.get(APPROVED_BY_TAG):
        return None
    return {
        "by": tags[APPROVED_BY_TAG],
        "at": tags.get(APPROVED_AT_TAG, ""),
        "reason": tags.get(APPROVED_REASON_TAG, ""),
    }


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
