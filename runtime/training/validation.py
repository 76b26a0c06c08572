"""The data-validation gate: one pandera schema built from the config, checked lazily so every failure is listed.

Rules: required columns, dtypes (features and label numeric: categorical features are integer codes, as the
online store holds them), null share per column, value ranges, allowed categories, minimum rows, label balance
(classifier) and freshness (the newest feature event at most `max_age_days` old). Each failure is reported as
`{column, rule, message}`; the message names the column and the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from runtime.training.config import Task, TrainingConfig
from runtime.training.dataset import FEATURE_TIME

REPORT_SCHEMA = "mlplat.validation/v1"
DATASET = "<dataset>"
EXAMPLES = 5


def _series_check(rule: str, test: Callable[[pd.Series], bool], description: str) -> pa.Check:
    # pandera reports a check by its `error` when one is given, so the rule name goes in `name` and the
    # human text in `description`; `_message` writes the failure text.
    return pa.Check(test, name=rule, description=description, ignore_na=False)


def _null_share(limit: float) -> pa.Check:
    return _series_check("max_null_share", lambda s: float(s.isna().mean()) <= limit, f"null share above {limit}")


def _numeric() -> pa.Check:
    return _series_check(
        "dtype",
        lambda s: pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s),
        "must be numeric (categorical features are integer codes)",
    )


def _label_balance(minimum: float) -> pa.Check:
    def balanced(series: pd.Series) -> bool:
        shares = series.dropna().value_counts(normalize=True)
        return len(shares) >= 2 and float(shares.min()) >= minimum

    return _series_check("label_balance", balanced, f"needs two classes, the rarer at least {minimum:.1%}")


def _binary() -> pa.Check:
    return pa.Check(lambda s: s.isin([0, 1]), name="allowed", description="a classifier's label is 0 or 1")


def _fresh(max_age_days: float, now: datetime) -> pa.Check:
    oldest_allowed = pd.Timestamp(now - timedelta(days=max_age_days))
    return _series_check(
        "max_age_days",
        lambda s: bool(s.notna().any()) and s.max() >= oldest_allowed,
        f"newest event older than {max_age_days} days (before {oldest_allowed.isoformat()})",
    )


def schema(config: TrainingConfig, now: datetime) -> pa.DataFrameSchema:
    rules = config.validation
    label = config.data.label
    columns: dict[str, pa.Column] = {}
    for name in config.features:
        checks = [_numeric(), _null_share(rules.max_null_share)]
        if name in rules.ranges:
            low, high = rules.ranges[name]
            checks.append(pa.Check.in_range(low, high))
        if name in rules.allowed:
            checks.append(pa.Check.isin(rules.allowed[name]))
        columns[name] = pa.Column(nullable=True, checks=checks, required=True)
    label_checks = [_numeric(), _null_share(0.0)]
    if config.task is Task.CLASSIFIER:
        label_checks += [_binary(), _label_balance(rules.min_label_share)]
    columns[label] = pa.Column(nullable=True, checks=label_checks, required=True)
    columns[FEATURE_TIME] = pa.Column(nullable=True, checks=[_fresh(rules.max_age_days, now)], required=True)
    min_rows = pa.Check(lambda frame: len(frame) >= rules.min_rows, name="min_rows")
    return pa.DataFrameSchema(columns, checks=[min_rows], strict=False)


def _rule(check: str) -> str:
    if check == "column_in_dataframe":
        return "required"
    if check.startswith("in_range"):
        return "range"
    if check.startswith("isin"):
        return "allowed"
    if check.startswith("dtype("):
        return "dtype"
    return check


def _detail(column: str, rule: str, cases: pd.DataFrame, frame: pd.DataFrame, config: TrainingConfig) -> str:
    rules = config.validation
    if rule == "required":
        return "the column is missing"
    if rule == "min_rows":
        return f"{len(frame)} rows, fewer than {rules.min_rows}"
    series = frame[column]
    limit = 0.0 if column == config.data.label else rules.max_null_share
    texts: dict[str, Callable[[], str]] = {
        "max_null_share": lambda: f"{series.isna().mean():.3f} of rows are null (limit {limit})",
        "dtype": lambda: f"{series.dtype} is not numeric (categorical features are integer codes)",
        "label_balance": lambda: (
            f"class shares {series.dropna().value_counts(normalize=True).round(4).to_dict()}, "
            f"the rarer must be at least {rules.min_label_share}"
        ),
        "max_age_days": lambda: f"newest event {series.max()} is older than {rules.max_age_days} days",
    }
    if rule in texts:
        return texts[rule]()
    examples = list(dict.fromkeys(cases["failure_case"].tolist()))[:EXAMPLES]
    allowed = [0, 1] if column == config.data.label else rules.allowed.get(column)
    bound = {"range": rules.ranges.get(column), "allowed": allowed}.get(rule, "the rule")
    return f"{len(cases)} value(s) outside {bound}, e.g. {examples}"


def _message(column: str, rule: str, cases: pd.DataFrame, frame: pd.DataFrame, config: TrainingConfig) -> str:
    return f"column {column!r}: rule {rule}: {_detail(column, rule, cases, frame, config)}"


def failures(frame: pd.DataFrame, config: TrainingConfig, now: datetime) -> list[dict[str, str]]:
    """Every rule the frame breaks, as `{column, rule, message}`; [] when it passes."""
    try:
        schema(config, now).validate(frame, lazy=True)
    except SchemaErrors as error:
        cases = error.failure_cases
        found: list[dict[str, str]] = []
        for (column, check), group in cases.groupby(
            [cases["column"].where(cases["column"].notna(), None).fillna(cases["failure_case"].astype(str)), "check"],
            sort=False,
            dropna=False,
        ):
            rule = _rule(str(check))
            name = DATASET if rule == "min_rows" else str(column)
            found.append({"column": name, "rule": rule, "message": _message(name, rule, group, frame, config)})
        return found
    return []


def report(frame: pd.DataFrame, config: TrainingConfig, now: datetime) -> dict[str, Any]:
    """The validation report logged to the run (`validation/report.json`); `passed` is the gate's answer."""
    found = failures(frame, config, now)
    return {
        "schema": REPORT_SCHEMA,
        "passed": not found,
        "rows": len(frame),
        "checked_at": now.isoformat(),
        "rules": config.validation.model_dump(mode="json"),
        "failures": found,
    }
