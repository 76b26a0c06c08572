"""Champion/challenger against the real registry: sticky canary (behind bearer auth), shadow that never
answers, alias moved under traffic swapped in place with zero failed requests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from runtime.serving.routing import CHALLENGER, choose
from tests.runtime.serving.conftest import FEATURES, Registered, ServeFactory, Serving, training_frame
from tests.runtime.serving.test_auth import SECRET, hs256_token

pytestmark = pytest.mark.slow


def _payload(frame) -> dict:  # type: ignore[no-untyped-def]
    return {"dataframe_split": frame.to_dict(orient="split", index=False)}


def test_canary_is_sticky_per_tenant_and_entity(
    start_serving: ServeFactory, registered: Registered, tmp_path: Path
) -> None:
    key = tmp_path / "jwt-secret"
    key.write_text(SECRET)
    server = start_serving(challenger_alias="challenger", canary_weight=0.5, auth_key_file=key)
    frame = training_frame(seed=21, rows=1)[0]
    champion = registered.champion.predict(frame).tolist()  # type: ignore[attr-defined]
    challenger = registered.challenger.predict(frame).tolist()  # type: ignore[attr-defined]
    assert champion != challenger
    seen = set()
    token = f"Bearer {hs256_token()}"
    with server.client() as client:
        refused = client.post("/invocations", json=_payload(frame))
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert client.get("/health/ready").status_code == 200  # health and metrics stay open
        for i in range(30):
            headers = {"x-mlplat-tenant": "acme-eu", "x-mlplat-entity": f"e-{i}", "authorization": token}
            expected_variant = choose(0.5, shadow=False, has_challenger=True, tenant="acme-eu", entity=f"e-{i}").answer
            for _ in range(2):
                answer = client.post("/invocations", json=_payload(frame), headers=headers).json()["predictions"]
                assert answer == (challenger if expected_variant == CHALLENGER else champion)
            seen.add(expected_variant)
        metrics = client.get("/metrics").text
    assert len(seen) == 2
    assert 'variant="challenger"' in metrics and "mlplat_rollout_weight_ratio 0.5" in metrics


@pytest.fixture(scope="module")
def shadowed(start_serving: ServeFactory) -> Serving:
    return start_serving(challenger_alias="challenger", shadow="true", alias_poll_seconds=0.5)


def test_shadow_scores_copies_and_never_answers(shadowed: Serving, registered: Registered) -> None:
    frame = training_frame(seed=22, rows=3)[0]
    with shadowed.client() as client:
        for _ in range(20):
            answer = client.post("/invocations", json=_payload(frame)).json()["predictions"]
            assert answer == registered.champion.predict(frame).tolist()  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        count = 0.0
        while time.monotonic() < deadline and count < 60:
            for line in client.get("/metrics").text.splitlines():
                if line.startswith("mlplat_shadow_difference_count"):
                    count = float(line.split()[-1])
            time.sleep(0.05)
    assert count == 60  # 20 requests x 3 rows compared


def test_alias_move_under_traffic_swaps_with_zero_failures(shadowed: Serving, registered: Registered) -> None:
    from mlflow import MlflowClient

    frame = training_frame(seed=23, rows=2)[0]
    statuses: list[int] = []
    answers: list[list[float]] = []
    stop = threading.Event()

    def traffic() -> None:
        with shadowed.client() as client:
            for _ in range(5000):  # bounded in count and time
                if stop.is_set():
                    return
                response = client.post("/invocations", json=_payload(frame))
                statuses.append(response.status_code)
                if response.status_code == 200:
                    answers.append(response.json()["predictions"])

    registry = MlflowClient(registered.tracking_uri)
    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        time.sleep(0.3)
        registry.set_registered_model_alias(registered.name, "champion", registered.challenger_version)
        deadline = time.monotonic() + 15
        version = None
        with shadowed.client() as client:
            while time.monotonic() < deadline and version != registered.challenger_version:
                version = client.get("/v1/models").json()["models"][0]["version"]
                time.sleep(0.1)
        time.sleep(0.3)
    finally:
        stop.set()
        sender.join(timeout=20)
        registry.set_registered_model_alias(registered.name, "champion", registered.champion_version)
    assert version == registered.challenger_version
    assert statuses and set(statuses) == {200}
    old = registered.champion.predict(frame).tolist()  # type: ignore[attr-defined]
    new = registered.challenger.predict(frame).tolist()  # type: ignore[attr-defined]
    assert answers[0] == old and answers[-1] == new
    assert all(answer in (old, new) for answer in answers)
    with shadowed.client() as client:
        assert "mlplat_model_swaps_total" in client.get("/metrics").text
    assert FEATURES  # the frame has the model's columns
