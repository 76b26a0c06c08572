"""Window selection over the prediction-log layout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from runtime.drift.window import in_window, of_version, partition_uris, read_window, window_ending

END = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def test_window_defaults_to_now_rounded_down_and_treats_naive_as_utc() -> None:
    window = window_ending(None, 60, datetime(2026, 11, 20, 10, 30, 42, 5, tzinfo=UTC))
    assert (window.start, window.end) == (END - timedelta(hours=1), END)
    assert window.id == "20261120T0930Z_20261120T1030Z"
    assert window_ending(datetime(2026, 11, 20, 10, 30), 60, END).end == END


def test_partitions_cover_every_hour_the_window_touches() -> None:
    uris = partition_uris("s3://b/logs/", "m", window_ending(END, 90, END))
    assert uris == [
        "s3://b/logs/model=m/date=2026-11-20/hour=09",
        "s3://b/logs/model=m/date=2026-11-20/hour=10",
    ]
    assert len(partition_uris("/x", "m", window_ending(datetime(2026, 11, 21, 0, 30, tzinfo=UTC), 60, END))) == 2


def test_rows_are_filtered_to_the_window_whatever_the_timestamp_type() -> None:
    window = window_ending(END, 30, END)
    stamps = [END - timedelta(minutes=m) for m in (45, 30, 29, 0)]  # 30 minutes ago is outside (open start)
    aware = pa.table({"ts": pa.array(stamps, pa.timestamp("us", tz="UTC")), "x": [1, 2, 3, 4]})
    naive = pa.table({"ts": pa.array([s.replace(tzinfo=None) for s in stamps], pa.timestamp("ms")), "x": [1, 2, 3, 4]})
    epoch = pa.table({"ts": [s.timestamp() for s in stamps], "x": [1, 2, 3, 4]})
    text = pa.table({"ts": [s.strftime("%Y-%m-%dT%H:%M:%S+0000") for s in stamps], "x": [1, 2, 3, 4]})
    for table in (aware, naive, epoch, text):
        assert in_window(table, window).column("x").to_pylist() == [3, 4]


def test_version_filter() -> None:
    table = pa.table({"model_version": ["1", "2", "2"], "x": [1, 2, 3]})
    assert of_version(table, "2").column("x").to_pylist() == [2, 3]
    assert of_version(table, None).num_rows == 3
    assert of_version(pa.table({"x": [1]}), "2").num_rows == 1


def test_read_window_reads_only_overlapping_partitions(tmp_path: Path) -> None:
    for hour, minute in ((8, 10), (9, 40), (10, 5)):
        stamp = datetime(2026, 11, 20, hour, minute, tzinfo=UTC)
        folder = tmp_path / "model=m" / "date=2026-11-20" / f"hour={hour:02d}"
        folder.mkdir(parents=True)
        pq.write_table(
            pa.table({"ts": pa.array([stamp], pa.timestamp("us", tz="UTC")), "x": [hour]}),
            folder / "p.parquet",
        )
    table, files = read_window(str(tmp_path), "m", window_ending(END, 60, END))
    assert sorted(table.column("x").to_pylist()) == [9, 10] and len(files) == 2
    empty, none = read_window(str(tmp_path), "other", window_ending(END, 60, END))
    assert empty.num_rows == 0 and none == []
