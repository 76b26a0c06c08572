"""`mlplat dev demo`: the whole runtime end to end on one machine.

Trains a churn model, registers two versions (champion and challenger), materializes the local region's tenants'
features into Redis, sends canary traffic through `mlplat-serve`, promotes the challenger, shifts the customers'
behaviour, runs the drift job (which alerts and rolls the champion alias back), and checks that serving followed
the alias without a restart. It runs against the platform `mlplat dev up` left running (and leaves it running), or
starts one on 127.0.0.1 and stops exactly what it started; it never stops a process it did not start.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from mlplat.dev import demo_data, demo_promotion, demo_training
from mlplat.dev.platform import LOCAL_REGION, MODEL_NAME, MODELS_BUCKET, PREDICTIONS_BUCKET, SERVICES, DevPlatform
from mlplat.processes import ProcessError

Step = Callable[[str], None]


@dataclass(frozen=True)
class DemoSize:
    training_rows: int = 20_000
    entities_per_tenant: int = 400
    canary_requests: int = 150
    shifted_requests: int = 600
    entities_per_request: int = 4
    promotion: bool = True  # end with the gate, the fleet-wide rollout, the approval and the history


@dataclass
class DemoResult:
    versions: dict[str, str] = field(default_factory=dict)  # role -> version
    canary_split: dict[str, int] = field(default_factory=dict)  # variant -> requests
    refused_status: int | None = None
    drift_status: str | None = None
    drift_share: float | None = None
    drifted_features: list[str] = field(default_factory=list)
    drift_exit_code: int | None = None
    champion_before_rollback: str | None = None
    champion_after_rollback: str | None = None
    served_after_rollback: set[str] = field(default_factory=set)
    serve_pid_unchanged: bool = False
    report_html: Path | None = None
    retrain: demo_training.RetrainResult | None = None
    promotion: demo_promotion.PromotionResult | None = None
    seconds: float = 0.0


@contextmanager
def _aws(platform: DevPlatform) -> Iterator[None]:
    """The local platform's AWS and MLflow endpoints in this process's environment, restored afterwards.

    MLflow's own global URI (set by `mlflow.set_tracking_uri` elsewhere in a process that goes on, a test session say)
    wins over MLFLOW_TRACKING_URI, so it is pointed at the local server too and put back as it was afterwards: nothing
    global outlives the demo, and nothing global from before it sends its runs to another server."""
    from mlflow.tracking._tracking_service import utils as tracking

    variables = {**platform.aws_env(), "MLFLOW_TRACKING_URI": platform.mlflow_url}
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    previous_uri = tracking._tracking_uri
    tracking.set_tracking_uri(platform.mlflow_url)
    try:
        yield
    finally:
        tracking.set_tracking_uri(previous_uri)  # type: ignore[arg-type]  # None unsets, as before the demo
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_platform(platform: DevPlatform, step: Step) -> None:
    """Redis, moto (with the buckets) and MLflow; serving starts once a model is registered."""
    if any(platform.pid_of(name) for name in ("redis", "moto", "mlflow", "serve")):
        raise ProcessError(
            f"the local platform is already running (state in {platform.state}); `mlplat dev down` first"
        )
    platform.check_ports(("redis", "moto", "mlflow", "serve", "serve2", "prometheus"))
    platform.reset_state()
    step("starting redis")
    platform.start("redis", timeout=20)
    step("starting the moto S3 server")
    platform.start("moto", timeout=60)
    import boto3

    with _aws(platform):
        s3 = boto3.client("s3", region_name="eu-west-1")
        for bucket in (MODELS_BUCKET, PREDICTIONS_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    step("starting the MLflow server (SQLite, artifacts in moto S3)")
    platform.start("mlflow", timeout=180)


def train_and_register(platform: DevPlatform, size: DemoSize, step: Step) -> dict[str, str]:
    """Two versions of a churn-risk model; v1 becomes champion, v2 challenger. Each logs its drift profile."""
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    import mlflow
    import pyarrow as pa
    from mlflow.models import infer_signature
    from sklearn.ensemble import HistGradientBoostingRegressor

    from runtime.drift import registry
    from runtime.drift.profile import DEFAULT_PROFILE_ARTIFACT, build_profile, profile_bytes

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # the demo prints its own progress
    client = mlflow.MlflowClient(platform.mlflow_url)
    experiment = client.get_experiment_by_name("churn")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("churn")
    features = demo_data.customers(size.training_rows, seed=7)
    labels = demo_data.churned(features, seed=8)
    versions: dict[str, str] = {}
    for role, params in (
        ("champion", {"max_iter": 60, "max_depth": 4}),
        ("challenger", {"max_iter": 120, "max_depth": 6}),
    ):
        step(f"training the {role} (HistGradientBoosting {params})")
        model = HistGradientBoostingRegressor(random_state=1, **params).fit(features, labels)
        predictions = model.predict(features)
        with _aws(platform), mlflow.start_run(run_name=f"churn-{role}", experiment_id=experiment_id) as run:
            mlflow.log_params(params)
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(features, predictions),
                input_example=features.head(3),
                pip_requirements=["scikit-learn", "pandas", "numpy"],
                serialization_format="cloudpickle",
            )
            reference = pa.Table.from_pandas(features.assign(prediction=predictions), preserve_index=False)
            profile = build_profile(
                reference, categorical=frozenset(demo_data.CATEGORICAL), prediction_column="prediction"
            )
            registry.log_reference_profile(client, run.info.run_id, profile_bytes(profile), DEFAULT_PROFILE_ARTIFACT)
            version = mlflow.register_model(info.model_uri, MODEL_NAME).version
        versions[role] = str(version)
    registry.promote(client, MODEL_NAME, versions["champion"])
    client.set_registered_model_alias(MODEL_NAME, "challenger", versions["challenger"])
    return versions


def materialize(
    platform: DevPlatform,
    size: DemoSize,
    *,
    shifted: bool,
    seed: int,
    region: str = LOCAL_REGION,
    redis_url: str | None = None,
) -> dict[str, list[str]]:
    """Writes the tenants stored in `region` into that region's Redis with the online-store key contract."""
    import redis

    from components.config import load_deployment
    from runtime.serving.features import write_entity

    deployment = load_deployment(platform.root)
    tenants = [t for t in deployment.tenants_stored_in(region)]
    store = redis.Redis.from_url(redis_url or platform.redis_url)
    entities: dict[str, list[str]] = {}
    now = time.time()
    with store.pipeline(transaction=False) as pipe:
        for index, tenant in enumerate(tenants):
            rows = demo_data.customers(size.entities_per_tenant, seed=seed + index, shifted=shifted)
            ids = [f"c-{n}" for n in range(size.entities_per_tenant)]
            for entity_id, row in zip(ids, rows.to_dict("records"), strict=True):
                key, mapping = write_entity(tenant, entity_id, row, now)
                pipe.hset(key, mapping=dict(mapping))  # type: ignore[arg-type]
            entities[tenant] = ids
        pipe.execute()
    return entities


