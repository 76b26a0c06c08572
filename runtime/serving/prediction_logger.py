"""Sampled prediction logging for the drift job, off the request path.

Requests hand rows to a bounded in-memory buffer (never blocking; overflow is dropped and counted). A
background task writes the buffer every few seconds as Parquet in the layout of `runtime.prediction_log`, to a
local directory or an `s3://` prefix, in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.prediction_log import META_COLUMNS, PREDICTION_COLUMN, RESERVED_COLUMNS, partition_prefix

log = logging.getLogger("mlplat.serve.prediction_log")


class PredictionLogger:
    def __init__(
        self,
        uri: str,
        model_name: str,
        *,
        sample: float,
        buffer_rows: int,
        flush_seconds: float,
        on_written: Callable[[int], None] = lambda rows: None,
        on_dropped: Callable[[int], None] = lambda rows: None,
        rng: random.Random | None = None,
    ) -> None:
        self.uri = uri
        self.model_name = model_name
        self.sample = sample
        self.buffer_rows = buffer_rows
        self.flush_seconds = flush_seconds
        self.on_written = on_written
        self.on_dropped = on_dropped
        self._rng = rng or random.Random()  # noqa: S311 - sampling, not security
        self._buffer: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    def sampled(self) -> bool:
        return self.sample > 0 and self._rng.random() < self.sample

    def offer(
        self,
        *,
        request_id: str,
        tenant: str | None,
        model_version: str,
        variant: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        predictions: Sequence[Any],
    ) -> None:
        """Buffers one request's rows; drops (and counts) what does not fit. Never blocks."""
        room = self.buffer_rows - len(self._buffer)
        if room < len(rows):
            self.on_dropped(len(rows) - max(room, 0))
            rows = rows[: max(room, 0)]
        now = datetime.now(UTC)
        for row, prediction in zip(rows, predictions, strict=False):
            record: dict[str, Any] = {
                "request_id": request_id,
                "ts": now,
                "tenant": tenant,
                "model_name": self.model_name,
                "model_version": model_version,
                "variant": variant,
            }
            for name, value in zip(columns, row, strict=True):
                if name not in RESERVED_COLUMNS:
                    record[name] = value
            record[PREDICTION_COLUMN] = prediction
            self._buffer.append(record)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="prediction-log")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer:
            return
        records, self._buffer = self._buffer, []
        try:
            await asyncio.to_thread(self.write, records)
            self.on_written(len(records))
        except Exception:
            log.exception("prediction log write failed; %d rows dropped", len(records))
            self.on_dropped(len(records))

    def write(self, records: list[dict[str, Any]]) -> list[str]:
        """Writes records as one Parquet file per hour partition; returns the paths or s3:// URIs written."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        by_hour: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_hour.setdefault(partition_prefix(self.uri, self.model_name, record["ts"]), []).append(record)
        written = []
        for prefix, rows in by_hour.items():
            features = [name for name in rows[0] if name not in RESERVED_COLUMNS]
            order = [*META_COLUMNS, *features, PREDICTION_COLUMN]
            table = pa.Table.from_pylist([{name: row.get(name) for name in order} for row in rows])
            target = f"{prefix}/part-{uuid.uuid4().hex}.parquet"
            if target.startswith("s3://"):
                buffer = io.BytesIO()
                pq.write_table(table, buffer)
                _put_s3(target, buffer.getvalue())
            else:
                Path(prefix).mkdir(parents=True, exist_ok=True)
                pq.write_table(table, target)
            written.append(target)
        return written


def _put_s3(uri: str, body: bytes) -> None:
    import boto3

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
