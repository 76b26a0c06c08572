"""Loading MLflow pyfunc models by alias, warming them, and keeping the last good copy on local disk.

Everything here blocks (registry calls, downloads, model calls): callers run it in a worker thread.

The disk cache is trusted only as far as it can be checked, because loading a model unpickles it: the model's
cache folder is private (created 0700, owned by the service user; one owned by anyone else or writable by
others, or under a folder another non-root user owns, is refused; the configured root may be a root-owned
emptyDir mount), and each cached version carries a manifest of its registry source and the SHA-256 of every
file, written when it was downloaded. An entry without a manifest, or whose files or source do not match it, is
never loaded: it is downloaded again, or refused while the registry is down.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
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
        try:
            frame = self.spec.frame(rows)
        except (OverflowError, ValueError, TypeError) as error:  # the rows' fault, not the model's: 422
            raise InvalidInput(f"rows do not fit the model's input schema: {error}") from None
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


class CacheRefused(ValueError):
    """The model cache folder cannot be trusted (owner, mode, a symlink)."""


def private_directory(path: Path) -> None:
    """Creates `path` (missing levels 0700) and checks that only this user can have put anything in it.

    Every folder above it must belong to root or this user (a Kubernetes emptyDir mount is root-owned and 0777;
    `/tmp` is root-owned and sticky); `path` itself must belong to this user and be writable by no one else.
    """
    uid = os.geteuid()
    missing = []
    probe = path
    while not probe.exists() and not probe.is_symlink():
        missing.append(probe)
        probe = probe.parent
    for ancestor in (probe, *probe.parents):
        owner = ancestor.stat().st_uid
        if owner not in (0, uid):
            raise CacheRefused(f"model cache {path}: {ancestor} belongs to uid {owner}, not to this user ({uid})")
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise CacheRefused(f"model cache {path} is not a plain folder")
    if info.st_uid != uid:
        raise CacheRefused(f"model cache {path} belongs to uid {info.st_uid}, not to this user ({uid})")
    if info.st_mode & 0o022:
        raise CacheRefused(
            f"model cache {path} is writable by others (mode {stat.S_IMODE(info.st_mode):o}): anything in it may "
            "have been planted; remove it or point MLPLAT_MODEL_CACHE_DIR at a private folder"
        )
    path.chmod(0o700)


def file_checksums(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root` by relative path; a symlink anywhere is refused."""
    sums: dict[str, str] = {}
    for item in sorted(root.rglob("*")):
        if item.is_symlink():
            raise CacheRefused(f"{item} is a symlink")
        if item.is_file():
            digest = hashlib.sha256()
            with item.open("rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    digest.update(block)
            sums[item.relative_to(root).as_posix()] = digest.hexdigest()
    return sums


def _private_tree(root: Path) -> None:
    for item in root.rglob("*"):
        item.chmod(0o700 if item.is_dir() else 0o600)
    root.chmod(0o700)


class ModelStore:
    """Resolves `models:/NAME@alias` in the registry, downloads into a disk cache and loads warmed models."""

    def __init__(self, name: str, tracking_uri: str | None, cache_dir: Path) -> None:
        self.name = name
        self.tracking_uri = tracking_uri
        self.cache_dir = cache_dir / name

    def prepare(self) -> None:
        """Creates and checks the private cache folder (raises CacheRefused); run at start-up and at every load
        (a few `stat` calls), so a folder swapped while serving is refused too."""
        private_directory(self.cache_dir)

    def _client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def resolve(self, alias: str) -> str:
        """The version an alias points at now (raises when the registry cannot say)."""
        return str(self._client().get_model_version_by_alias(self.name, alias).version)

    def load(self, alias: str, version: str | None = None) -> LoadedModel:
        """The alias's version from the registry, or the cached last good copy when the registry is down."""
        self.prepare()
        try:
            version = version or self.resolve(alias)
            path = self._download(version)
            source = "registry"
        except CacheRefused:
            raise
        except Exception as error:
            cached = self._cached(alias)
            if cached is None:
                raise NotReady(f"model {self.name}@{alias} unavailable and not cached: {error}") from error
            version, path = cached
            source = "cache"
            log.warning("registry unavailable (%s); serving cached %s version %s", error, self.name, version)
        model = self._load_path(alias, version, path, source)
        self._remember(alias, version)
        return model

    def _version_dir(self, version: str) -> Path:
        return self.cache_dir / f"v{version}"

    def _manifest(self, version: str) -> Path:
        return self.cache_dir / f"v{version}.manifest.json"

    def verify(self, version: str, source: str | None = None) -> str | None:
        """Why the cached copy of `version` must not be loaded, or None when it matches its manifest."""
        try:
            manifest = json.loads(self._manifest(version).read_text())
        except (OSError, ValueError):
            return "no readable manifest"
        if not isinstance(manifest, dict) or manifest.get("version") != version or manifest.get("model") != self.name:
            return "manifest of another model or version"
        if source is not None and manifest.get("source") != source:
            return f"cached from {manifest.get('source')!r}, the registry now serves {source!r}"
        try:
            found = file_checksums(self._version_dir(version))
        except (OSError, CacheRefused) as error:
            return str(error)
        if found != manifest.get("files"):
            return "files differ from the checksums recorded when it was downloaded"
        return None

    def _download(self, version: str) -> Path:
        target = self._version_dir(version)
        source = self._client().get_model_version_download_uri(self.name, version)
        if target.exists():
            problem = self.verify(version, source)
            if problem is None:
                return target
            log.warning("cached %s version %s refused (%s); downloading it again", self.name, version, problem)
            shutil.rmtree(target)
        import mlflow.artifacts

        staging = self.cache_dir / f".download-v{version}-{time.monotonic_ns()}"
        staging.mkdir(mode=0o700)
        try:
            mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(staging), tracking_uri=self.tracking_uri
            )
            found = next(staging.rglob("MLmodel")).parent
            _private_tree(found)
            manifest = {"model": self.name, "version": version, "source": source, "files": file_checksums(found)}
            found.rename(target)
            _write_private(self._manifest(version), json.dumps(manifest))
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

    def _remember(self, alias: str, version: str) -> None:
        _write_private(self._pointer(alias), json.dumps({"version": version, "saved_at": time.time()}))

    def _cached(self, alias: str) -> tuple[str, Path] | None:
        """The alias's last good version when its cached copy still matches its manifest."""
        try:
            version = str(json.loads(self._pointer(alias).read_text())["version"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        problem = self.verify(version)
        if problem is not None:
            log.error("cached %s version %s refused: %s", self.name, version, problem)
            return None
        return version, self._version_dir(version)


def _write_private(path: Path, text: str) -> None:
    """Writes `text` to `path` atomically with mode 0600."""
    staged = path.with_name(f".{path.name}.{time.monotonic_ns()}.tmp")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as sink:
        sink.write(text)
    staged.replace(path)


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
