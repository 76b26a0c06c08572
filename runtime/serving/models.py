"""Loading MLflow pyfunc models by alias, warming them, and keeping the last good copy on local disk.

Everything here blocks (registry calls, downloads, model calls): callers run it in a worker thread.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime.serving.errors import InvalidInput, ModelFailure, NotReady, UnsupportedMediaType
from runtime.serving.protocol import InputSpec, Row

log = logging.getLogger("mlplat.serve.models")

WARMUP_CALLS = 3
WARMUP_ROWS = 16


@dataclass
class LoadedModel:
    """One warmed model version; `batchable` when rows of many requests can be scored in one call."""

    name: str
    version: str
    alias: str
    pyfunc: Any
    spec: InputSpec | None
    batchable: bool = False
    source: str = "registry"
    loaded_at: float = field(default_factory=time.time)
    direct_predict: Any = None  # the flavor's own predict, once warm-up proved it equals pyfunc.predict on our frames

    @property
    def input_schema(self) -> Any:
        return self.pyfunc.metadata.get_input_schema()

    def score_rows(self, rows: list[Row]) -> np.ndarray:
        """Predictions for plain numeric rows, one per row (the batched path)."""
        assert self.spec is not None
        frame = self.spec.frame(rows)
        # our frames already match the schema (columns, order, dtypes): MLflow's enforcement would be a no-op
        predictions = self.direct_predict(frame) if self.direct_predict else self.pyfunc.predict(frame)
        result = np.asarray(predictions)
        if result.ndim == 0 or result.shape[0] != len(rows):
            raise ModelFailure(f"model returned {result.shape} for {len(rows)} rows")
        return result

    def invoke_mlflow(self, body: bytes, content_type: str | None) -> bytes:
        """MLflow's own `/invocations` handling, for every payload the fast path does not take."""
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc import scoring_server

        try:
            result = scoring_server.invocations(body, content_type or "", self.pyfunc, self.input_schema)
        except MlflowException as error:
            if error.get_http_status_code() >= 500:
                raise ModelFailure(_first_line(error.message)) from None
            raise InvalidInput(_first_line(error.message)) from None
        except Exception as error:  # MLflow's parsers raise plain errors on odd payloads: still the input's fault
            log.debug("mlflow scoring raised: %s", traceback.format_exc())
            raise InvalidInput(f"{type(error).__name__}: {error}") from None
        if result.status == 415:
            raise UnsupportedMediaType(result.response)
        if result.status != 200:
            raise InvalidInput(result.response)
        return result.response.encode()


def _first_line(message: str, limit: int = 2000) -> str:
    return message.strip()[:limit]


class ModelStore:
    """Resolves `models:/NAME@alias` in the registry, downloads into a disk cache and loads warmed models."""

    def __init__(self, name: str, tracking_uri: str | None, cache_dir: Path) -> None:
        self.name = name
        self.tracking_uri = tracking_uri
        self.cache_dir = cache_dir / name

    def _client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def resolve(self, alias: str) -> str:
        """The version an alias points at now (raises when the registry cannot say)."""
        return str(self._client().get_model_version_by_alias(self.name, alias).version)

    def model_tags(self) -> dict[str, str]:
        """The registered model's tags (where the central rollout controller publishes the canary weight)."""
        return dict(self._client().get_registered_model(self.name).tags or {})

    def load(self, alias: str, version: str | None = None) -> LoadedModel:
        """The alias's version from the registry, or the cached last good copy when the registry is down."""
        try:
            version = version or self.resolve(alias)
            path = self._download(version)
            source = "registry"
        except Exception as error:
            cached = self._cached(alias)
            if cached is None:
                raise NotReady(f"model {self.name}@{alias} unavailable and not cached: {error}") from error
            version, path = cached
            source = "cache"
            log.warning("registry unavailable (%s); serving cached %s version %s", error, self.name, version)
        model = self._load_path(alias, version, path, source)
        self._remember(alias, version, path)
        return model

    def _version_dir(self, version: str) -> Path:
        return self.cache_dir / f"v{version}"

    def _download(self, version: str) -> Path:
        target = self._version_dir(version)
        if (target / "MLmodel").exists():
            return target
        import mlflow.artifacts

        staging = self.cache_dir / f".download-v{version}-{time.monotonic_ns()}"
        staging.mkdir(parents=True, exist_ok=True)
        try:
            mlflow.artifacts.download_artifacts(
                artifact_uri=self._client().get_model_version_download_uri(self.name, version),
                dst_path=str(staging),
                tracking_uri=self.tracking_uri,
            )
            found = next(staging.rglob("MLmodel")).parent
            if target.exists():
                shutil.rmtree(target)
            found.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _load_path(self, alias: str, version: str, path: Path, source: str) -> LoadedModel:
        import mlflow.pyfunc

        pyfunc = mlflow.pyfunc.load_model(str(path))
        spec = InputSpec.from_schema(pyfunc.metadata.get_input_schema())
        model = LoadedModel(self.name, version, alias, pyfunc, spec, source=source)
        warm_up(model)
        return model

    def _pointer(self, alias: str) -> Path:
        return self.cache_dir / f"alias-{alias}.json"

    def _remember(self, alias: str, version: str, path: Path) -> None:
        pointer = self._pointer(alias)
        staged = pointer.with_suffix(".tmp")
        staged.write_text(json.dumps({"version": version, "path": str(path), "saved_at": time.time()}))
        staged.replace(pointer)

    def _cached(self, alias: str) -> tuple[str, Path] | None:
        try:
            data = json.loads(self._pointer(alias).read_text())
        except (OSError, ValueError):
            return None
        path = Path(data["path"])
        return (str(data["version"]), path) if (path / "MLmodel").exists() else None


def warm_up(model: LoadedModel) -> None:
    """Scores synthetic rows so the first request pays no lazy initialisation; decides batching."""
    if model.spec is None:
        return
    values = np.random.default_rng(0).normal(scale=3, size=(WARMUP_ROWS, len(model.spec.columns)))
    rows: list[Row] = [
        [int(v) if integer else float(v) for v, integer in zip(row, model.spec.integer, strict=True)] for row in values
    ]
    try:
        for _ in range(WARMUP_CALLS):
            predictions = model.pyfunc.predict(model.spec.frame(rows))
        model.batchable = (
            isinstance(predictions, np.ndarray) and predictions.ndim >= 1 and len(predictions) == WARMUP_ROWS
        )
    except Exception:
        log.warning("warm-up of %s v%s failed; requests use MLflow's path", model.name, model.version, exc_info=True)
        model.batchable = False
    if model.batchable:
        model.direct_predict = _direct_predict(model, rows, predictions)


def _direct_predict(model: LoadedModel, rows: list[Row], expected: np.ndarray) -> Any:
    """The flavor's predict without MLflow's per-call schema enforcement, if it answers exactly the same."""
    assert model.spec is not None
    impl = getattr(model.pyfunc, "_model_impl", None)
    predict = getattr(impl, "predict", None)
    if predict is None:
        return None
    try:
        for _ in range(WARMUP_CALLS):
            direct = predict(model.spec.frame(rows))
        same = isinstance(direct, np.ndarray) and direct.dtype == expected.dtype and np.array_equal(direct, expected)
    except Exception:
        return None
    return predict if same else None
