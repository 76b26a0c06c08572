"""`/v1/predict` with the real Redis: one-round-trip fetch, missing/stale reported, residency 451 before any
read, and a Redis outage answered as a clear degraded 503 that recovers when Redis returns."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
import redis

from runtime.serving.features import decode_fetch, entity_key, write_entity
from tests.runtime.serving.conftest import FEATURES, RedisProcess, Registered, Serving

pytestmark = pytest.mark.slow


def test_key_contract() -> None:
    assert entity_key("acme-eu", "c-1") == "mlplat:acme-eu:c-1"
    key, mapping = write_entity("acme-eu", "c-1", {"f0": 1.5}, 100.0)
    assert key == "mlplat:acme-eu:c-1" and mapping == {"f0": 1.5, "_ts": 100.0}


def test_decode_reports_missing_stale_and_absent_features() -> None:
    replies = [[b"1.5", b"2", b"1000"], [None, None, None], [b"3", None, b"10"], [b"4", b"5", None]]
    fetched = decode_fetch(["a", "b", "c", "d"], ["x", "y"], replies, now=1100.0, max_age_seconds=500)
    assert fetched.values == [{"x": 1.5, "y": 2.0}, None, {"x": 3.0}, {"x": 4.0, "y": 5.0}]
    assert fetched.missing_entities == ["b"]
    assert fetched.stale_entities == ["c", "d"]
    assert fetched.missing_features == {"c": ["y"]}


def _rows(seed: int, count: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(count, len(FEATURES))), columns=FEATURES)


def _write(url: str, tenant: str, frame: pd.DataFrame, written_at: float, prefix: str = "c") -> list[str]:
    client = redis.Redis.from_url(url)
    ids = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        key, mapping = write_entity(tenant, f"{prefix}-{i}", row, written_at)
        client.hset(key, mapping=mapping)
        ids.append(f"{prefix}-{i}")
    client.close()
    return ids


def _hmget_calls(url: str) -> int:
    stats: dict[str, Any] = redis.Redis.from_url(url).info("commandstats")
    return int(stats.get("cmdstat_hmget", {}).get("calls", 0))


def test_predict_fetches_features_and_reports_missing_and_stale(
    serving: Serving, store_redis: RedisProcess, registered: Registered
) -> None:
    frame = _rows(11, 32)
    ids = _write(store_redis.url, "acme-eu", frame, time.time())
    _write(store_redis.url, "acme-eu", frame.iloc[:1], time.time() - 7200, prefix="old")
    before = _hmget_calls(store_redis.url)
    with serving.client() as client:
        response = client.post("/v1/predict", json={"tenant": "acme-eu", "entity_ids": [*ids, "nobody", "old-0"]})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = registered.champion.predict(frame)  # type: ignore[attr-defined]
    assert body["predictions"][:32] == pytest.approx(expected.tolist(), rel=1e-12)
    assert body["predictions"][32] is None
    assert body["missing_entities"] == ["nobody"] and body["stale_entities"] == ["old-0"]
    assert body["model"] == {
        "name": registered.name,
        "version": registered.champion_version,
        "variant": "champion",
    }
    assert len(body["request_id"]) == 32
    assert _hmget_calls(store_redis.url) - before == 34  # one pipeline carrying one HMGET per entity


def test_overrides_replace_store_values(serving: Serving, store_redis: RedisProcess, registered: Registered) -> None:
    frame = _rows(12, 2)
    ids = _write(store_redis.url, "acme-eu", frame, time.time(), prefix="ov")
    with serving.client() as client:
        body = client.post(
            "/v1/predict",
            json={"tenant": "acme-eu", "entity_ids": ids, "features": {"f0": 3.0, "ov-1": {"f1": -2.0}}},
        ).json()
    frame["f0"] = 3.0
    frame.loc[1, "f1"] = -2.0
    assert body["predictions"] == pytest.approx(registered.champion.predict(frame).tolist(), rel=1e-12)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("tenant", "status", "code"),
    [
        ("globex-us", 451, "residency_refused"),
        ("initech-sg", 451, "residency_refused"),
        ("unknown-tenant", 403, "unknown_tenant"),  # not in the residency map: a distinct refusal
    ],
)
def test_residency_refuses_before_any_store_read(
    serving: Serving, store_redis: RedisProcess, tenant: str, status: int, code: str
) -> None:
    before = _hmget_calls(store_redis.url)
    with serving.client() as client:
        response = client.post("/v1/predict", json={"tenant": tenant, "entity_ids": ["c-0"]})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert _hmget_calls(store_redis.url) == before


@pytest.mark.parametrize(
    "payload",
    [
        {"entity_ids": ["c-0"]},
        {"tenant": "acme-eu", "entity_ids": []},
        {"tenant": "acme-eu", "entity_ids": [1]},
        {"tenant": "acme-eu", "entity_ids": ["c-0"], "features": [1]},
        ["not", "an", "object"],
    ],
)
def test_bad_predict_payloads_are_422(serving: Serving, payload: Any) -> None:
    with serving.client() as client:
        response = client.post("/v1/predict", json=payload)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


def test_redis_outage_is_degraded_503_and_recovers(serving: Serving, store_redis: RedisProcess) -> None:
    ids = _write(store_redis.url, "acme-eu", _rows(13, 4), time.time(), prefix="out")
    payload = {"tenant": "acme-eu", "entity_ids": ids}
    with serving.client() as client:
        assert client.post("/v1/predict", json=payload).status_code == 200
        store_redis.stop()
        try:
            down = client.post("/v1/predict", json=payload)
            assert down.status_code == 503
            assert down.json()["error"]["code"] == "feature_store_unavailable"
            assert "retry-after" in down.headers
            assert client.get("/health/ready").status_code == 503
            invocations = client.post("/invocations", json={"dataframe_records": [dict.fromkeys(FEATURES, 0.1)]})
            assert invocations.status_code == 200  # scoring without features keeps working
        finally:
            store_redis.start()
        ids = _write(store_redis.url, "acme-eu", _rows(13, 4), time.time(), prefix="out")
        deadline = time.monotonic() + 10
        status = 0
        while time.monotonic() < deadline and status != 200:
            status = client.post("/v1/predict", json=payload).status_code
            time.sleep(0.1)
        assert status == 200
        assert client.get("/health/ready").status_code == 200
        metrics = client.get("/metrics").text
    errors = [
        float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("mlplat_feature_store_errors_total")
    ]
    assert errors and errors[0] >= 1  # the outage's failed round trip(s) were counted


@pytest.mark.parametrize("mode", ["script", "pipeline"])
def test_online_store_fetch_modes_agree(store_redis: RedisProcess, mode: str) -> None:
    import asyncio

    from runtime.serving.features import OnlineStore

    frame = _rows(14, 3)
    ids = _write(store_redis.url, "acme-eu", frame, 1000.0, prefix="mode")

    async def fetch() -> Any:
        store = OnlineStore(store_redis.url, mode=mode, max_age_seconds=10)
        try:
            return await store.fetch("acme-eu", [*ids, "none"], FEATURES, now=1005.0)
        finally:
            await store.close()

    result = asyncio.run(fetch())
    assert result.missing_entities == ["none"] and result.stale_entities == []
    assert result.values[:3] == frame.to_dict(orient="records")


def test_concurrent_fetches_share_round_trips_and_keep_their_own_entities(store_redis: RedisProcess) -> None:
    import asyncio

    from runtime.serving.features import OnlineStore

    frames = {tenant: _rows(seed, 4) for seed, tenant in enumerate(["acme-eu", "bosch-de"], start=40)}
    ids = {tenant: _write(store_redis.url, tenant, frame, 1000.0, prefix="co") for tenant, frame in frames.items()}

    def script_calls() -> int:
        stats: dict[str, Any] = redis.Redis.from_url(store_redis.url).info("commandstats")
        return sum(int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval"))

    async def fetch_all() -> list[Any]:
        store = OnlineStore(store_redis.url, max_age_seconds=10)
        try:
            await store.fetch("acme-eu", ids["acme-eu"], FEATURES, now=1005.0)  # loads the script
            calls = [
                store.fetch(tenant, ids[tenant][i : i + 1], FEATURES, now=1005.0)
                for _ in range(10)
                for tenant in frames
                for i in range(4)
            ]
            return await asyncio.gather(*calls)
        finally:
            await store.close()

    before = script_calls()
    results = asyncio.run(fetch_all())
    round_trips = script_calls() - before - 1
    assert len(results) == 80
    position = 0
    for _ in range(10):
        for frame in frames.values():
            for i in range(4):
                assert results[position].values == [frame.iloc[i].to_dict()]
                position += 1
    assert round_trips <= 3, f"80 concurrent fetches took {round_trips} round trips"


def test_one_tenants_flood_neither_makes_round_trips_heavy_nor_starves_another(store_redis: RedisProcess) -> None:
    """Issue 20 #3: 64 x 1,024 ids of one tenant were coalesced into single 12,289-key EVALSHA calls that took
    hundreds of ms, and another tenant's request waited behind them (and failed 503)."""
    import asyncio

    from runtime.serving.features import OnlineStore

    flood_ids = _write(store_redis.url, "bosch-de", _rows(50, 64), 1000.0, prefix="flood")
    acme = _rows(51, 2)
    acme_ids = _write(store_redis.url, "acme-eu", acme, 1000.0, prefix="calm")
    done: list[str] = []

    def script_calls() -> int:
        stats: dict[str, Any] = redis.Redis.from_url(store_redis.url).info("commandstats")
        return sum(int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval"))

    async def fetch(store: OnlineStore, tenant: str, ids: list[str]) -> Any:
        result = await store.fetch(tenant, ids, FEATURES, now=1005.0)
        done.append(tenant)
        return result

    async def main() -> Any:
        store = OnlineStore(store_redis.url, max_age_seconds=10, max_keys_per_trip=256)
        try:
            await store.fetch("acme-eu", acme_ids, FEATURES, now=1005.0)  # loads the script
            flood = [fetch(store, "bosch-de", (flood_ids * 16)[:1024]) for _ in range(16)]
            calm = fetch(store, "acme-eu", acme_ids)
            results = await asyncio.gather(*flood, calm)
            return results[-1]
        finally:
            await store.close()

    before = script_calls()
    calm = asyncio.run(main())
    assert calm.values == acme.to_dict(orient="records")
    assert script_calls() - before - 1 >= 16  # no round trip carried more than one 1,024-key request
    assert done.index("acme-eu") <= 2, f"acme-eu answered after {done.index('acme-eu')} bosch-de requests"
