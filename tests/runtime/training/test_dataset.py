"""The point-in-time training set: no leakage, tenant isolation, and residency refused before any read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import boto3
import pandas as pd
import pyarrow as pa
import pytest

from mlplat.dev import training_data
from runtime.training import cli
from runtime.training.config import parse_config
from runtime.training.dataset import FEATURE_TIME, build_training_set, point_in_time_join
from runtime.training.errors import TenantRefused
from tests.runtime.training.conftest import RESIDENCY_FILE, RecordingMoto, write_config

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _config(**overrides: object) -> object:
    data = training_data.training_config("leak", "features/", "labels/")
    data["features"] = ["x"]
    data["categorical"] = []
    data["slices"] = ["tenant"]
    data["validation"] = {"min_rows": 1}
    data["data"] = {**data["data"], "window_days": None, "start": "2026-01-01", "end": "2026-12-31"}
    data["residency_file"] = str(RESIDENCY_FILE)
    data.update(overrides)
    return parse_config(data, "test.yaml")


def test_a_feature_written_after_the_label_never_reaches_its_row() -> None:
    config = _config()
    features = pa.Table.from_pandas(
        pd.DataFrame(
            {
                "customer_id": ["c1", "c1", "c1", "c1", "c2"],
                "tenant": ["acme-eu", "acme-eu", "acme-eu", "bosch-de", "acme-eu"],
                "event_time": [T0, T0 + timedelta(days=2), T0 + timedelta(days=5), T0 + timedelta(days=3), T0],
                # day 5 is after the label (leak); bosch-de's c1 is another customer with the same id
                "x": [1.0, 2.0, 999.0, 555.0, 7.0],
            }
        )
    )
    labels = pa.Table.from_pandas(
        pd.DataFrame(
            {
                "customer_id": ["c1", "c1", "c2"],
                "tenant": ["acme-eu", "acme-eu", "acme-eu"],
                "label_time": [T0 + timedelta(days=4), T0 + timedelta(days=2), T0 - timedelta(days=1)],
                "churned": [1, 0, 1],
            }
        )
    )
    joined = point_in_time_join(features, labels, config, T0 - timedelta(days=30), T0 + timedelta(days=30))
    rows = joined.to_pandas().set_index("label_time")
    day4 = rows.loc[pd.Timestamp(T0 + timedelta(days=4))]
    assert day4["x"] == 2.0  # the day-2 value: not day 5's 999 (later), not bosch-de's 555 (other tenant)
    assert day4[FEATURE_TIME] == pd.Timestamp(T0 + timedelta(days=2))
    assert rows.loc[pd.Timestamp(T0 + timedelta(days=2))]["x"] == 2.0  # a value written at the label instant counts
    assert pd.isna(rows.loc[pd.Timestamp(T0 - timedelta(days=1))]["x"])  # nothing existed yet: null, not a guess
    assert 999.0 not in joined["x"].to_pylist()


def test_the_window_keeps_only_labels_inside_it() -> None:
    config = _config()
    features = pa.table({"customer_id": ["c1"], "tenant": ["acme-eu"], "event_time": [T0], "x": [1.0]})
    labels = pa.table(
        {
            "customer_id": ["c1", "c1", "c1"],
            "tenant": ["acme-eu"] * 3,
            "label_time": [T0, T0 + timedelta(days=10), T0 + timedelta(days=20)],
            "churned": [0, 1, 0],
        }
    )
    joined = point_in_time_join(features, labels, config, T0 + timedelta(days=5), T0 + timedelta(days=20))
    assert joined["label_time"].to_pylist() == [T0 + timedelta(days=10)]


def test_the_reader_keeps_to_the_named_tenants(offline_history: tuple[str, str]) -> None:
    features, labels = offline_history
    config = parse_config(
        {**training_data.training_config("m", features, labels), "residency_file": str(RESIDENCY_FILE)}, "t.yaml"
    )
    training_set = build_training_set(config, config.load_residency(), datetime.now(UTC))
    assert set(training_set.table["tenant"].to_pylist()) == {"acme-eu", "bosch-de"}
    assert training_set.table.num_rows == 850


@pytest.mark.slow
def test_a_refused_tenant_exits_before_any_object_is_read(moto_env: RecordingMoto, tmp_path) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    bucket = "mlplat-euw1-features-offline"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    features, labels = training_data.write_history(f"s3://{bucket}", {"acme-eu": 50, "globex-us": 50}, s3=s3)
    config = training_data.training_config("refused", features, labels, tenants=["acme-eu", "globex-us"])
    path = write_config(tmp_path / "training.yaml", config)
    moto_env.reset()
    moto_env.start()
    try:
        code = cli.main(["run", "--config", str(path), "--out", str(tmp_path / "summary.json")])
    finally:
        moto_env.stop()
    assert code == 1
    requests = moto_env.requests()
    assert requests == [], f"the reader sent {len(requests)} request(s) before refusing: {requests[:3]}"
    summary = (tmp_path / "summary.json").read_text()
    assert "globex-us" in summary and "nothing was read" in summary

    # the same data for an allowed tenant is read from the store (GetObject recorded)
    allowed = parse_config({**config, "tenants": ["acme-eu"], "residency_file": str(RESIDENCY_FILE)}, "t.yaml")
    moto_env.reset()
    moto_env.start()
    try:
        table = build_training_set(allowed, allowed.load_residency(), datetime.now(UTC)).table
    finally:
        moto_env.stop()
    assert set(table["tenant"].to_pylist()) == {"acme-eu"}
    urls = [unquote(r["url"]) for r in moto_env.requests() if r["method"] == "GET"]
    gets = [url for url in urls if url.endswith(".parquet")]
    assert gets and all("tenant=acme-eu/" in url for url in gets)


def test_refusal_is_a_gate_error() -> None:
    config = _config(tenants=["globex-us"])
    with pytest.raises(TenantRefused, match="globex-us"):
        build_training_set(config, config.load_residency(), datetime.now(UTC))
