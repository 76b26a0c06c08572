"""Prediction logging: the shared Parquet layout, local and S3 (moto), sampling, counted drops."""

from __future__ import annotations

import asyncio
import io
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest

from runtime.prediction_log import META_COLUMNS, PREDICTION_COLUMN
from runtime.serving.prediction_logger import PredictionLogger


def _logger(uri: str, **overrides) -> tuple[PredictionLogger, dict[str, int]]:  # type: ignore[no-untyped-def]
    counts = {"written": 0, "dropped": 0}
    options: dict[str, Any] = {"sample": 1.0, "buffer_rows": 100, "flush_seconds": 60.0}
    options.update(overrides)
    logger = PredictionLogger(
        uri, "churn",
        on_written=lambda n: counts.__setitem__("written", counts["written"] + n),
        on_dropped=lambda n, reason: counts.__setitem__("dropped", counts["dropped"] + n),
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


def _offer_from(logger: PredictionLogger, rows: int, caller: str | None, request_id: str = "r") -> None:
    logger.offer(
        request_id=request_id, tenant=None, caller=caller, model_version="3", variant="champion", columns=["f0"],
        rows=[[float(i)] for i in range(rows)], predictions=[0.0] * rows,
    )  # fmt: skip


def test_one_request_or_caller_cannot_fill_the_window(tmp_path: Path) -> None:
    """Issue 20 #5: one 60,000-row request took 50,000 of a window's rows and the next request was dropped."""
    drops: dict[str, int] = {}
    clock = [0.0]
    logger = PredictionLogger(
        str(tmp_path), "churn", sample=1.0, buffer_rows=50_000, flush_seconds=60.0, max_rows_per_request=100,
        max_rows_per_caller=250, caller_window_seconds=60.0, clock=lambda: clock[0],
        on_dropped=lambda n, reason: drops.__setitem__(reason, drops.get(reason, 0) + n),
    )  # fmt: skip
    _offer_from(logger, 60_000, "10.0.0.9")
    assert drops == {"request_cap": 59_900}
    for _ in range(3):
        _offer_from(logger, 100, "10.0.0.9")
    assert drops["caller_cap"] == 150  # 100 + 100 + 50 fit under the caller's 250
    _offer_from(logger, 5, "10.0.0.7")  # another caller is logged in full
    clock[0] = 61.0  # a new window: the first caller is logged again
    _offer_from(logger, 5, "10.0.0.9")
    asyncio.run(logger.flush())
    table = pq.read_table(next(tmp_path.glob("model=churn/date=*/hour=*/part-*.parquet")))
    callers = table.column("caller").to_pylist()
    assert callers.count("10.0.0.9") == 255 and callers.count("10.0.0.7") == 5


def test_rows_are_sampled_one_by_one(tmp_path: Path) -> None:
    logger, _ = _logger(str(tmp_path), sample=0.1, buffer_rows=100_000, rng=random.Random(7))
    logger.max_rows_per_request = 10_000
    _offer_from(logger, 20_000, "a")  # sampled per request, this was all or nothing
    assert 1_800 < len(logger._buffer) < 2_200


def test_log_files_and_folders_are_private(tmp_path: Path) -> None:
    logger, _ = _logger(str(tmp_path / "log"))
    _offer(logger, 2)
    asyncio.run(logger.flush())
    written = next((tmp_path / "log").glob("model=churn/date=*/hour=*/part-*.parquet"))
    assert written.stat().st_mode & 0o777 == 0o600
    folder = written.parent
    while folder != tmp_path:
        assert folder.stat().st_mode & 0o777 == 0o700, folder
        folder = folder.parent
