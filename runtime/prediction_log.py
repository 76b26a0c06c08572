"""The prediction-log layout that serving writes and the drift job reads (one contract, two containers).

Files are Parquet under `<prefix>/model=<name>/date=YYYY-MM-DD/hour=HH/part-<id>.parquet`; `prefix` is a local
directory or `s3://bucket/key`. Each row is one scored entity: the columns in `META_COLUMNS`, then one column per
model input feature (its own name), then `PREDICTION_COLUMN`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

PREDICTION_COLUMN = "prediction"
# Who sent the request a row came from (token subject or client address): lets drift see a window one caller dominates.
CALLER_COLUMN = "caller"
META_COLUMNS = ("request_id", "ts", "tenant", "model_name", "model_version", "variant", CALLER_COLUMN)
RESERVED_COLUMNS = frozenset((*META_COLUMNS, PREDICTION_COLUMN))


def partition_prefix(prefix: str, model_name: str, when: datetime) -> str:
    """The folder (or S3 key prefix) holding the rows of `model_name` logged during `when`'s hour (UTC)."""
    when = when.astimezone(UTC)
    return f"{prefix.rstrip('/')}/model={model_name}/date={when:%Y-%m-%d}/hour={when:%H}"


def hours_in_window(end: datetime, window: timedelta) -> list[datetime]:
    """The UTC hours whose partitions cover `(end - window, end]`, oldest first."""
    end = end.astimezone(UTC)
    start = end - window
    hour = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours
