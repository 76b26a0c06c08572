"""The job's window over the prediction log: which hourly partitions to read and which rows are in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from runtime import prediction_log
from runtime.drift import storage
from runtime.drift.tables import concat, data_files, read_table

TIMESTAMP_COLUMN = "ts"
VERSION_COLUMN = "model_version"


@dataclass(frozen=True)
class Window:
    """The half-open interval `(start, end]` in UTC."""

    start: datetime
    end: datetime

    @property
    def id(self) -> str:
        """Stable name of the window: same window, same id (idempotency and report paths use it)."""
        return f"{self.start:%Y%m%dT%H%MZ}_{self.end:%Y%m%dT%H%MZ}"


def window_ending(end: datetime | None, minutes: int, now: datetime) -> Window:
    """The window of `minutes` ending at `end` (naive means UTC) or at `now` rounded down to the minute."""
    if end is None:
        end = now.astimezone(UTC).replace(second=0, microsecond=0)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    end = end.astimezone(UTC)
    return Window(end - timedelta(minutes=minutes), end)


def partition_uris(prefix: str, model_name: str, window: Window) -> list[str]:
    """The hourly partition folders that can hold rows of the window, oldest first."""
    return [
        prediction_log.partition_prefix(prefix, model_name, hour)
        for hour in prediction_log.hours_in_window(window.end, window.end - window.start)
    ]


def _timestamps(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            return column.cast(pa.timestamp("us", tz="UTC"))
        return column.cast(pa.timestamp("us", tz="UTC"))
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        micros = pc.multiply(column.cast(pa.float64()), 1e6).cast(pa.int64())
        return micros.cast(pa.timestamp("us", tz="UTC"))
    return pc.strptime(column, format="%Y-%m-%dT%H:%M:%S%z", unit="us").cast(pa.timestamp("us", tz="UTC"))


def in_window(table: pa.Table, window: Window) -> pa.Table:
    """Rows whose `ts` falls in `(start, end]` (the partitions are hourly, the window need not be)."""
    if TIMESTAMP_COLUMN not in table.column_names or table.num_rows == 0:
        return table
    ts = _timestamps(table.column(TIMESTAMP_COLUMN))
    start = pa.scalar(window.start, pa.timestamp("us", tz="UTC"))
    end = pa.scalar(window.end, pa.timestamp("us", tz="UTC"))
    return table.filter(pc.and_(pc.greater(ts, start), pc.less_equal(ts, end)))


def of_version(table: pa.Table, version: str | None) -> pa.Table:
    """Rows scored by one model version (all rows without a version column or a version)."""
    if version is None or VERSION_COLUMN not in table.column_names or table.num_rows == 0:
        return table
    return table.filter(pc.equal(table.column(VERSION_COLUMN).cast(pa.string()), str(version)))


@dataclass(frozen=True)
class WindowRows:
    """The row filter of a window and a model version, applied to every batch (picklable for Ray tasks)."""

    window: Window
    version: str | None

    def __call__(self, table: pa.Table) -> pa.Table:
        return of_version(in_window(table, self.window), self.version)


def window_files(prefix: str, model_name: str, window: Window) -> list[str]:
    """The data files of the hourly partitions that overlap the window, oldest first."""
    files: list[str] = []
    for folder in partition_uris(prefix, model_name, window):
        if storage.exists_dir(folder):
            files += data_files(folder)
    return files


def read_window(prefix: str, model_name: str, window: Window) -> tuple[pa.Table, list[str]]:
    """The logged rows of the window and the files they came from (an empty table when there are none)."""
    files = window_files(prefix, model_name, window)
    if not files:
        return pa.table({}), []
    return in_window(concat([read_table(found) for found in files], prefix), window), files
