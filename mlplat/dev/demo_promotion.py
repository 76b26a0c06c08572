"""The promotion part of `mlplat dev demo`: two serving replicas that follow the region's published canary weight
and a Prometheus scraping them; a retrained version and a deliberately bad one gated, the good one rolled out
5 -> 25 -> 50 -> 100 % on live metrics with short soaks, approved, promoted, and the history printed."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from mlplat.dev import demo_data
from mlplat.dev.platform import LOCAL_REGION, MODEL_NAME, SERVING_REPLICAS, DevPlatform

Step = Callable[[str], None]
TENANTS = ("acme-eu", "bosch-de")
HISTORY_LINES = 20
DEMO_GATES = {
    "metrics": {"roc_auc": {"min": 0.70, "max_drop": 0.02}, "accuracy": {"min": 0.65}},
    "slices": {"column": "tenant", "metric": "roc_auc", "max_drop": 0.05, "disparate_impact_min": 0.5},
    "latency": {"p99_ms_max": 250},  # a shared laptop-sized machine; production keeps the seeds' 100 ms
    # a shared two-core machine: p99 over a few seconds swings 2x on its own, so the demo's latency rule is 5x
    "rollout": {
        "steps": [0.05, 0.25, 0.5, 1.0],
        "soak_seconds": 4,
        "min_requests": 20,
        "poll_seconds": 1,
        "latency_ratio": 5.0,
    },
}


def publish_canary(platform: DevPlatform, challenger: str, canary_weight: float) -> None:
    """The region's canary weight for `challenger`, as the rollout controller publishes it."""
    from runtime.promote import registry

    registry.publish_weight(registry.client(platform.mlflow_url), MODEL_NAME, LOCAL_REGION, challenger, canary_weight)


def start_fleet(platform: DevPlatform, challenger: str, canary_weight: float) -> None:
    """Both serving replicas (routing by the registry's published weight) and Prometheus; `canary_weight` of
    traffic to `challenger` to begin with."""
    publish_canary(platform, challenger, canary_weight)
    for name in SERVING_REPLICAS:
        environment = platform.serving_environment(
            canary_weight=0.0, rollout_enabled=True, model_cache_dir=str(platform.state / f"{name}-cache")
        )
        platform.start(name, environment.as_env(), timeout=180)
    platform.start("prometheus", timeout=60)


@dataclass
class PromotionResult:
    refused: dict[str, str] = field(default_factory=dict)  # version -> failed checks
    gated: str | None = None
    weights: list[float] = field(default_factory=list)
    waited_for_approval: bool = False
    champion: str | None = None
    history: list[str] = field(default_factory=list)


