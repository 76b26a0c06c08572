"""Where a comparison runs: in memory (the whole sample as one table), streamed here in record batches
(`local`), or streamed as Ray Data tasks over the files (`ray`). All three give the same report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyarrow as pa

from runtime.drift import sources
from runtime.drift.compare import CompareOptions, compare
from runtime.drift.profile import ReferenceProfile
from runtime.drift.streaming import StreamPlan, Totals, accumulate, make_plan, report_from_totals, value_counts
from runtime.drift.tables import CSV_BLOCK_BYTES, read_table

RowFilter = Callable[[pa.Table], pa.Table]


class Engine(StrEnum):
    """`memory` reads the whole sample; `local` streams it here; `ray` streams it on a Ray cluster."""

    MEMORY = "memory"
    LOCAL = "local"
    RAY = "ray"


@dataclass(frozen=True, kw_only=True)
class StreamOptions:
    """How the current sample is read and where the counting runs."""

    engine: Engine = Engine.LOCAL
    batch_rows: int = sources.DEFAULT_BATCH_ROWS
    ray_address: str | None = None
    # Row filter applied to every batch before counting (the job's window and model version).
    row_filter: RowFilter | None = None
    # Columns the report must not compare but whose values are counted (the prediction log's caller).
    counted: frozenset[str] = frozenset()
    # Columns a file may lack (the prediction log's metadata columns).
    optional: frozenset[str] = frozenset()


@dataclass
class Result:
    """The report and, for the `counted` columns, the rows per value (None: missing value)."""

    report: dict[str, Any]
    counted: dict[str, dict[str | None, int]]


def _filtered(batches: Any, row_filter: RowFilter | None) -> Any:
    return batches if row_filter is None else (row_filter(batch) for batch in batches)


def local_totals(plan: StreamPlan, layout: sources.Layout, options: CompareOptions, stream: StreamOptions) -> Totals:
    """Stream every file here; a CSV field longer than the block size restarts with bigger blocks."""
    block = CSV_BLOCK_BYTES
    while True:
        try:
            batches = sources.stream(layout, stream.batch_rows, block)
            return accumulate(plan, _filtered(batches, stream.row_filter), options.workers)
        except sources.CsvBlockTooSmall:
            block = sources.next_block_bytes(block)


def in_memory(profile: ReferenceProfile, table: pa.Table, options: CompareOptions, counted: frozenset[str]) -> Result:
    """`compare` on a table, with the counted columns' value counts."""
    counts = {name: value_counts(table.column(name)) for name in counted & set(table.column_names)}
    return Result(compare(profile, table, options), counts)


def run(profile: ReferenceProfile, current_uri: str, options: CompareOptions, stream: StreamOptions) -> Result:
    """The report for the current sample at `current_uri` (a file, a directory or an S3 prefix)."""
    if stream.engine is Engine.MEMORY:
        table = read_table(current_uri)
        if stream.row_filter is not None:
            table = stream.row_filter(table)
        return in_memory(profile, table, options, stream.counted)
    layout = sources.layout(current_uri, stream.optional)
    return run_layout(profile, layout, options, stream)


def count(profile: ReferenceProfile, layout: sources.Layout, options: CompareOptions, stream: StreamOptions) -> Totals:
    """The merged counts of every file (streamed here or on Ray)."""
    plan = make_plan(profile, stream.counted)
    if stream.engine is Engine.RAY:
        from runtime.drift.ray_engine import ray_totals

        return ray_totals(plan, layout, options, stream)
    return local_totals(plan, layout, options, stream)


def run_layout(
    profile: ReferenceProfile, layout: sources.Layout, options: CompareOptions, stream: StreamOptions
) -> Result:
    """The streamed report over files whose layout is already known."""
    totals = count(profile, layout, options, stream)
    return Result(report_from_totals(profile, totals, options), totals.partial.counted)
