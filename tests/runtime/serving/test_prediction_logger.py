"""Prediction logging: the shared Parquet layout, local and S3 (moto), sampling, counted drops."""

from __future__ import annotations

import asyncio
import io
import random
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from runtime.prediction_log import META_COLUMNS, PREDICTION_COLUMN
from runtime.serving.prediction_logger import PredictionLogger


def _logger(uri: str, **overrides) -> tuple[PredictionLogger, dict[str, int]]:  # type: ignore[no-untyped-def]
    counts = {"written": 0, "dropped": 0}
    options = {"sample": 1.0, "buffer_rows": 100, "flush_seconds": 60.0}
    options.update(overrides)
    logger = PredictionLogger(
        uri, "churn",
        on_written=lambda n: counts.__setitem__("written", counts["written"] + n),
        on_dropped=lambda n: counts.__setitem__("dropped", counts["dropped"] + n),
        **options,
    )  # fmt: skip
    return logger, counts


def _offer(logger: PredictionLogger, rows: int) -> None:
    logger.offer(
        request_id="r-1", tenant="acme-eu", model_version="3", variant="champion", columns=["f0", "f1"],
        rows=[[float(i), 2.0 * i] for i in range(rows)], predictions=[0.5 * i for i in range(rows)],
    )  # fmt: skip


def test_local_layout_and_columns(tmp_path: Path) -> None:
    logger, counts = _logger(str(tmp_path))
    _offer(logger, 5)
    asyncio.run(logger.flush())
    now = datetime.now(UTC)
    files = list(tmp_path.glob("model=churn/date=*/hour=*/part-*.parquet"))
    assert len(files) == 1 and f"date={now:%Y-%m-%d}" in str(files[0])
    table = pq.read_table(files[0])
    assert table.column_names == [*META_COLUMNS, "f0", "f1", PREDICTION_COLUMN]
    assert table.column("prediction").to_pylist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert set(table.column("variant").to_pylist()) == {"champion"}
    assert counts == {"written": 5, "dropped": 0}


def test_bounded_buffer_counts_drops(tmp_path: Path) -> None:
    logger, counts = _logger(str(tmp_path), buffer_rows=8)
    _offer(logger, 5)
    _offer(logger, 5)
    assert counts["dropped"] == 2
    asyncio.run(logger.flush())
    assert counts["written"] == 8


def test_sampling_rate() -> None:
    logger, _ = _logger("unused", sample=0.1, rng=random.Random(5))
    share = sum(logger.sampled() for _ in range(20_000)) / 20_000
    assert 0.09 < share < 0.11
    never, _ = _logger("unused", sample=0.0)
    assert not any(never.sampled() for _ in range(1000))


def test_failed_write_is_counted_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    logger, counts = _logger(str(blocker))
    _offer(logger, 3)
    asyncio.run(logger.flush())
    assert counts == {"written": 0, "dropped": 3}


@pytest.mark.slow
def test_s3_prefix_with_moto(aws_env: object) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="euw1-predictions", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    logger, counts = _logger("s3://euw1-predictions/serving")
    _offer(logger, 4)
    asyncio.run(logger.flush())
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="euw1-predictions")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("serving/model=churn/date=") and keys[0].endswith(".parquet")
    body = s3.get_object(Bucket="euw1-predictions", Key=keys[0])["Body"].read()
    assert pq.read_table(io.BytesIO(body)).num_rows == 4
    assert counts["written"] == 4
