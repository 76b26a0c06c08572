"""The churn demo's offline history: per tenant, weekly feature snapshots per customer and churn labels, laid out
as the offline store holds them (`tables/<table>/tenant=<t>/*.parquet`), locally or in (moto) S3.

Labels are drawn from the features as they were at the label's time, so a point-in-time join learns the signal
and a join that leaked later snapshots would not see the same rows.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlplat.dev import demo_data

FEATURES_TABLE = "customer_features"
LABELS_TABLE = "churn_labels"


def history(
    tenant: str, customers: int, *, end: datetime, days: int = 60, every_days: int = 7, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, labels) of one tenant: a snapshot per customer every `every_days`, one label per customer."""
    rng = np.random.default_rng(seed)
    snapshots = []
    base = demo_data.customers(customers, seed=seed)
    ids = np.array([f"{tenant}-c{n}" for n in range(customers)])
    steps = max(days // every_days, 1)
    for step in range(steps + 1):
        when = end - timedelta(days=days - step * every_days)
        frame = base.copy()
        frame["tenure_months"] = (frame["tenure_months"] + step * every_days / 30).round(1)
        frame["weekly_active_ratio"] = (
            (frame["weekly_active_ratio"] + rng.normal(0, 0.05, customers)).clip(0, 1).round(3)
        )
        frame["support_tickets_90d"] = rng.poisson(1.5 + (1 - frame["weekly_active_ratio"]) * 2).astype(float)
        frame.insert(0, "event_time", pd.Timestamp(when))
        frame.insert(0, "tenant", tenant)
        frame.insert(0, "customer_id", ids)
        snapshots.append(frame)
    features = pd.concat(snapshots, ignore_index=True)
    # one label per customer, at a random time after its first snapshot, from the snapshot valid at that time
    offsets = rng.uniform(every_days, days, customers)
    label_times = pd.to_datetime([end - timedelta(days=days - float(o)) for o in offsets], utc=True)
    step_of = np.floor(offsets / every_days).astype(int)
    as_of = pd.concat([snapshots[s].iloc[[i]] for i, s in enumerate(step_of)], ignore_index=True)
    labels = pd.DataFrame(
        {
            "customer_id": ids,
            "tenant": tenant,
            "label_time": label_times,
            "churned": demo_data.churned(as_of[demo_data.FEATURES], seed=seed + 1),
        }
    )
    return features, labels


def write_table(frame: pd.DataFrame, root: str, table: str, tenant: str, s3: Any | None = None) -> str:
    """Writes one tenant's part of `table` under `root` (a local directory or s3://bucket); returns its location."""
    key = f"tables/{table}/tenant={tenant}/part-0.parquet"
    if root.startswith("s3://"):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        bucket = root.removeprefix("s3://").split("/", 1)[0]
        if s3 is None:
            import boto3

            s3 = boto3.client("s3")
        s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
        return f"s3://{bucket}/{key}"
    path = Path(root) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return str(path)


def write_history(
    root: str,
    tenants: dict[str, int],
    *,
    end: datetime | None = None,
    days: int = 60,
    seed: int = 0,
    s3: Any | None = None,
) -> tuple[str, str]:
    """Features and labels of `tenants` (name -> customers) under `root`; returns the two table locations."""
    end = end or datetime.now(UTC)
    for index, (tenant, customers) in enumerate(sorted(tenants.items())):
        features, labels = history(tenant, customers, end=end, days=days, seed=seed + 10 * index)
        write_table(features, root, FEATURES_TABLE, tenant, s3)
        write_table(labels, root, LABELS_TABLE, tenant, s3)
    base = root.rstrip("/")
    return f"{base}/tables/{FEATURES_TABLE}/", f"{base}/tables/{LABELS_TABLE}/"


def training_config(model: str, features: str, labels: str, **overrides: Any) -> dict[str, Any]:
    """A training.yaml for the churn demo, as a mapping."""
    config: dict[str, Any] = {
        "model": model,
        "region": "eu-west-1",
        "tenants": ["acme-eu", "bosch-de"],
        "data": {
            "features": features,
            "labels": labels,
            "entity": "customer_id",
            "timestamp": "event_time",
            "label_timestamp": "label_time",
            "label": "churned",
            "window_days": 90,
        },
        "features": list(demo_data.FEATURES),
        "categorical": list(demo_data.CATEGORICAL),
        "validation": {
            "min_rows": 500,
            "max_null_share": 0.05,
            "max_age_days": 7,
            "ranges": {"tenure_months": [0, 600], "weekly_active_ratio": [0, 1]},
            "allowed": {"plan_tier": [0, 1, 2], "region_code": [0, 1, 2]},
        },
        "estimator": {"kind": "lightgbm", "params": {"num_leaves": 7, "learning_rate": 0.05, "min_data_in_leaf": 20},
                      "rounds": 40, "workers": 2, "checkpoint_every": 10},
        "holdout": {"share": 0.2},
        "slices": ["tenant", "plan_tier"],
    }  # fmt: skip
    for key, value in overrides.items():
        config[key] = value
    return config
