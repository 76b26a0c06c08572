"""Loading by alias from the real registry, warmed and batchable; the cache serves while MLflow is down, and
only what this service downloaded itself (private folder, checksummed manifest)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from runtime.serving.errors import NotReady
from runtime.serving.models import CacheRefused, ModelStore
from runtime.serving.settings import ServeSettings
from tests.runtime.serving.conftest import Registered, training_frame

pytestmark = pytest.mark.slow


def test_load_by_alias_then_serve_from_cache_while_registry_is_down(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = ModelStore(registered.name, registered.tracking_uri, tmp_path)
    model = live.load("champion")
    assert (model.version, model.source, model.batchable) == (registered.champion_version, "registry", True)
    assert model.direct_predict is not None  # proven equal to pyfunc.predict during warm-up
    frame = training_frame(seed=31, rows=5)[0]
    rows = frame.to_numpy().tolist()
    expected = registered.champion.predict(frame)  # type: ignore[attr-defined]
    assert np.array_equal(model.score_rows(rows), expected)

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = ModelStore(registered.name, "http://127.0.0.1:9", tmp_path)  # nothing listens on port 9
    cached = down.load("champion")
    assert (cached.version, cached.source) == (registered.champion_version, "cache")
    assert np.array_equal(cached.score_rows(rows), expected)
    with pytest.raises(NotReady):
        down.load("challenger")  # never loaded, so not cached


def _down(registered: Registered, cache: Path, monkeypatch: pytest.MonkeyPatch) -> ModelStore:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    return ModelStore(registered.name, "http://127.0.0.1:9", cache)  # nothing listens on port 9


def test_default_cache_is_private_to_the_service_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20 #7: the cache defaulted to /tmp/mlplat-serve/models, where any local user can plant a pickle."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    settings = ServeSettings(model_name="churn")
    assert settings.model_cache_dir == tmp_path / "xdg" / "mlplat-serve" / "models"
    store = ModelStore("churn", None, settings.model_cache_dir)
    store.prepare()
    for folder in (store.cache_dir, store.cache_dir.parent, tmp_path / "xdg" / "mlplat-serve", tmp_path / "xdg"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
        assert folder.stat().st_uid == os.geteuid()


def test_a_cache_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o777)  # like an emptyDir mount: accepted, the model's own folder is what must be private
    ModelStore("churn", None, root).prepare()
    shared = root / "iris"
    shared.mkdir()
    shared.chmod(0o777)  # what /tmp/mlplat-serve/models/<model> could look like to every local user
    with pytest.raises(CacheRefused, match="writable by others"):
        ModelStore("iris", None, root).prepare()


def test_cached_versions_are_checksummed_and_tampering_is_refused(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = ModelStore(registered.name, registered.tracking_uri, tmp_path)
    live.load("champion")
    version = registered.champion_version
    manifest = json.loads((live.cache_dir / f"v{version}.manifest.json").read_text())
    assert manifest["source"].startswith(("models:/", "mlflow-artifacts:", "file:", "/")) and manifest["files"]
    assert "MLmodel" in manifest["files"] and live.verify(version) is None
    pickled = next(path for path in (live.cache_dir / f"v{version}").rglob("*.pkl"))
    pickled.write_bytes(b"planted")  # a pickle swapped after caching
    with pytest.raises(NotReady, match="not cached"):
        _down(registered, tmp_path, monkeypatch).load("champion")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    again = ModelStore(registered.name, registered.tracking_uri, tmp_path).load("champion")  # registry is back
    assert again.source == "registry" and pickled.read_bytes() != b"planted"  # downloaded again


def test_a_planted_version_without_manifest_is_never_loaded(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ModelStore(registered.name, registered.tracking_uri, tmp_path)
    store.prepare()
    planted = store.cache_dir / "v99"
    planted.mkdir()
    (planted / "MLmodel").write_text("flavors: {}\n")
    (store.cache_dir / "alias-champion.json").write_text(json.dumps({"version": "99", "path": str(planted)}))
    with pytest.raises(NotReady, match="not cached"):
        _down(registered, tmp_path, monkeypatch).load("champion")
