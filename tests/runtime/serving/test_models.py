"""Loading by alias from the real registry, warmed and batchable; the cache serves while MLflow is down."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runtime.serving.errors import NotReady
from runtime.serving.models import ModelStore
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
