"""The one app-state object: variants (model + micro-batcher), routing, store, guards, logging, metrics.

It answers `/invocations` and `/v1/predict` as plain async methods; `app.py` only turns HTTP into these calls.
Background tasks: model loads (retrying), the alias watcher, the rollout controller, the prediction log.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson

from runtime.residency import ResidencyMap
from runtime.serving import routing
from runtime.serving.auth import Authenticator
from runtime.serving.batching import BatchObserver, MicroBatcher
from runtime.serving.errors import (
    FeatureStoreUnavailable,
    InvalidInput,
    InvalidJson,
    NotReady,
    ResidencyRefused,
    ServingError,
    Timeout,
    UnknownTenant,
)
from runtime.serving.features import FeatureFetch, OnlineStore
from runtime.serving.metrics import Metrics
from runtime.serving.models import LoadedModel, ModelStore
from runtime.serving.prediction_logger import PredictionLogger
from runtime.serving.protocol import InputSpec, Row, check_content_type, decode_json, fast_rows
from runtime.serving.rollout import Action, Gates, RolloutController, WindowStats
from runtime.serving.settings import ServeSettings

log = logging.getLogger("mlplat.serve")

T = TypeVar("T")
MAX_ENTITIES = 1024
WINDOW_CAP = 200_000
LOAD_RETRY_SECONDS = 2.0
GC_GEN0_THRESHOLD = 50_000
# bodies above this are parsed, converted and logged in a worker thread: the event loop keeps answering
OFFLOAD_BYTES = 64 * 1024


@dataclass
class TrafficWindow:
    """Requests, errors and latencies of one variant since the rollout controller last looked."""

    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, seconds: float, error: bool) -> None:
        self.requests += 1
        self.errors += error
        if len(self.latencies) < WINDOW_CAP:
            self.latencies.append(seconds)

    def drain(self) -> WindowStats:
        p99 = float(np.quantile(self.latencies, 0.99)) if self.latencies else None
        stats = WindowStats(self.requests, self.errors, p99)
        self.requests, self.errors, self.latencies = 0, 0, []
        return stats


@dataclass
class Variant:
    name: str
    alias: str
    executor: ThreadPoolExecutor
    model: LoadedModel | None = None
    batcher: MicroBatcher | None = None
    window: TrafficWindow = field(default_factory=TrafficWindow)

    def loaded(self) -> LoadedModel:
        if self.model is None:
            raise NotReady(f"the {self.name} model (alias {self.alias}) is still loading")
        return self.model


@dataclass
class Answer:
    body: bytes
    variant: str


@dataclass
class Call:
    """One scoring request's context: who sent it, and the variant chosen for it once routing has run.

    The HTTP layer reads `variant` whatever the outcome, so errors after routing (the model's 4xx and 5xx,
    timeouts, load shed by the variant's queue) count against the variant that was chosen.
    """

    caller: str | None = None
    variant: str = "none"


def load_residency(path: Path | None) -> ResidencyMap | None:
    """The residency map from a YAML/JSON file (stacks/platform.yaml's shape); None when there is none."""
    if path is None:
        fallback = Path("stacks/platform.yaml")  # `mlplat dev` runs from the repo root
        if not fallback.exists():
            return None
        path = fallback
    text = path.read_text()
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    return ResidencyMap.from_dict(data)


class ServingState:
    def __init__(self, settings: ServeSettings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.models = ModelStore(settings.model_name, settings.tracking_uri, settings.model_cache_dir)
        self.variants: dict[str, Variant] = {
            routing.CHAMPION: Variant(
                routing.CHAMPION, settings.champion_alias, _executor(routing.CHAMPION, settings.model_threads)
            )
        }
        if settings.routes_challenger and settings.challenger_alias:
            self.variants[routing.CHALLENGER] = Variant(
                routing.CHALLENGER,
                settings.challenger_alias,
                _executor(routing.CHALLENGER, settings.model_threads),
            )
        self.canary_weight = settings.canary_weight
        self.rollout: RolloutController | None = None
        if settings.rollout_enabled and routing.CHALLENGER in self.variants:
            gates = Gates(soak_seconds=settings.rollout_soak_seconds, min_requests=settings.rollout_min_requests)
            self.rollout = RolloutController(steps=settings.rollout_step_weights, gates=gates)
        self.store = (
            OnlineStore(
                settings.redis_url,
                token_file=settings.redis_token_file,
                ca_file=settings.redis_ca_file,
                timeout_s=settings.redis_timeout_ms / 1000,
                max_age_seconds=settings.feature_max_age_seconds,
                mode=settings.redis_fetch,
                max_keys_per_trip=settings.redis_max_keys_per_trip,
            )
            if settings.redis_url
            else None
        )
        self.residency = load_residency(settings.residency_file)
        self.auth = (
            Authenticator(
                settings.auth_key_file,
                audience=settings.auth_audience,
                max_lifetime_s=settings.auth_max_token_lifetime_seconds,
            )
            if settings.auth_key_file
            else None
        )
        self.prediction_log = (
            PredictionLogger(
                settings.prediction_log_uri,
                settings.model_name,
                sample=settings.prediction_log_sample,
                buffer_rows=settings.prediction_log_buffer_rows,
                flush_seconds=settings.prediction_log_flush_seconds,
                max_rows_per_request=settings.prediction_log_max_rows_per_request,
                max_rows_per_caller=settings.prediction_log_max_rows_per_caller,
                caller_window_seconds=settings.prediction_log_caller_window_seconds,
                on_written=self.metrics.prediction_log_rows.inc,
                on_dropped=lambda rows, reason: self.metrics.prediction_log_dropped.labels(reason).inc(rows),
            )
            if settings.prediction_log_uri
            else None
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._request_counters: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[tuple[str, str], Any] = {}

    # lifecycle

    async def start(self) -> None:
        _limit_native_threads(self.settings.model_threads)
        self.metrics.rollout_weight.set(self._weight())
        for variant in self.variants.values():
            variant.batcher = self._batcher(variant)
            variant.batcher.start()
            self._spawn(self._load_until_ready(variant))
        self._spawn(self._watch_aliases())
        if self.rollout is not None:
            self._spawn(self._run_rollout())
        if self.prediction_log is not None:
            self.prediction_log.start()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for variant in self.variants.values():
            if variant.batcher is not None:
                await variant.batcher.stop()
            variant.executor.shutdown(wait=False, cancel_futures=True)
        if self.prediction_log is not None:
            await self.prediction_log.stop()
        if self.store is not None:
            await self.store.close()

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _batcher(self, variant: Variant) -> MicroBatcher:
        labels = {"variant": variant.name}
        queue_wait = self.metrics.queue_wait.labels(**labels)
        model_latency = self.metrics.model_latency.labels(**labels)
        batch_size = self.metrics.batch_size.labels(**labels)
        inferences = self.metrics.inference_count.labels(**labels)
        executions = self.metrics.execution_count.labels(**labels)

        def on_batch(rows: int, seconds: float) -> None:
            model_latency.observe(seconds)
            batch_size.observe(rows)
            inferences.inc(rows)
            executions.inc()

        return MicroBatcher(
            lambda rows: variant.loaded().score_rows(rows),
            variant.executor,
            max_batch_size=self.settings.max_batch_size,
            max_batch_delay_s=self.settings.max_batch_delay_ms / 1000,
            max_queue_rows=self.settings.max_queue_rows,
            timeout_s=self.settings.request_timeout_ms / 1000,
            observer=BatchObserver(batch=on_batch, queue_wait=queue_wait.observe),
        )

    async def _load_until_ready(self, variant: Variant) -> None:
        delay = LOAD_RETRY_SECONDS
        while variant.model is None:
            try:
                self._install(variant, await asyncio.to_thread(self.models.load, variant.alias))
            except Exception as error:
                log.warning(
                    "loading %s@%s failed (%s); retrying in %.0fs",
                    self.models.name,
                    variant.alias,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.alias_poll_seconds)

    def _install(self, variant: Variant, model: LoadedModel) -> None:
        previous = variant.model
        variant.model = model  # in-flight batches keep the object they started with
        if previous is not None:
            self.metrics.model_info.labels(variant.name, previous.name, previous.version, previous.source).set(0)
            self.metrics.model_swaps.labels(variant.name).inc()
        self.metrics.model_info.labels(variant.name, model.name, model.version, model.source).set(1)
        # long-lived objects (MLflow, pandas, the model) leave the collector's view and full collections get
        # rare: each one over them paused the loop for 100-300 ms (seen as p99 spikes)
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_GEN0_THRESHOLD, 50, 1000)
        log.info("%s serves %s version %s (%s)", variant.name, model.name, model.version, model.source)

    async def _watch_aliases(self) -> None:
        while True:
            await asyncio.sleep(self.settings.alias_poll_seconds)
            await self.check_aliases()

    async def check_aliases(self) -> None:
        """Swaps in a variant's new version (loaded and warmed first) when its alias moved."""
        for variant in self.variants.values():
            current = variant.model
            if current is None:
                continue
            try:
                version = await asyncio.to_thread(self.models.resolve, variant.alias)
                if version != current.version or current.source == "cache":
                    self._install(variant, await asyncio.to_thread(self.models.load, variant.alias, version))
            except Exception as error:
                log.warning("alias check for %s failed: %s; keeping version %s", variant.alias, error, current.version)

    async def _run_rollout(self) -> None:
        assert self.rollout is not None
        while not self.is_loaded():
            await asyncio.sleep(0.5)
        self._apply_step(self.rollout.start(time.time()))
        while self.rollout.state == "running":
            await asyncio.sleep(self.settings.rollout_eval_seconds)
            champion = self.variants[routing.CHAMPION].window.drain()
            canary = self.variants[routing.CHALLENGER].window.drain()
            step = self.rollout.evaluate(time.time(), champion, canary)
            if step.action != Action.HOLD:
                self._apply_step(step)

    def _apply_step(self, step: Any) -> None:
        log.warning("rollout %s: weight %.2f (%s)", step.action, step.weight, step.reason)
        self.metrics.rollout_steps.labels(str(step.action)).inc()
        self.metrics.rollout_weight.set(self._weight())

    # state

    def _weight(self) -> float:
        return self.rollout.weight if self.rollout is not None else self.canary_weight

    def is_loaded(self) -> bool:
        return all(variant.model is not None for variant in self.variants.values())

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {f"model_{name}": v.model is not None for name, v in self.variants.items()}
        if self.store is not None:
            checks["online_store"] = await self.store.ping()
        checks["ready"] = all(checks.values())
        return checks

    def describe(self) -> dict[str, Any]:
        variants = []
        for variant in self.variants.values():
            model = variant.model
            variants.append({
                "variant": variant.name,
                "alias": variant.alias,
                "name": self.models.name,
                "version": model.version if model else None,
                "source": model.source if model else None,
                "loaded": model is not None,
                "batched": bool(model and model.batchable),
                "inputs": list(model.spec.columns) if model and model.spec else None,
            })  # fmt: skip
        rollout = None
        if self.rollout is not None:
            rollout = {
                "state": self.rollout.state,
                "steps": list(self.rollout.steps),
                "history": [
                    {"at": s.at, "action": str(s.action), "weight": s.weight, "reason": s.reason}
                    for s in self.rollout.history
                ],
            }
        return {
            "models": variants,
            "routing": {"canary_weight": self._weight(), "shadow": self.settings.shadow},
            "rollout": rollout,
            "batching": {
                "max_batch_size": self.settings.max_batch_size,
                "max_batch_delay_ms": self.settings.max_batch_delay_ms,
            },
        }

    def route(self, tenant: str | None, entity: str | None) -> routing.Route:
        return routing.choose(
            self._weight(),
            shadow=self.settings.shadow,
            has_challenger=routing.CHALLENGER in self.variants,
            tenant=tenant,
            entity=entity,
        )

    def authorize(self, authorization: str | None) -> dict[str, Any] | None:
        """The token's claims when auth is on (raises 401/403 when the token is not good); None when it is off."""
        if self.auth is None:
            return None
        return self.auth.check(authorization)

    def guard_tenant(self, tenant: str) -> None:
        """The residency guard: 403 for a tenant the map does not know, 451 for one not servable here."""
        if self.residency is None:
            self.metrics.residency_refusals.inc()
            raise ResidencyRefused("no residency map is configured (MLPLAT_RESIDENCY_FILE): tenants are refused")
        if tenant not in self.residency.tenants:
            self.metrics.residency_refusals.inc()
            raise UnknownTenant(f"unknown tenant {tenant[:100]!r}")
        if not self.residency.may_serve(tenant, self.settings.region):
            self.metrics.residency_refusals.inc()
            raise ResidencyRefused(f"tenant {tenant[:100]!r} may not be served from region {self.settings.region}")

    # accounting

    def record(self, endpoint: str, variant: str, status: int, seconds: float) -> None:
        key = (endpoint, variant, status)
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self._request_counters[key] = self.metrics.requests.labels(endpoint, variant, str(status))
        counter.inc()
        histogram = self._latency.get((endpoint, variant))
        if histogram is None:
            histogram = self._latency[(endpoint, variant)] = self.metrics.request_latency.labels(endpoint, variant)
        histogram.observe(seconds)
        chosen = self.variants.get(variant)
        if chosen is not None and self.rollout is not None:
            # every outcome after routing counts in the chosen variant's window: 5xx (model failures, timeouts,
            # load shed by its queue) as errors, 2xx and 4xx (the caller's input) as answered requests
            chosen.window.add(seconds, status >= 500)

    # scoring

    async def _in_thread(self, variant: Variant, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(variant.executor, fn, *args), self.settings.request_timeout_ms / 1000
            )
        except TimeoutError:
            raise Timeout(f"no answer within {self.settings.request_timeout_ms:.0f} ms") from None

    async def _score_rows(self, variant: Variant, model: LoadedModel, rows: list[Row]) -> Any:
        if model.batchable and variant.batcher is not None:
            return await variant.batcher.submit(rows)
        assert model.spec is not None
        spec = model.spec
        return await self._in_thread(variant, lambda: model.pyfunc.predict(spec.frame(rows)))

    async def invocations(
        self,
        body: bytes,
        content_type: str | None,
        tenant: str | None = None,
        entity: str | None = None,
        call: Call | None = None,
    ) -> Answer:
        """MLflow's protocol: numeric JSON rows are micro-batched, anything else takes MLflow's path.

        A request that names a tenant passes the same residency guard as `/v1/predict` before anything is read
        or written; one that names none is scored and logged without a tenant claim.
        """
        call = call or Call()
        if tenant is not None:
            self.guard_tenant(tenant)
        route = self.route(tenant, entity)
        variant = self.variants[route.answer]
        call.variant = variant.name
        model = variant.loaded()
        rows = None
        if check_content_type(content_type):
            spec = model.spec if model.batchable else None
            if len(body) > OFFLOAD_BYTES:
                rows = await asyncio.to_thread(_invocation_rows, body, spec)
            else:
                rows = _invocation_rows(body, spec)
        if rows is None:
            return Answer(await self._in_thread(variant, model.invoke_mlflow, body, content_type), variant.name)
        predictions = await self._score_rows(variant, model, rows)
        if route.shadow is not None:
            self._shadow(route.shadow, rows, predictions)
        values = predictions.tolist()
        if self.prediction_log is not None:
            assert model.spec is not None
            self.prediction_log.offer(
                request_id=uuid.uuid4().hex, tenant=tenant, caller=call.caller, model_version=model.version,
                variant=variant.name, columns=model.spec.columns, rows=rows, predictions=values,
            )  # fmt: skip
        if len(values) > OFFLOAD_BYTES // 16:
            return Answer(await asyncio.to_thread(orjson.dumps, {"predictions": values}), variant.name)
        return Answer(orjson.dumps({"predictions": values}), variant.name)

    def _shadow(self, name: str, rows: list[Row], answered: np.ndarray) -> None:
        shadow = self.variants.get(name)
        if shadow is None or shadow.model is None or not shadow.model.batchable or shadow.batcher is None:
            return
        if shadow.batcher.queued_rows > self.settings.max_queue_rows // 2:
            return  # shed shadow work first: it must never slow the answers
        self._spawn(self._shadow_score(shadow, rows, answered))

    async def _shadow_score(self, shadow: Variant, rows: list[Row], answered: np.ndarray) -> None:
        assert shadow.batcher is not None
        try:
            challenger = await shadow.batcher.submit(rows)
            differences = np.abs(np.asarray(answered, dtype=float) - np.asarray(challenger, dtype=float))
        except (ServingError, ValueError, TypeError):
            self.metrics.shadow_errors.inc()
            return
        for difference in differences.ravel().tolist():
            self.metrics.shadow_difference.observe(difference)

    async def predict(self, body: bytes, call: Call | None = None) -> Answer:
        """`/v1/predict`: residency guard, one online-store round trip, then the batched model."""
        call = call or Call()
        payload = await asyncio.to_thread(decode_json, body) if len(body) > OFFLOAD_BYTES else decode_json(body)
        tenant, entity_ids, overrides = _predict_request(payload)
        self.guard_tenant(tenant)
        if self.store is None:
            raise FeatureStoreUnavailable(
                "no online store configured (MLPLAT_REDIS_URL is unset): /v1/predict cannot fetch features",
                retry_after=60,
            )
        route = self.route(tenant, entity_ids[0])
        variant = self.variants[route.answer]
        call.variant = variant.name
        model = variant.loaded()
        if model.spec is None:
            raise InvalidInput("this model has no numeric column signature; call /invocations instead")
        started = time.perf_counter()
        try:
            fetched = await self.store.fetch(tenant, entity_ids, model.spec.columns, now=time.time())
        except FeatureStoreUnavailable:
            self.metrics.feature_store_errors.inc()
            raise
        self.metrics.feature_latency.observe(time.perf_counter() - started)
        self.metrics.feature_missing.inc(len(fetched.missing_entities))
        self.metrics.feature_stale.inc(len(fetched.stale_entities))
        rows, positions, unusable = _feature_rows(model.spec, entity_ids, fetched, overrides)
        predictions: list[Any] = [None] * len(entity_ids)
        if rows:
            scored = await self._score_rows(variant, model, rows)
            values = np.asarray(scored).tolist()
            for position, value in zip(positions, values, strict=True):
                predictions[position] = value
            if route.shadow is not None:
                self._shadow(route.shadow, rows, np.asarray(scored))
        request_id = uuid.uuid4().hex
        if rows and self.prediction_log is not None:
            self.prediction_log.offer(
                request_id=request_id, tenant=tenant, caller=call.caller, model_version=model.version,
                variant=variant.name, columns=model.spec.columns, rows=rows,
                predictions=[predictions[p] for p in positions],
            )  # fmt: skip
        answer = {
            "predictions": predictions,
            "model": {"name": model.name, "version": model.version, "variant": variant.name},
            "request_id": request_id,
            "missing_entities": fetched.missing_entities + unusable,
            "stale_entities": fetched.stale_entities,
            "missing_features": fetched.missing_features,
        }
        return Answer(orjson.dumps(answer), variant.name)


def _executor(name: str, threads: int) -> ThreadPoolExecutor:
    # OpenMP thread limits are per calling thread: set them in the model thread itself
    return ThreadPoolExecutor(
        max_workers=1,
        thread_name_prefix=f"model-{name}",
        initializer=_limit_native_threads,
        initargs=(threads,),
    )


def _limit_native_threads(threads: int) -> None:
    """Caps OpenMP/BLAS threads: on a few cores, a model spinning threads starves the event loop."""
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)


def _decode_json_like_mlflow(body: bytes) -> Any:
    """orjson for speed; the stdlib for what only it accepts (NaN literals, huge integers), as MLflow."""
    try:
        return decode_json(body)
    except InvalidJson:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidJson(f"The body is not valid JSON: {error}") from None
        except RecursionError:  # orjson stops at 1,024 levels; the stdlib would recurse until the stack runs out
            raise InvalidJson("The body is not valid JSON: nested too deeply") from None


def _invocation_rows(body: bytes, spec: InputSpec | None) -> list[Row] | None:
    """The body's numeric rows for the batched path, or None for MLflow's path (what MLflow itself parses)."""
    payload = _decode_json_like_mlflow(body)
    return fast_rows(payload, spec) if spec is not None else None


def _predict_request(payload: Any) -> tuple[str, list[str], dict[str, Any]]:
    if not isinstance(payload, dict):
        raise InvalidInput('expected {"tenant": ..., "entity_ids": [...], "features": {...}}')
    tenant = payload.get("tenant")
    entity_ids = payload.get("entity_ids")
    overrides = payload.get("features") or {}
    if not isinstance(tenant, str) or not tenant:
        raise InvalidInput("`tenant` must be a non-empty string")
    if not isinstance(entity_ids, list) or not entity_ids or not all(isinstance(e, str) and e for e in entity_ids):
        raise InvalidInput("`entity_ids` must be a non-empty list of strings")
    if len(entity_ids) > MAX_ENTITIES:
        raise InvalidInput(f"at most {MAX_ENTITIES} entity_ids per request")
    if not isinstance(overrides, dict):
        raise InvalidInput("`features` must be an object: {feature: value} or {entity_id: {feature: value}}")
    for entity_id in entity_ids:
        own = overrides.get(entity_id)
        if own is not None and not isinstance(own, dict):
            raise InvalidInput(
                f"`features.{entity_id[:100]}` names an entity of the request: it must be an object "
                "{feature: value}, not " + type(own).__name__
            )
    return tenant, entity_ids, overrides


def _feature_rows(
    spec: InputSpec, entity_ids: list[str], fetched: FeatureFetch, overrides: dict[str, Any]
) -> tuple[list[Row], list[int], list[str]]:
    """Model rows for entities that have features (overrides applied); missing float features are NaN."""
    shared = {k: v for k, v in overrides.items() if not isinstance(v, dict)}
    rows: list[Row] = []
    positions: list[int] = []
    unusable: list[str] = []
    for position, (entity_id, values) in enumerate(zip(entity_ids, fetched.values, strict=True)):
        if values is None:
            continue
        merged = {**values, **shared, **(overrides.get(entity_id) or {})}
        row = _typed_row(spec, merged)
        if row is None:
            unusable.append(entity_id)
            continue
        rows.append(row)
        positions.append(position)
    return rows, positions, unusable


def _typed_row(spec: InputSpec, values: dict[str, Any]) -> list[float | int] | None:
    row: list[float | int] = []
    for name, integer in zip(spec.columns, spec.integer, strict=True):
        value = values.get(name)
        try:
            number = float(value) if value is not None else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if integer:
            if math.isnan(number) or not number.is_integer():
                return None
            row.append(int(number))
        else:
            row.append(number)
    return row