def _traffic(
    client: httpx.Client, entities: dict[str, list[str]], requests: int, per_request: int, seed: int
) -> Counter[str]:
    rng = np.random.default_rng(seed)
    tenants = sorted(entities)
    seen: Counter[str] = Counter()
    for _ in range(requests):
        tenant = tenants[int(rng.integers(len(tenants)))]
        ids = list(rng.choice(entities[tenant], size=per_request, replace=False))
        response = _predict(client, {"tenant": tenant, "entity_ids": ids})
        model = response.json()["model"]
        seen[f"{model['variant']} v{model['version']}"] += 1
    return seen


def _predict(client: httpx.Client, body: dict[str, Any], attempts: int = 5) -> httpx.Response:
    """One request as a well-behaved client sends it: a 503 (not ready, shedding, online store slow) is retried
    after its Retry-After, at most `attempts` times; any other error is raised."""
    for _ in range(attempts - 1):
        response = client.post("/v1/predict", json=body)
        if response.status_code != 503:
            break
        retry_after = response.headers.get("retry-after", "1")
        time.sleep(min(float(retry_after), 5.0) if retry_after.isdigit() else 1.0)
    else:
        response = client.post("/v1/predict", json=body)
    return response.raise_for_status()


def _served_versions(client: httpx.Client) -> dict[str, str]:
    body = client.get("/v1/models").json()
    return {v["variant"]: str(v["version"]) for v in body["models"]}


def _registered(versions: dict[str, str]) -> dict[str, str]:
    return {"champion": versions["champion"], "challenger": versions["challenger"]}


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise ProcessError(f"timed out after {timeout:.0f}s waiting for {what}")


