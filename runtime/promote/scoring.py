"""Scoring a registered version the way serving does: downloaded and warmed by runtime/serving/models.py, whole
holdout for the metrics, then single rows through the serving path for the latency budget."""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from runtime.promote.checks import Column, over_budget_enough
from runtime.promote.errors import PromoteError
from runtime.serving.models import LoadedModel, ModelStore


@dataclass
class Scored:
    """One version, loaded through the serving code path."""

    version: str
    model: LoadedModel
    path: Path

    @property
    def size_bytes(self) -> int:
        return sum(item.stat().st_size for item in self.path.rglob("*") if item.is_file())

    @property
    def inputs(self) -> list[Column] | None:
        schema = self.model.pyfunc.metadata.get_input_schema()
        if schema is None:
            return None
        return [
            Column(str(spec.name), str(getattr(spec, "type", "")), bool(getattr(spec, "required", True)))
            for spec in schema.inputs
        ]

    @property
    def output_type(self) -> str | None:
        schema = self.model.pyfunc.metadata.get_output_schema()
        if schema is None:
            return None
        return ",".join(sorted({str(getattr(spec, "type", "")) for spec in schema.inputs}))

    def input_columns(self, fallback: list[str]) -> list[str]:
        inputs = self.inputs
        return [column.name for column in inputs] if inputs else fallback

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Positive-class scores for every row: probabilities when the model answers them, else its labels."""
        raw = self.model.pyfunc.predict(frame)
        values = np.asarray(raw.to_numpy() if isinstance(raw, pd.DataFrame | pd.Series) else raw, dtype=float)
        if values.ndim == 2:
            values = values[:, -1]
        if set(np.unique(values)) <= {0.0, 1.0}:
            proba = _predict_proba(self.model.pyfunc, frame)
            if proba is not None:
                values = proba
        if values.shape != (len(frame),):
            raise PromoteError(f"version {self.version} answered shape {values.shape} for {len(frame)} rows")
        return values

    def single_row_latencies_ms(
        self, frame: pd.DataFrame, samples: int, budget_ms: float, model_threads: int = 1
    ) -> list[float]:
        """Milliseconds per single-row call through serving's own path, with serving's native-thread cap
        (MLPLAT_MODEL_THREADS, default 1); stops once the budget is surely missed."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=model_threads):
            return self._latencies(frame.head(samples), budget_ms)

    def _latencies(self, rows: pd.DataFrame, budget_ms: float) -> list[float]:
        latencies: list[float] = []
        columns = list(rows.columns)
        batched = self.model.batchable and self.model.spec is not None
        records = rows.to_numpy().tolist() if batched else None
        for position in range(len(rows)):
            if batched:
                assert records is not None
                started = time.perf_counter()
                self.model.score_rows([records[position]])
            else:
                body = json.dumps({"dataframe_split": {"columns": columns, "data": [rows.iloc[position].tolist()]}},
                                  default=str).encode()  # fmt: skip
                started = time.perf_counter()
                self.model.invoke_mlflow(body, "application/json")
            latencies.append((time.perf_counter() - started) * 1000)
            if over_budget_enough(latencies, budget_ms, len(rows)):
                break
        return latencies


def _predict_proba(pyfunc: Any, frame: pd.DataFrame) -> np.ndarray | None:
    raw = None
    for unwrap in ("get_raw_model", "unwrap_python_model"):  # flavors' own model, or a PythonModel
        with contextlib.suppress(Exception):
            raw = getattr(pyfunc, unwrap)()
            break
    if raw is None or not hasattr(raw, "predict_proba"):
        return None
    proba = np.asarray(raw.predict_proba(frame), dtype=np.float64)
    return proba[:, -1] if proba.ndim == 2 else proba


def load_version(name: str, version: str, tracking_uri: str | None, cache_dir: Path) -> Scored:
    store = ModelStore(name, tracking_uri, cache_dir)
    try:
        model = store.load(f"v{version}", version)
    except Exception as error:
        raise PromoteError(f"cannot load {name} version {version}: {error}") from None
    return Scored(version, model, store.cache_dir / f"v{version}")


def download_run_artifact(tracking_uri: str | None, run_id: str, artifact_path: str) -> Path | None:
    """A run artifact on local disk (a temporary directory the OS cleans), or None when the run has none."""
    import mlflow.artifacts

    folder = tempfile.mkdtemp(prefix="mlplat-promote-")
    try:
        return Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=artifact_path, dst_path=folder, tracking_uri=tracking_uri
            )
        )
    except Exception:
        return None
