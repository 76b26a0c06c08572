"""Micro-batching: callers never get each other's rows (MLServer#1306), bounded queue, deadlines, failures."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from runtime.serving.batching import BatchObserver, MicroBatcher
from runtime.serving.errors import ModelFailure, Overloaded, Timeout


def _identity_score(batches: list[int], delay: float = 0.002):
    def score(rows: list) -> np.ndarray:
        batches.append(len(rows))
        time.sleep(delay)  # a model call: new requests queue meanwhile
        return np.array([row[0] for row in rows], dtype=float)

    return score


def _batcher(score, **overrides) -> MicroBatcher:
    options = {"max_batch_size": 64, "max_batch_delay_s": 0.0, "max_queue_rows": 10_000, "timeout_s": 5.0}
    options.update(overrides)
    return MicroBatcher(score, ThreadPoolExecutor(max_workers=1), **options)


def test_each_caller_gets_exactly_its_own_rows_back() -> None:
    batches: list[int] = []

    async def main() -> None:
        batcher = _batcher(_identity_score(batches), max_batch_size=32)
        batcher.start()
        rng = random.Random(3)
        requests = []
        next_id = 0
        for _ in range(400):
            size = rng.choice([1, 1, 1, 2, 3, 7, 40])  # 40 > max_batch_size: scored alone
            requests.append([[float(next_id + i), 0.0] for i in range(size)])
            next_id += size
        answers = await asyncio.gather(*(batcher.submit(rows) for rows in requests))
        for rows, answer in zip(requests, answers, strict=True):
            assert answer.tolist() == [row[0] for row in rows]
        await batcher.stop()

    asyncio.run(main())
    assert max(batches) >= 8, "requests were not batched together"


def test_batches_respect_max_batch_size_except_single_large_requests() -> None:
    batches: list[int] = []

    async def main() -> None:
        batcher = _batcher(_identity_score(batches), max_batch_size=16)
        batcher.start()
        await asyncio.gather(*(batcher.submit([[float(i)]]) for i in range(200)), batcher.submit([[0.0]] * 50))
        await batcher.stop()

    asyncio.run(main())
    assert sum(batches) == 250
    assert all(size <= 16 or size == 50 for size in batches)


def test_delay_collects_company_for_the_first_row() -> None:
    batches: list[int] = []
    observed: list[float] = []

    async def main() -> None:
        batcher = _batcher(
            _identity_score(batches, delay=0), max_batch_delay_s=0.05,
            observer=BatchObserver(queue_wait=observed.append),
        )  # fmt: skip
        batcher.start()
        first = asyncio.ensure_future(batcher.submit([[1.0]]))
        await asyncio.sleep(0.01)
        second = await batcher.submit([[2.0]])
        assert (await first).tolist() == [1.0] and second.tolist() == [2.0]
        await batcher.stop()

    asyncio.run(main())
    assert batches == [2]
    assert max(observed) >= 0.04


def test_full_queue_sheds_with_retry_after() -> None:
    release = threading.Event()
    entered = threading.Event()

    def blocked(rows: list) -> np.ndarray:
        entered.set()
        release.wait(5)
        return np.zeros(len(rows))

    async def main() -> None:
        batcher = _batcher(blocked, max_queue_rows=8, max_batch_size=4)
        batcher.start()
        waiting = [asyncio.ensure_future(batcher.submit([[0.0]] * 4))]
        assert await asyncio.to_thread(entered.wait, 5)  # the first batch is in the (blocked) model
        waiting += [asyncio.ensure_future(batcher.submit([[0.0]] * 4)) for _ in range(2)]
        await asyncio.sleep(0)
        assert batcher.queued_rows == 8
        with pytest.raises(Overloaded) as shed:
            await batcher.submit([[0.0]])
        assert shed.value.status == 503 and (b"retry-after", b"1") in shed.value.headers()
        release.set()
        await asyncio.gather(*waiting)
        await batcher.stop()

    asyncio.run(main())


def test_deadline_gives_timeout_and_skips_expired_rows() -> None:
    batches: list[int] = []
    release = threading.Event()
    entered = threading.Event()

    def slow(rows: list) -> np.ndarray:
        batches.append(len(rows))
        entered.set()
        release.wait(5)
        return np.zeros(len(rows))

    async def main() -> None:
        batcher = _batcher(slow, timeout_s=0.05)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit([[0.0]]))
        assert await asyncio.to_thread(entered.wait, 5)  # the first request is in the (blocked) model
        with pytest.raises(Timeout) as late:
            await batcher.submit([[1.0]] * 3)
        assert late.value.status == 504
        release.set()
        with pytest.raises(Timeout):
            await first
        for _ in range(500):  # bounded: until the batcher has looked at (and skipped) the expired rows
            if batcher.queued_rows == 0:
                break
            await asyncio.sleep(0.01)
        assert batcher.queued_rows == 0
        await batcher.stop()

    asyncio.run(main())
    assert batches == [1], "rows whose caller gave up were scored anyway"


def test_a_broken_model_fails_every_caller() -> None:
    def broken(rows: list) -> np.ndarray:
        raise RuntimeError("boom")

    async def main() -> None:
        batcher = _batcher(broken)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([[0.0]]) for _ in range(5)), return_exceptions=True)
        assert all(isinstance(r, ModelFailure) and "boom" in r.message for r in results)
        await batcher.stop()

    asyncio.run(main())


@pytest.mark.parametrize("poisoned", [[3], [0, 9], list(range(16))[::5]])
def test_a_row_that_breaks_the_model_fails_only_its_own_caller(poisoned: list[int]) -> None:
    """Issue 20 #2: one caller's row made the whole micro-batch fail; now the batch is bisected by caller."""
    batches: list[int] = []

    def picky(rows: list) -> np.ndarray:
        batches.append(len(rows))
        if any(row[0] < 0 for row in rows):
            raise OverflowError("int too large to convert to float")
        return np.array([row[0] for row in rows], dtype=float)

    async def main() -> list[object]:
        batcher = _batcher(picky)
        batcher.start()
        calls = [batcher.submit([[-1.0 if i in poisoned else float(i)], [float(i)]]) for i in range(16)]
        results: list[object] = list(await asyncio.gather(*calls, return_exceptions=True))
        await batcher.stop()
        return results

    results = asyncio.run(main())
    assert batches[0] == 32, "the callers were not batched together"
    for i, result in enumerate(results):
        if i in poisoned:
            assert isinstance(result, ModelFailure) and "OverflowError" in result.message
        else:
            assert isinstance(result, np.ndarray) and result.tolist() == [float(i), float(i)]
    assert len(batches) <= 1 + 4 * len(poisoned) * 4, "isolation must cost about log2(callers) calls per culprit"
