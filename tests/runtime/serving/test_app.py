"""The HTTP surface against a real MLflow registry: answers identical to MLflow's scoring code, typed 4xx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.serving.conftest import FEATURES, REPO_ROOT, Registered, Serving, training_frame

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlflow_scoring(registered: Registered) -> Any:
    """MLflow's own `/invocations` handling for the same champion, called in-process."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(f"models:/{registered.name}@champion")
    schema = model.metadata.get_input_schema()

    def score(body: bytes, content_type: str) -> tuple[int, Any]:
        result = scoring_server.invocations(body, content_type, model, schema)
        return result.status, json.loads(result.response) if result.status == 200 else result.response

    return score


def _frame(rows: int, seed: int = 7) -> Any:
    return training_frame(seed=seed, rows=rows)[0]


def _split(frame: Any, **options: Any) -> bytes:
    return json.dumps({"dataframe_split": frame.to_dict(orient="split", **options)}).encode()


def _payloads() -> dict[str, tuple[bytes, str]]:
    one, three = _frame(1), _frame(3)
    reordered = three[list(reversed(FEATURES))]
    ints = [[1, 2, 3, 4, 5, 6, 7, 8]]
    with_null = three.astype(object).copy()
    with_null.iloc[1, 2] = None
    as_json = "application/json"
    return {
        "split_one": (_split(one, index=False), as_json),
        "split_three": (_split(three, index=False), as_json),
        "split_reordered": (
            _split(reordered, index=False),
            as_json,
        ),
        "split_ints": (
            json.dumps({"dataframe_split": {"columns": FEATURES, "data": ints}}).encode(),
            as_json,
        ),
        "split_with_index": (_split(three), as_json),
        "records": (json.dumps({"dataframe_records": three.to_dict(orient="records")}).encode(), as_json),
        "instances": (json.dumps({"instances": three.to_dict(orient="records")}).encode(), as_json),
        "inputs_columnar": (json.dumps({"inputs": three.to_dict(orient="list")}).encode(), as_json),
        "inputs_records": (json.dumps({"inputs": three.to_dict(orient="records")}).encode(), as_json),
        "null_value": (
            _split(with_null, index=False),
            as_json,
        ),
        "charset": (
            json.dumps({"dataframe_records": one.to_dict(orient="records")}).encode(),
            f"{as_json}; charset=utf-8",
        ),
        "csv": (three.to_csv(index=False).encode(), "text/csv"),
    }


@pytest.mark.parametrize("case", sorted(_payloads()))
def test_invocations_answer_exactly_like_mlflow(case: str, serving: Serving, mlflow_scoring: Any) -> None:
    body, content_type = _payloads()[case]
    expected_status, expected = mlflow_scoring(body, content_type)
    assert expected_status == 200
    with serving.client() as client:
        response = client.post("/invocations", content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert response.json() == expected


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (
            b'{"dataframe_split": {"columns": ["f0"], "data": [[1.0]]}}',
            "application/json",
            422,
            "invalid_input",
        ),
        (
            json.dumps({"dataframe_split": {"columns": FEATURES, "data": [["x"] * 8]}}).encode(),
            "application/json",
            422,
            "invalid_input",
        ),
        (b'{"unknown_format": []}', "application/json", 422, "invalid_input"),
        (b"[1, 2, 3]", "application/json", 422, "invalid_input"),
        (b"f0\n1", "text/plain", 415, "unsupported_media_type"),
        (b"{}", "application/json; charset=latin-1", 415, "unsupported_media_type"),
    ],
)
def test_bad_payloads_are_typed_4xx(serving: Serving, body: bytes, content_type: str, status: int, code: str) -> None:
    with serving.client() as client:
        response = client.post("/invocations", content=body, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert _error(response)["code"] == code


def test_huge_body_is_413(serving: Serving) -> None:
    with serving.client() as client:
        response = client.post(
            "/invocations", content=b" " * (9 * 1024 * 1024), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"


def test_health_models_and_metrics(serving: Serving, registered: Registered) -> None:
    with serving.client() as client:
        assert client.get("/health/live").status_code == 200
        ready = client.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        models = client.get("/v1/models").json()
        assert models["models"][0]["version"] == registered.champion_version
        assert models["models"][0]["batched"] is True
        assert models["models"][0]["inputs"] == FEATURES
        client.post("/invocations", json={"dataframe_records": [dict.fromkeys(FEATURES, 0.5)]})
        metrics = client.get("/metrics").text
        assert 'mlplat_requests_total{endpoint="/invocations",status="200",variant="champion"}' in metrics
        assert "mlplat_batch_size_rows_bucket" in metrics
        assert "mlplat_inference_total" in metrics and "mlplat_execution_total" in metrics
        assert (
            f'mlplat_model_info{{model="{registered.name}",source="registry",variant="champion",'
            f'version="{registered.champion_version}"}} 1.0' in metrics
        )
        missing = client.get("/nope")
        assert missing.status_code == 404 and _error(missing)["code"] == "not_found"
        wrong_method = client.get("/invocations")
        assert wrong_method.status_code == 405


def test_predict_without_online_store_is_clear_503(registered: Registered) -> None:
    import asyncio

    from runtime.serving.errors import FeatureStoreUnavailable
    from runtime.serving.service import ServingState
    from runtime.serving.settings import ServeSettings

    settings = ServeSettings(
        model_name=registered.name, region="eu-west-1", residency_file=REPO_ROOT / "stacks" / "platform.yaml"
    )
    state = ServingState(settings)
    with pytest.raises(FeatureStoreUnavailable) as refused:
        asyncio.run(state.predict(b'{"tenant": "acme-eu", "entity_ids": ["c-1"]}'))
    assert refused.value.status == 503 and "MLPLAT_REDIS_URL" in refused.value.message
    assert refused.value.headers() == [(b"retry-after", b"60")]


def test_predictions_are_logged_in_the_shared_layout(serving: Serving, prediction_log_dir: Path) -> None:
    import time

    import pyarrow.parquet as pq

    with serving.client() as client:
        for _ in range(3):
            assert client.post("/invocations", json={"dataframe_records": [dict.fromkeys(FEATURES, 0.25)]}).is_success
    deadline = time.monotonic() + 10
    files: list[Path] = []
    while time.monotonic() < deadline and not files:
        files = list(prediction_log_dir.glob("model=churn/date=*/hour=*/part-*.parquet"))
        time.sleep(0.1)
    assert files
    table = pq.read_table(files[0])
    assert table.column_names[:7] == ["request_id", "ts", "tenant", "model_name", "model_version", "variant", "caller"]
    assert table.column_names[7:] == [*FEATURES, "prediction"]


def test_service_listens_only_where_configured_as_this_user(serving: Serving) -> None:
    import getpass

    import testinfra

    host = testinfra.get_host("local://")
    port = serving.process.port
    assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    process = host.process.get(pid=serving.process.pid)
    assert process.user == getpass.getuser()
    assert "runtime.serving" in process.args
