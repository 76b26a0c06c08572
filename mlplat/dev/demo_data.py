"""The demo's business case: customer churn for a B2B SaaS, generated with realistic structure.

Features are numeric, as the online store holds them: categorical ones (plan, region) are small integer codes,
declared categorical to the drift job. `shifted=True` draws the same population after a bad quarter: activity
drops, support tickets rise and the plan mix moves down-market.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ["tenure_months", "seats", "weekly_active_ratio", "support_tickets_90d", "plan_tier", "region_code"]
CATEGORICAL = ["plan_tier", "region_code"]
PLANS = ("basic", "pro", "enterprise")
REGIONS = ("emea", "amer", "apac")


def customers(rows: int, seed: int, *, shifted: bool = False) -> pd.DataFrame:
    """Feature rows of `rows` customers (no label)."""
    rng = np.random.default_rng(seed)
    plan_mix = [0.6, 0.3, 0.1] if shifted else [0.45, 0.4, 0.15]
    plan = rng.choice(3, size=rows, p=plan_mix)
    tenure = rng.gamma(shape=2.0, scale=9.0 if not shifted else 6.0, size=rows).clip(0, 120)
    seats = np.round(rng.lognormal(mean=1.6 + plan * 0.9, sigma=0.6, size=rows)).clip(1, 5000)
    activity = rng.beta(5, 3, size=rows) if not shifted else rng.beta(2.5, 4, size=rows)
    tickets = rng.poisson(lam=(1.5 if not shifted else 4.0) + (1 - activity) * 2, size=rows)
    region = rng.choice(3, size=rows, p=[0.4, 0.4, 0.2])
    return pd.DataFrame(
        {
            "tenure_months": tenure.round(1),
            "seats": seats.astype(float),
            "weekly_active_ratio": activity.round(3),
            "support_tickets_90d": tickets.astype(float),
            "plan_tier": plan.astype(float),
            "region_code": region.astype(float),
        }
    )


def churned(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """The label: short tenure, low activity and many tickets churn; enterprise seats stay."""
    rng = np.random.default_rng(seed)
    logit = (
        1.2
        - 0.05 * frame["tenure_months"]
        - 3.0 * frame["weekly_active_ratio"]
        + 0.35 * frame["support_tickets_90d"]
        - 0.6 * frame["plan_tier"]
        - 0.15 * np.log1p(frame["seats"])
    )
    probability = 1 / (1 + np.exp(-logit))
    return (rng.random(len(frame)) < probability).astype(int)
