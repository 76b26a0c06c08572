from datetime import UTC, datetime, timedelta

from runtime.prediction_log import hours_in_window, partition_prefix


def test_partition_prefix_is_hourly_and_utc() -> None:
    when = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert partition_prefix("s3://logs/preds/", "churn", when) == "s3://logs/preds/model=churn/date=2026-11-23/hour=09"


def test_window_covers_every_touched_hour() -> None:
    end = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    hours = hours_in_window(end, timedelta(hours=2))
    assert [h.hour for h in hours] == [8, 9, 10]