def run_drift_job(platform: DevPlatform) -> tuple[int, dict[str, Any] | None, Path | None]:
    env = {
        **os.environ,
        **platform.aws_env(),
        **platform.drift_environment(tuple(demo_data.CATEGORICAL)).as_env(),
        "MLPLAT_DRIFT_WINDOW_END": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 60)),
    }
    log = platform.state / "logs" / "drift.log"
    with log.open("ab") as out:
        job = [sys.executable, "-m", "runtime.drift", "job"]
        code = subprocess.run(
            job, env=env, cwd=platform.root, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=300
        ).returncode
    reports = sorted(platform.reports_dir.rglob("report.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        return code, None, None
    return code, json.loads(reports[-1].read_text()), reports[-1].with_name("report.html")


def running_services(platform: DevPlatform) -> list[str]:
    """The local platform's services whose recorded process is alive."""
    return [name for name in SERVICES if platform.pid_of(name) is not None]


def demo_session(platform: DevPlatform, size: DemoSize, step: Step) -> tuple[DemoResult, list[str]]:
    """`mlplat dev demo`: the flow against the running platform (left running), or against one started for it and
    stopped afterwards. Returns the result and the services it stopped; never stops what it did not start."""
    running = running_services(platform)
    if running and len(running) < len(SERVICES):
        missing = [n for n in SERVICES if n not in running]
        raise ProcessError(
            f"the local platform is partly running ({', '.join(running)} up, {', '.join(missing)} not); "
            "`mlplat dev down` then `mlplat dev up` or `mlplat dev demo`"
        )
    if running:
        step("using the local platform `mlplat dev up` started; it stays up")
        return run_demo(platform, size, step, reuse=True), []
    try:
        return run_demo(platform, size, step), platform.stop(running_services(platform))
    except BaseException:
        platform.stop(running_services(platform))  # nothing ran before: all of it is ours
        raise


def run_demo(platform: DevPlatform, size: DemoSize, step: Step, *, reuse: bool = False) -> DemoResult:
    """The whole flow. With `reuse`, on the running platform (its serving process included); otherwise it starts the
    platform and the caller stops it (`platform.down()`) whatever happens."""
    started = time.monotonic()
    result = DemoResult()
    if not reuse:
        start_platform(platform, step)
    result.versions = train_and_register(platform, size, step)
    step("materializing the eu-west-1 tenants' features into Redis")
    entities = materialize(platform, size, shifted=False, seed=100)
    if reuse:
        serve_pid = platform.pid_of("serve")
        demo_promotion.publish_canary(platform, result.versions["challenger"], 0.2)
    else:
        step("starting two mlplat-serve replicas and Prometheus (canary 20% to the challenger)")
        demo_promotion.start_fleet(platform, result.versions["challenger"], canary_weight=0.2)
        serve_pid = platform.pid_of("serve")
    with httpx.Client(base_url=platform.serve_url, timeout=30) as client:
        _wait_for(lambda: _served_versions(client) == _registered(result.versions), 60, "serving to load the versions")
        step(f"sending {size.canary_requests} canary requests")
        result.canary_split = dict(_traffic(client, entities, size.canary_requests, size.entities_per_request, seed=1))
        refused = client.post("/v1/predict", json={"tenant": "globex-us", "entity_ids": ["c-1"]})
        result.refused_status = refused.status_code

        step("promoting the challenger to champion")
        import mlflow

        from runtime.drift import registry

        registry.promote(mlflow.MlflowClient(platform.mlflow_url), MODEL_NAME, result.versions["challenger"])
        _wait_for(
            lambda: _served_versions(client).get("champion") == result.versions["challenger"], 60, "the promotion"
        )
        result.champion_before_rollback = result.versions["challenger"]

        step("shifting the customers' behaviour (activity down, tickets up, cheaper plans)")
        shifted = materialize(platform, size, shifted=True, seed=500)
        _traffic(client, shifted, size.shifted_requests, size.entities_per_request, seed=2)
        time.sleep(2.5)  # the prediction log flushes every second

        step("running the drift job (action: rollback)")
        result.drift_exit_code, report, result.report_html = run_drift_job(platform)
        if report is not None:
            result.drift_status = report["dataset"]["status"]
            result.drift_share = report["dataset"]["drift_share"]
            result.drifted_features = sorted(n for n, f in report["features"].items() if f["status"] == "alert")
        champion = mlflow.MlflowClient(platform.mlflow_url).get_model_version_by_alias(MODEL_NAME, "champion")
        result.champion_after_rollback = str(champion.version)

        step("waiting for serving to follow the alias")
        _wait_for(
            lambda: _served_versions(client).get("champion") == result.champion_after_rollback, 60, "the rollback"
        )
        after = _traffic(client, shifted, 20, size.entities_per_request, seed=3)
        result.served_after_rollback = {k for k in after if k.startswith("champion")}
        result.serve_pid_unchanged = platform.pid_of("serve") == serve_pid
    result.retrain = demo_training.retrain_on_drift(platform, tuple(demo_data.CATEGORICAL), step)
    if size.promotion:
        with _aws(platform):
            result.promotion = demo_promotion.run_promotion(platform, entities, step)
    result.seconds = time.monotonic() - started
    return result


def summary(result: DemoResult) -> str:
    rolled_back = result.champion_after_rollback != result.champion_before_rollback
    versions = result.versions
    lines = [
        "mlplat local platform demo",
        f"  model versions      champion v{versions.get('champion')}, challenger v{versions.get('challenger')}",
        f"  canary traffic      {', '.join(f'{k}: {v}' for k, v in sorted(result.canary_split.items()))}",
        f"  residency           globex-us (us) asked in eu-west-1 -> HTTP {result.refused_status}",
        f"  promotion           challenger v{result.champion_before_rollback} became champion",
        f"  drift               {result.drift_status} (drift share {result.drift_share}), alerting: "
        f"{', '.join(result.drifted_features) or 'none'}",
        f"  rollback            champion v{result.champion_before_rollback} -> v{result.champion_after_rollback}"
        f" ({'done' if rolled_back else 'NOT done'})",
        f"  serving followed    now answering {', '.join(sorted(result.served_after_rollback))}"
        f" without a restart: {'yes' if result.serve_pid_unchanged else 'NO'}",
        f"  drift report        {result.report_html}",
        *demo_training.summary_lines(result.retrain),
        *(demo_promotion.summary(result.promotion) if result.promotion else []),
        f"  took                {result.seconds:.0f}s",
    ]
    return "\n".join(lines)
