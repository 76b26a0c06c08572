"""Dynamic micro-batching per model variant: queued requests are scored together, each gets its own rows.

A batch closes at `max_batch_size` rows or when its first request has waited `max_batch_delay` (0: take
whatever queued while the model was busy). The model runs in a worker thread; the queue is bounded (503 when
full) and every request has a deadline (504 past it). Rows of different callers never mix: each caller's slice
is cut by the offsets recorded when the batch was formed. When a batch fails, one caller's rows must not fail
the others: the batch is bisected by caller until the failing callers are alone, and only they get the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.serving.errors import ModelFailure, Overloaded, ServingError, Timeout
from runtime.serving.protocol import Row

ScoreFn = Callable[[list[Row]], np.ndarray]


@dataclass(frozen=True)
class BatchObserver:
    """Callbacks for metrics; each gets plain numbers so this module knows nothing of Prometheus."""

    batch: Callable[[int, float], None] = lambda rows, model_seconds: None
    queue_wait: Callable[[float], None] = lambda seconds: None


@dataclass(slots=True)
class _Pending:
    rows: list[Row]
    future: asyncio.Future[np.ndarray]
    enqueued: float
    timer: asyncio.TimerHandle | None = None


class MicroBatcher:
    def __init__(
        self,
        score: ScoreFn,
        executor: Executor,
        *,
        max_batch_size: int,
        max_batch_delay_s: float,
        max_queue_rows: int,
        timeout_s: float,
        observer: BatchObserver | None = None,
    ) -> None:
        self.score = score
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_batch_delay_s = max_batch_delay_s
        self.max_queue_rows = max_queue_rows
        self.timeout_s = timeout_s
        self.observer = observer or BatchObserver()
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(Overloaded("server is shutting down"))

    async def submit(self, rows: list[Row]) -> np.ndarray:
        """This caller's predictions, one per row, in order."""
        count = len(rows)
        if self._queued_rows and self._queued_rows + count > self.max_queue_rows:
            raise Overloaded(f"queue full ({self._queued_rows} rows waiting); retry shortly")
        loop = asyncio.get_running_loop()
        pending = _Pending(rows, loop.create_future(), loop.time())
        pending.timer = loop.call_at(pending.enqueued + self.timeout_s, _expire, pending.future, self.timeout_s)
        self._queue.append(pending)
        self._queued_rows += count
        self._wake.set()
        if self._queued_rows >= self.max_batch_size:
            self._full.set()
        try:
            return await pending.future
        finally:
            pending.timer.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.max_batch_delay_s > 0 and self._queued_rows < self.max_batch_size:
                remaining = self._queue[0].enqueued + self.max_batch_delay_s - loop.time()
                if remaining > 0:
                    self._full.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._full.wait(), remaining)
            batch = self._take(loop.time())
            if batch:
                await self._score(loop, batch)

    def _take(self, now: float) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        while self._queue:
            head = self._queue[0]
            if head.future.done():  # timed out while queued: its rows are not scored
                self._queue.popleft()
                self._queued_rows -= len(head.rows)
                continue
            if batch and rows + len(head.rows) > self.max_batch_size:
                break
            self._queue.popleft()
            self._queued_rows -= len(head.rows)
            rows += len(head.rows)
            batch.append(head)
            self.observer.queue_wait(now - head.enqueued)
        return batch

    async def _score(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        try:
            predictions = await self._call(loop, batch)
        except Exception as error:
            if len(batch) == 1:
                _fail(batch[0], error)
            else:
                await self._isolate(loop, batch)
            return
        _answer(batch, predictions)

    async def _call(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> np.ndarray:
        if len(batch) == 1:
            rows = batch[0].rows
        else:
            rows = []
            for pending in batch:
                rows.extend(pending.rows)
        started = time.perf_counter()
        predictions = await loop.run_in_executor(self.executor, self.score, rows)
        self.observer.batch(len(rows), time.perf_counter() - started)
        return predictions

    async def _isolate(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        """Bisects a failed batch by caller: halves that score are answered, a caller failing alone gets its error.

        Bisection bounds the extra model calls at about 2 log2(callers) per offending caller, so a caller who
        sends a poisoned row into every batch cannot multiply the work by the batch's size.
        """
        middle = len(batch) // 2
        parts = [batch[middle:], batch[:middle]]
        while parts:
            part = [pending for pending in parts.pop() if not pending.future.done()]
            if not part:
                continue
            try:
                predictions = await self._call(loop, part)
            except Exception as error:
                if len(part) == 1:
                    _fail(part[0], error)
                else:
                    middle = len(part) // 2
                    parts += [part[middle:], part[:middle]]
                continue
            _answer(part, predictions)


def _answer(batch: list[_Pending], predictions: np.ndarray) -> None:
    offset = 0
    for pending in batch:
        end = offset + len(pending.rows)
        if not pending.future.done():
            pending.future.set_result(predictions[offset:end])
        offset = end


def _fail(pending: _Pending, error: Exception) -> None:
    failure = error if isinstance(error, ServingError) else ModelFailure(f"{type(error).__name__}: {error}")
    if not pending.future.done():
        pending.future.set_exception(failure)


def _expire(future: asyncio.Future[Any], timeout_s: float) -> None:
    if not future.done():
        future.set_exception(Timeout(f"no answer within {timeout_s * 1000:.0f} ms"))
