"""The `ray` engine: Ray Data tasks run the same per-batch counting as the local engine over groups of files,
each returns its group's merged counts, and the driver adds them up (DESIGN.md section 15).

A local Ray is started when no address is given (dev, tests); production passes the regional cluster's address
(`--ray-address` / `MLPLAT_DRIFT_RAY_ADDRESS`, e.g. `ray://raycluster-head:10001`).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime.drift import sources
from runtime.drift.compare import CompareOptions
from runtime.drift.errors import DriftError, DriftInputError
from runtime.drift.streaming import StreamPlan, Totals, accumulate
from runtime.drift.tables import CSV_BLOCK_BYTES

if TYPE_CHECKING:
    from runtime.drift.engine import StreamOptions

# Tasks per Ray CPU: a little load balancing, few partial totals to ship (each up to 16 bytes per reference value
# per numeric feature).
TASKS_PER_CPU = 2


def _groups(layout: sources.Layout, parallelism: int) -> list[list[str]]:
    """Files split into `TASKS_PER_CPU` groups of consecutive files per CPU (fewer when there are fewer files)."""
    n_groups = max(1, min(len(layout.files), parallelism * TASKS_PER_CPU))
    bounds = np.linspace(0, len(layout.files), n_groups + 1).astype(int)
    return [layout.files[start:end] for start, end in itertools.pairwise(bounds) if end > start]


def _count_files(
    batch: dict[str, np.ndarray],
    plan: StreamPlan,
    layout: sources.Layout,
    batch_rows: int,
    row_filter: Any,
    workers: int,
) -> dict[str, np.ndarray]:
    """One Ray Data task: stream its files through the per-batch counting, return the merged counts."""
    out = []
    for files in batch["files"]:
        block = CSV_BLOCK_BYTES
        while True:
            try:
                batches = (
                    batch_table
                    for uri in files
                    for batch_table in sources.file_batches(str(uri), layout, batch_rows, block)
                )
                if row_filter is not None:
                    batches = (row_filter(table) for table in batches)
                out.append(accumulate(plan, batches, workers).sparse())
                break
            except sources.CsvBlockTooSmall:
                block = sources.next_block_bytes(block)
    result = np.empty(len(out), dtype=object)
    result[:] = out
    return {"partial": result}


def _drift_error(error: BaseException) -> DriftError | None:
    """The DriftError a task raised, unwrapped from Ray's exceptions."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DriftError):
            return current
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else current.__cause__
    return None


def ray_totals(plan: StreamPlan, layout: sources.Layout, options: CompareOptions, stream: StreamOptions) -> Totals:
    """The totals of every file, counted by Ray Data tasks (one CPU each) and merged here."""
    import ray
    import ray.data

    if not ray.is_initialized():
        ray.init(address=stream.ray_address, include_dashboard=False, log_to_driver=False)
    parallelism = max(1, int(ray.cluster_resources().get("CPU", 1)))
    groups = _groups(layout, parallelism)
    items = [{"files": np.array(group, dtype=object)} for group in groups]
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _count_files,  # type: ignore[arg-type]  # extra arguments come from fn_kwargs
        batch_size=1,
        fn_kwargs={
            "plan": plan,
            "layout": layout,
            "batch_rows": stream.batch_rows,
            "row_filter": stream.row_filter,
            "workers": 1,
        },
        num_cpus=1,
    )
    totals = Totals(plan)
    try:
        for row in dataset.iter_rows():
            totals.add(row["partial"])
    except Exception as error:
        found = _drift_error(error)
        if found is not None:
            raise DriftInputError(str(found)) from None
        raise
    return totals
