"""Champion/challenger against the real registry: sticky canary (behind bearer auth), shadow that never
answers, alias moved under traffic swapped in place with zero failed requests, and a failing canary rolled back
by the real requests it fails."""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path

import pytest

from runtime.serving.routing import CHALLENGER, choose
from tests.runtime.serving.conftest import (
    FEATURES,
    MODEL_NAME,
    REPO_ROOT,
    Registered,
    ServeFactory,
    Serving,
    training_frame,
)
from tests.runtime.serving.test_auth import SECRET, hs256_token

pytestmark = pytest.mark.slow


def _payload(frame) -> dict:  # type: ignore[no-untyped-def]
    return {"dataframe_split": frame.to_dict(orient="split", index=False)}


def test_canary_is_sticky_per_tenant_and_entity(
    start_serving: ServeFactory, registered: Registered, tmp_path: Path
) -> None:
    key = tmp_path / "jwt-secret"
    key.write_text(SECRET)
    server = start_serving(
        challenger_alias="challenger",
        canary_weight=0.5,
        auth_key_file=key,
        region="eu-west-1",  # the tenant header passes the residency guard
        residency_file=REPO_ROOT / "stacks" / "platform.yaml",
    )
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
    old = registered.champion.predict(frame).tolist()  # type: ignore[attr-defined]
    new = registered.challenger.predict(frame).tolist()  # type: ignore[attr-defined]
    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        _wait_for(lambda: len(answers) >= 20)  # traffic is flowing before the alias moves
        registry.set_registered_model_alias(registered.name, "champion", registered.challenger_version)
        version = None
        with shadowed.client() as client:

            def swapped() -> bool:
                nonlocal version
                version = client.get("/v1/models").json()["models"][0]["version"]
                return version == registered.challenger_version

            _wait_for(swapped, limit_s=15)
        seen = len(answers)
        _wait_for(lambda: len(answers) >= seen + 20 and answers[-1] == new)  # traffic flows after the swap
    finally:
        stop.set()
        sender.join(timeout=20)
        registry.set_registered_model_alias(registered.name, "champion", registered.champion_version)
    assert version == registered.challenger_version
    assert statuses and set(statuses) == {200}
    assert answers[0] == old and answers[-1] == new
    assert all(answer in (old, new) for answer in answers)
    with shadowed.client() as client:
        assert 'mlplat_model_swaps_total{variant="champion"} 1.0' in client.get("/metrics").text


def _wait_for(condition: object, limit_s: float = 10.0) -> None:
    """Bounded polling instead of fixed sleeps: returns as soon as `condition()` holds, fails after `limit_s`."""
    deadline = time.monotonic() + limit_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"condition not met within {limit_s} s"
        time.sleep(0.02)


POISON = 1000.0
FAILING_MODEL = f"""
import mlflow
import numpy as np


class FailingChallenger(mlflow.pyfunc.PythonModel):
    \"\"\"Scores like a model until a row carries f0 == {POISON}, which the champion scores fine.\"\"\"

    def predict(self, context, model_input, params=None):
        if (model_input["f0"] == {POISON}).any():
            raise RuntimeError("challenger bug")
        return model_input["f0"].to_numpy() * 0.5


mlflow.models.set_model(FailingChallenger())
"""


@pytest.fixture(scope="module")
def failing_challenger(registered: Registered, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A version of the model, aliased `failing`, that raises on half of the requests the tests send."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    code = tmp_path_factory.mktemp("failing") / "failing_model.py"
    code.write_text(textwrap.dedent(FAILING_MODEL))
    frame = training_frame(seed=24, rows=5)[0]
    mlflow.set_tracking_uri(registered.tracking_uri)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(code), registered_model_name=MODEL_NAME,
            signature=infer_signature(frame, frame["f0"].to_numpy()), pip_requirements=["numpy"],
        )  # fmt: skip
    version = str(info.registered_model_version)
    MlflowClient(registered.tracking_uri).set_registered_model_alias(MODEL_NAME, "failing", version)
    return version


def test_failing_canary_is_rolled_back(start_serving: ServeFactory, failing_challenger: str) -> None:
    """Issue 20 #1: 5xx were counted as variant "none", so a challenger failing half its calls was promoted
    "with healthy gates". Real requests, half of them carrying the row the challenger fails on."""
    server = start_serving(
        challenger_alias="failing",
        rollout_enabled="true",
        rollout_steps="0.5,1.0",
        rollout_soak_seconds=1,
        rollout_min_requests=20,
        rollout_eval_seconds=0.5,
    )
    good = {"dataframe_records": [dict.fromkeys(FEATURES, 0.5)]}
    poisoned = {"dataframe_records": [{**dict.fromkeys(FEATURES, 0.5), "f0": POISON}]}
    statuses: dict[tuple[str, int], int] = {}
    with server.client() as client:
        rollout = client.get("/v1/models").json()["rollout"]
        for i in range(3000):  # bounded in count and time: until the controller decides
            headers = {"x-mlplat-entity": f"e-{i % 200}"}
            response = client.post("/invocations", json=poisoned if i % 2 else good, headers=headers)
            variant = CHALLENGER if response.status_code != 200 or response.json()["predictions"] == [0.25] else "c"
            statuses[(variant, response.status_code)] = statuses.get((variant, response.status_code), 0) + 1
            if i % 20 == 0:
                rollout = client.get("/v1/models").json()["rollout"]
                if rollout["state"] != "running" and rollout["history"]:
                    break
        metrics = client.get("/metrics").text
    assert rollout["state"] == "rolled_back", rollout
    assert "error rate" in rollout["history"][-1]["reason"]
    assert 'mlplat_requests_total{endpoint="/invocations",status="500",variant="challenger"}' in metrics
    assert 'status="500",variant="none"' not in metrics
    assert statuses.get(("c", 500), 0) == 0  # the champion answered every poisoned row it was sent
