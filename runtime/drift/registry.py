"""The model registry side of the job (MLflow): which version is champion, its reference profile, and the
audited rollback of the `champion` alias to the previous champion.

How the previous champion is known: whoever moves the champion alias calls `promote()`, which tags the new
version `mlplat.previous_champion=<old version>` and appends to the registered model's
`mlplat.champion_history` tag. A rollback follows that version tag (falling back to the history), so it
needs no guessing from version numbers; a version promoted without `promote()` simply cannot be rolled back.
"""

from __future__ import annotations

import json
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.drift.errors import DriftActionError, DriftInputError

PREVIOUS_CHAMPION_TAG = "mlplat.previous_champion"
HISTORY_TAG = "mlplat.champion_history"
ROLLBACK_WINDOW_TAG = "mlplat.drift.rollback_window"
RETRAIN_WINDOW_TAG = "mlplat.drift.retrain_window"
ROLLED_BACK_TAG = "mlplat.drift.rolled_back"
RESTORED_TAG = "mlplat.drift.restored"
HISTORY_LIMIT = 50


def client(tracking_uri: str | None) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@dataclass(frozen=True)
class Champion:
    """The version an alias points at and the run that produced it."""

    version: str
    run_id: str | None


def champion(mlflow: Any, name: str, alias: str) -> Champion:
    try:
        version = mlflow.get_model_version_by_alias(name, alias)
    except Exception as error:
        raise DriftInputError(f"model {name!r} has no version with alias {alias!r}: {error}") from None
    return Champion(str(version.version), version.run_id)


def _history(mlflow: Any, name: str) -> list[str]:
    tags = mlflow.get_registered_model(name).tags or {}
    try:
        return [str(item) for item in json.loads(tags.get(HISTORY_TAG, "[]"))]
    except json.JSONDecodeError:
        return []


def promote(mlflow: Any, name: str, version: str, alias: str = "champion") -> str | None:
    """Point `alias` at `version`, remembering the version it pointed at before; returns that version."""
    try:
        previous: str | None = str(mlflow.get_model_version_by_alias(name, alias).version)
    except Exception:
        previous = None
    if previous == str(version):
        return previous
    if previous is not None:
        mlflow.set_model_version_tag(name, str(version), PREVIOUS_CHAMPION_TAG, previous)
    history = [*_history(mlflow, name), str(version)][-HISTORY_LIMIT:]
    mlflow.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    mlflow.set_registered_model_alias(name, alias, str(version))
    return previous


def previous_champion(mlflow: Any, name: str, version: str) -> str | None:
    """The version that was champion before `version` (its tag first, then the promotion history)."""
    tags = mlflow.get_model_version(name, version).tags or {}
    if tags.get(PREVIOUS_CHAMPION_TAG):
        return str(tags[PREVIOUS_CHAMPION_TAG])
    history = _history(mlflow, name)
    if version in history:
        index = len(history) - 1 - history[::-1].index(version)
        earlier = [item for item in history[:index] if item != version]
        return earlier[-1] if earlier else None
    return None


def log_reference_profile(mlflow: Any, run_id: str, data: bytes, artifact_path: str) -> None:
    """Log a profile (NPZ bytes) to a training run at `artifact_path` (e.g. drift/reference_profile.npz)."""
    folder, name = posixpath.split(artifact_path)
    with tempfile.TemporaryDirectory(prefix="mlplat-drift-") as scratch:
        path = Path(scratch) / name
        path.write_bytes(data)
        try:
            mlflow.log_artifact(run_id, str(path), folder or None)
        except Exception as error:
            raise DriftActionError(f"cannot log the profile to run {run_id}: {error}") from None


def reference_profile_bytes(mlflow: Any, run_id: str | None, artifact_path: str) -> bytes:
    """The reference profile logged with the version's training run."""
    if run_id is None:
        raise DriftInputError("the champion version has no run, so no reference profile artifact")
    with tempfile.TemporaryDirectory(prefix="mlplat-drift-") as folder:
        try:
            local = mlflow.download_artifacts(run_id, artifact_path, folder)
        except Exception as error:
            raise DriftInputError(
                f"run {run_id} has no reference profile at {artifact_path!r} "
                f"(log one with `mlplat-drift profile` at training time): {error}"
            ) from None
        return Path(local).read_bytes()


@dataclass(frozen=True)
class Rollback:
    """What a rollback did (or why it did nothing)."""

    done: bool
    from_version: str
    to_version: str | None
    reason: str


def window_marker(mlflow: Any, name: str, tag: str) -> str | None:
    tags = mlflow.get_registered_model(name).tags or {}
    value = tags.get(tag)
    return str(value) if value else None


def rollback(
    mlflow: Any, name: str, alias: str, *, bad_version: str, window_id: str, reason: str, report_uri: str
) -> Rollback:
    """Move `alias` from `bad_version` to its previous champion, tag both versions; once per window."""
    if window_marker(mlflow, name, ROLLBACK_WINDOW_TAG) == window_id:
        return Rollback(False, bad_version, None, f"already rolled back for window {window_id}")
    current = champion(mlflow, name, alias).version
    if current != bad_version:
        return Rollback(False, bad_version, current, f"{alias} already moved to version {current}")
    target = previous_champion(mlflow, name, bad_version)
    if target is None:
        raise DriftActionError(
            f"cannot roll back {name} version {bad_version}: no previous champion is recorded "
            f"(promote versions with runtime.drift.registry.promote, which tags {PREVIOUS_CHAMPION_TAG})"
        )
    audit = {"reason": reason, "report": report_uri, "window": window_id}
    for key, value in {**audit, "rolled_back_to": target}.items():
        mlflow.set_model_version_tag(name, bad_version, f"{ROLLED_BACK_TAG}.{key}", value)
    mlflow.set_model_version_tag(name, bad_version, ROLLED_BACK_TAG, "true")
    for key, value in {**audit, "restored_from": bad_version}.items():
        mlflow.set_model_version_tag(name, target, f"{RESTORED_TAG}.{key}", value)
    mlflow.set_registered_model_alias(name, alias, target)
    mlflow.set_registered_model_tag(name, ROLLBACK_WINDOW_TAG, window_id)
    mlflow.set_registered_model_tag(name, f"{ROLLBACK_WINDOW_TAG}.from", bad_version)
    history = [*_history(mlflow, name), target][-HISTORY_LIMIT:]
    mlflow.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    return Rollback(True, bad_version, target, reason)


def set_window_marker(mlflow: Any, name: str, tag: str, window_id: str) -> None:
    mlflow.set_registered_model_tag(name, tag, window_id)