def _register(platform: DevPlatform, role: str, labels_shuffled: bool, seed: int) -> str:
    """A retrained version registered to the training contract: params, holdout, validation result, profile."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.ensemble import HistGradientBoostingRegressor

    from runtime.drift import registry as drift_registry
    from runtime.drift.profile import DEFAULT_PROFILE_ARTIFACT

    train = demo_data.customers(20_000, seed=seed)
    labels = demo_data.churned(train, seed=seed + 1)
    if labels_shuffled:
        labels = np.random.default_rng(seed).permutation(labels)
    model = HistGradientBoostingRegressor(max_iter=60, max_depth=4, random_state=1).fit(train, labels)
    holdout = demo_data.customers(3000, seed=seed + 2)
    holdout["churned"] = demo_data.churned(holdout, seed=seed + 3)
    holdout["tenant"] = np.random.default_rng(seed).choice(TENANTS, size=len(holdout))
    client = mlflow.MlflowClient(platform.mlflow_url)
    with mlflow.start_run(run_name=f"churn-{role}") as run, tempfile.TemporaryDirectory() as scratch:
        mlflow.log_params({"mlplat.label": "churned", "mlplat.features": json.dumps(list(train.columns)),
                           "mlplat.categorical": json.dumps(demo_data.CATEGORICAL),
                           "mlplat.slices": json.dumps(["tenant"])})  # fmt: skip
        folder = Path(scratch)
        holdout.to_parquet(folder / "holdout.parquet")
        mlflow.log_artifact(str(folder / "holdout.parquet"), "holdout")
        (folder / "report.json").write_text(json.dumps({"passed": True, "failures": []}))
        mlflow.log_artifact(str(folder / "report.json"), "validation")
        profile_run = client.get_model_version_by_alias(MODEL_NAME, "champion").run_id  # same features
        drift_registry.log_reference_profile(
            client, run.info.run_id,
            drift_registry.reference_profile_bytes(client, profile_run, DEFAULT_PROFILE_ARTIFACT),
            DEFAULT_PROFILE_ARTIFACT,
        )  # fmt: skip
        info = mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(train, model.predict(train.head(50))),
            pip_requirements=["scikit-learn", "pandas", "numpy"], serialization_format="cloudpickle",
        )  # fmt: skip
        version = str(mlflow.register_model(info.model_uri, MODEL_NAME).version)
    client.set_model_version_tag(MODEL_NAME, version, "gate", "pending")
    return version


@contextmanager
def _traffic(platform: DevPlatform, entities: dict[str, list[str]]) -> Iterator[None]:
    """`/v1/predict` traffic on both replicas while the rollout runs (bounded: 10 minutes, 50 000 requests)."""
    stop = threading.Event()

    def send(url: str, seed: int) -> None:
        rng = np.random.default_rng(seed)
        tenants = sorted(entities)
        deadline = time.monotonic() + 600
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(25_000):
                if stop.is_set() or time.monotonic() > deadline:
                    return
                tenant = tenants[int(rng.integers(len(tenants)))]
                client.post("/v1/predict", json={"tenant": tenant, "entity_ids": [str(rng.choice(entities[tenant]))]})

    urls = [f"http://127.0.0.1:{getattr(platform.ports, name)}" for name in SERVING_REPLICAS]
    threads = [threading.Thread(target=send, args=(url, i), daemon=True) for i, url in enumerate(urls)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


def run_promotion(platform: DevPlatform, entities: dict[str, list[str]], step: Step) -> PromotionResult:
    import yaml

    from runtime.promote import registry
    from runtime.promote.config import PromotionConfig
    from runtime.promote.gate import run_gate
    from runtime.promote.prometheus import Prometheus
    from runtime.promote.rollout import Controller, Outcome, Region
    from runtime.promotion_history import HistoryStore

    result = PromotionResult()
    config = PromotionConfig.model_validate(DEMO_GATES)
    (platform.state / "gates.yaml").write_text(yaml.safe_dump(DEMO_GATES, sort_keys=False))
    history = HistoryStore(platform.promotion_history_uri)
    step("registering a retrained version and a bad one (trained on shuffled labels)")
    good = _register(platform, "retrained", labels_shuffled=False, seed=40)
    bad = _register(platform, "bad", labels_shuffled=True, seed=41)
    for version in (bad, good):
        step(f"gating v{version} against the champion on its holdout")
        report = run_gate(uri=platform.mlflow_url, history=history, name=MODEL_NAME, version=version, config=config)
        (platform.reports_dir / f"gate-v{version}.md").write_text(report.markdown())
        if not report.passed:
            result.refused[version] = "; ".join(f"{c.name} ({c.detail})" for c in report.failed)
            step(f"v{version} refused: {result.refused[version]}")
        else:
            result.gated = version
    mlflow = registry.client(platform.mlflow_url)
    controller = Controller(mlflow, history, MODEL_NAME, config.rollout.gates(), say=step)
    region = Region(LOCAL_REGION, Prometheus(platform.prometheus_url))
    if result.gated is None:
        return result
    step(f"rolling v{result.gated} out on live metrics from both replicas (steps 5/25/50/100 %, 4 s soaks)")
    with _traffic(platform, entities):
        outcome = controller.run([region], once=False, poll_seconds=1.0, deadline=time.time() + 480)
    result.weights = [e["weight"] for e in history.events(MODEL_NAME) if e["event"] == "weight"]
    result.waited_for_approval = outcome == Outcome.WAITING
    if outcome == Outcome.WAITING:
        step("soaked at 100 %: production waits for an approval (exit 3); approving as the demo user")
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for tag, value in ((registry.APPROVED_BY_TAG, "demo-user"), (registry.APPROVED_AT_TAG, at),
                           (registry.APPROVED_REASON_TAG, "mlplat dev demo")):  # fmt: skip
            mlflow.set_model_version_tag(MODEL_NAME, result.gated, tag, value)
        history.append(MODEL_NAME, "approval", version=result.gated, why="mlplat dev demo", by="demo-user")
        controller.run([region], once=True, poll_seconds=1.0, deadline=None)
    result.champion = registry.alias_version(mlflow, MODEL_NAME, registry.CHAMPION_ALIAS)
    from runtime.promote.cli import format_event

    result.history = [format_event(event) for event in history.events(MODEL_NAME)][-HISTORY_LINES:]
    return result


def summary(result: PromotionResult) -> list[str]:
    lines = [f"  gate refused        v{version}: {reasons[:160]}" for version, reasons in result.refused.items()]
    if result.gated is None:
        return [*lines, "  gate passed         none: nothing to roll out"]
    lines += [
        f"  gate passed         v{result.gated} -> alias challenger",
        f"  rollout weights     {' -> '.join(f'{w:g}' for w in result.weights)} (both replicas, live metrics)",
        f"  approval            {'waited (exit 3), then approved by demo-user' if result.waited_for_approval else '-'}",
        f"  champion            v{result.champion}",
        "  history:",
        *[f"    {line[:200]}" for line in result.history],
    ]
    return lines
