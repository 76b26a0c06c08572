"""Models and training runs for the promotion tests, built to the training contract (DESIGN.md section 11):
a run with params `mlplat.label`, `mlplat.features`, `mlplat.categorical`, `mlplat.slices`, artifacts
`holdout/holdout.parquet`, `validation/report.json` and the drift reference profile, and a version tagged
`gate=pending`."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel
from sklearn.linear_model import LogisticRegression

FEATURES = [f"f{i}" for i in range(6)]
LABEL = "churned"
TENANTS = ("acme-eu", "bosch-de", "globex-us")


def dataset(rows: int, seed: int = 0) -> pd.DataFrame:
    """Features, a label the first two features decide (plus a little noise) and a tenant slice column."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    logit = 3.0 * frame["f0"] + 1.5 * frame["f1"] + rng.normal(scale=0.4, size=rows)
    frame[LABEL] = (logit > 0).astype(int)
    frame["tenant"] = rng.choice(TENANTS, size=rows)
    return frame


def fit(frame: pd.DataFrame, features: list[str] = FEATURES) -> LogisticRegression:
    return LogisticRegression(max_iter=200).fit(frame[features], frame[LABEL])


class RandomScores(PythonModel):  # type: ignore[misc]
    """A useless model: uniform random scores."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return np.random.default_rng(len(model_input)).random(len(model_input))


class Slow(PythonModel):  # type: ignore[misc]
    """A good model that sleeps 150 ms per call."""

    def __init__(self, model: LogisticRegression) -> None:
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        time.sleep(0.15)
        return np.asarray(self.model.predict(model_input[FEATURES]))

    def predict_proba(self, model_input: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(model_input[FEATURES]))


class FailsOnWholeNumbers(PythonModel):  # type: ignore[misc]
    """Raises for rows whose f0 is a whole number (the tests send 20 % of those); serving's random warm-up
    rows never are, so the model is warmed and micro-batched like any other."""

    def __init__(self, model: LogisticRegression) -> None:
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        first = model_input[FEATURES[0]].to_numpy(dtype=float)
        if np.any(first == np.round(first)):
            raise ValueError("this row breaks the model")
        return np.asarray(self.model.predict(model_input[FEATURES]))


def register(
    tracking_uri: str,
    name: str,
    model: Any,
    holdout: pd.DataFrame,
    *,
    features: list[str] = FEATURES,
    validation_passed: bool = True,
    profile: bool = True,
) -> str:
    """One training run with the contract's params and artifacts and a registered version (gate=pending)."""
    mlflow.set_tracking_uri(tracking_uri)
    example = holdout[features].head(50)
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as scratch:
        mlflow.log_params({
            "mlplat.label": LABEL, "mlplat.features": json.dumps(features),
            "mlplat.categorical": "[]", "mlplat.slices": json.dumps(["tenant"]),
        })  # fmt: skip
        folder = Path(scratch)
        holdout.to_parquet(folder / "holdout.parquet")
        mlflow.log_artifact(str(folder / "holdout.parquet"), "holdout")
        (folder / "report.json").write_text(json.dumps({"passed": validation_passed, "failures": []}))
        mlflow.log_artifact(str(folder / "report.json"), "validation")
        if profile:
            (folder / "reference_profile.npz").write_bytes(b"profile")
            mlflow.log_artifact(str(folder / "reference_profile.npz"), "drift")
        if isinstance(model, PythonModel):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=model, registered_model_name=name,
                signature=infer_signature(example, model.predict(None, example)), pip_requirements=["scikit-learn"],
            )  # fmt: skip
        else:
            info = mlflow.sklearn.log_model(
                model, name="model", registered_model_name=name,
                signature=infer_signature(example, model.predict(example)), pip_requirements=["scikit-learn"],
            )  # fmt: skip
    version = str(info.registered_model_version)
    mlflow.MlflowClient(tracking_uri).set_model_version_tag(name, version, "gate", "pending")
    assert run.info.run_id
    return version
