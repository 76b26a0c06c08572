"""Sampled prediction logging for the drift job, off the request path.

Requests hand rows to a bounded in-memory buffer (never blocking; overflow is dropped and counted). Rows are
sampled one by one, and capped per request and per caller per window, so that no single request or caller can
fill a drift window (each row records its caller: the token subject, else the client address). A background
task writes the buffer every few seconds as Parquet in the layout of `runtime.prediction_log`, to a local
directory (private: 0700 folders, 0600 files) or an `s3://` prefix, in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from runtime.prediction_log import (
    CALLER_COLUMN,
    META_COLUMNS,
    PREDICTION_COLUMN,
    RESERVED_COLUMNS,
    partition_prefix,
)

log = logging.getLogger("mlplat.serve.prediction_log")


UNKNOWN_CALLER = "unknown"


class PredictionLogger:
    def __init__(
        self,
        uri: str,
        model_name: str,
        *,
        sample: float,
        buffer_rows: int,
        flush_seconds: float,
        max_rows_per_request: int = 100,
        max_rows_per_caller: int = 5000,
        caller_window_seconds: float = 3600.0,
        on_written: Callable[[int], None] = lambda rows: None,
        on_dropped: Callable[[int, str], None] = lambda rows, reason: None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.uri = uri
        self.model_name = model_name
        self.sample = sample
        self.buffer_rows = buffer_rows
        self.flush_seconds = flush_seconds
        self.max_rows_per_request = max_rows_per_request
        self.max_rows_per_caller = max_rows_per_caller
        self.caller_window_seconds = caller_window_seconds
        self.on_written = on_written
        self.on_dropped = on_dropped
        self._rng = rng or random.Random()  # noqa: S311 - sampling, not security
        self._counts = np.random.default_rng(self._rng.getrandbits(64))
        self._clock = clock
        self._buffer: list[dict[str, Any]] = []
        self._per_caller: dict[str, int] = {}
        self._window_ends = 0.0
        self._task: asyncio.Task[None] | None = None

    def sampled(self) -> bool:
        """One draw at the sampling rate (what each row gets)."""
        return self.sample > 0 and self._rng.random() < self.sample

    def _pick(self, count: int) -> list[int]:
        """The positions of the sampled rows, each row drawn independently at the rate, at most the request cap.

        The number of sampled rows is binomial and, given it, the positions are uniform: drawing the count and
        then that many positions is the same distribution as one draw per row, at O(sampled) cost.
        """
        if self.sample <= 0 or count == 0:
            return []
        if count == 1:
            return [0] if self.sampled() else []
        chosen = count if self.sample >= 1 else int(self._counts.binomial(count, self.sample))
        if chosen > self.max_rows_per_request:
            self.on_dropped(chosen - self.max_rows_per_request, "request_cap")
            chosen = self.max_rows_per_request
        if chosen == count:
            return list(range(count))
        return sorted(self._rng.sample(range(count), chosen))

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
        caller: str | None = None,
    ) -> None:
        """Buffers one request's sampled rows; drops (and counts, by reason) what the caps refuse. Never blocks."""
        picked = self._pick(len(rows))
        if not picked:
            return
        who = caller or UNKNOWN_CALLER
        now = self._clock()
        if now >= self._window_ends:
            self._per_caller.clear()
            self._window_ends = now + self.caller_window_seconds
        used = self._per_caller.get(who, 0)
        room = self.max_rows_per_caller - used
        if room < len(picked):
            self.on_dropped(len(picked) - max(room, 0), "caller_cap")
            picked = picked[: max(room, 0)]
        room = self.buffer_rows - len(self._buffer)
        if room < len(picked):
            self.on_dropped(len(picked) - max(room, 0), "buffer_full")
            picked = picked[: max(room, 0)]
        if not picked:
            return
        self._per_caller[who] = used + len(picked)
        stamp = datetime.now(UTC)
        meta = {
            "request_id": request_id,
            "ts": stamp,
            "tenant": tenant,
            "model_name": self.model_name,
            "model_version": model_version,
            "variant": variant,
            CALLER_COLUMN: who,
        }
        for position in picked:
            record = dict(meta)
            for name, value in zip(columns, rows[position], strict=True):
                if name not in RESERVED_COLUMNS:
                    record[name] = value
            record[PREDICTION_COLUMN] = predictions[position]
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
            self.on_dropped(len(records), "write_failed")

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
                _private_dirs(Path(prefix))
                # created 0600 by us, never through the umask: rows carry callers and tenants' features
                # written beside the target and renamed: a reader (the drift job) never sees a half-written file
                partial = f"{prefix}/.part-{uuid.uuid4().hex}.parquet.tmp"
                descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as sink:
                    pq.write_table(table, sink)
                os.replace(partial, target)
            written.append(target)
        return written


def _private_dirs(path: Path) -> None:
    """Creates the missing folders of `path` with mode 0700 (`Path.mkdir(parents=True)` would use the umask)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)


def _put_s3(uri: str, body: bytes) -> None:
    import boto3

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
