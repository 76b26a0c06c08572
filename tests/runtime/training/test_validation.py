"""The data-validation gate: each rule fails on data built to break it, naming the column and the rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlplat.dev import training_data
from runtime.training import validation
from runtime.training.config import TrainingConfig, parse_config
from runtime.training.dataset import FEATURE_TIME

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _config(**validation_rules: object) -> TrainingConfig:
    data = training_data.training_config("m", "f/", "l/")
    data["validation"] = {**data["validation"], "min_rows": 100, **validation_rules}
    return parse_config(data, "training.yaml")


def _good(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(rows)],
            "tenant": "acme-eu",
            "label_time": pd.Timestamp(NOW - timedelta(days=1)),
            "churned": (rng.random(rows) < 0.3).astype(int),
            "tenure_months": rng.uniform(0, 100, rows),
            "seats": rng.uniform(1, 50, rows),
            "weekly_active_ratio": rng.uniform(0, 1, rows),
            "support_tickets_90d": rng.poisson(2, rows).astype(float),
            "plan_tier": rng.integers(0, 3, rows).astype(float),
            "region_code": rng.integers(0, 3, rows).astype(float),
            FEATURE_TIME: pd.Timestamp(NOW - timedelta(days=2)),
        }
    )


def test_good_data_passes() -> None:
    report = validation.report(_good(), _config(), NOW)
    assert report["passed"] is True and report["failures"] == []


def _set(column: str, values: Callable[[pd.DataFrame], object]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = values(frame)
        return frame

    return edit


BREAKS: dict[str, tuple[str, str, Callable[[pd.DataFrame], pd.DataFrame]]] = {
    "required": ("seats", "required", lambda f: f.drop(columns=["seats"])),
    "dtype": ("seats", "dtype", _set("seats", lambda f: ["many"] * len(f))),
    "null share": ("weekly_active_ratio", "max_null_share", _set("weekly_active_ratio", lambda f: np.where(np.arange(len(f)) % 10 == 0, np.nan, 0.5))),
    "range": ("tenure_months", "range", _set("tenure_months", lambda f: np.where(np.arange(len(f)) < 3, 700.0, 10.0))),
    "allowed": ("plan_tier", "allowed", _set("plan_tier", lambda f: np.where(np.arange(len(f)) < 2, 7.0, 1.0))),
    "min rows": ("<dataset>", "min_rows", lambda f: f.head(50)),
    "label balance": ("churned", "label_balance", _set("churned", lambda f: np.where(np.arange(len(f)) < 2, 1, 0))),
    "label values": ("churned", "allowed", _set("churned", lambda f: np.full(len(f), 3))),
    "freshness": (FEATURE_TIME, "max_age_days", _set(FEATURE_TIME, lambda f: pd.Timestamp(NOW - timedelta(days=30)))),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_each_rule_fails_on_data_built_to_break_it(case: str) -> None:
    column, rule, breaker = BREAKS[case]
    report = validation.report(breaker(_good()), _config(), NOW)
    assert report["passed"] is False
    matching = [f for f in report["failures"] if f["column"] == column and f["rule"] == rule]
    assert matching, f"expected {column}/{rule} among {report['failures']}"
    message = matching[0]["message"]
    assert column in message and rule in message


def test_every_failure_is_listed_at_once() -> None:
    frame = _good()
    frame.loc[:5, "tenure_months"] = -1.0
    frame.loc[:5, "plan_tier"] = 9.0
    failures = validation.report(frame, _config(), NOW)["failures"]
    assert {(f["column"], f["rule"]) for f in failures} == {("tenure_months", "range"), ("plan_tier", "allowed")}
    assert "-1.0" in next(f["message"] for f in failures if f["column"] == "tenure_months")
