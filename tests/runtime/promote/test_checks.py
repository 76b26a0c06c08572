"""The gates as pure functions: MLflow MetricThreshold semantics, slices and the four-fifths rule, the latency
early stop, signature compatibility, gates.yaml errors, and the append-only history on local disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runtime.promote import checks
from runtime.promote.checks import Column, SliceFigures
from runtime.promote.config import MetricGate, PromotionConfig, SliceGate, load_config
from runtime.promote.errors import PromoteError
from runtime.promotion_history import HistoryError, HistoryStore


def _verdicts(config: PromotionConfig, candidate: dict, champion: dict | None) -> dict[str, bool]:
    return {c.name: c.passed for c in checks.metric_checks(config, candidate, champion)}


def test_absolute_and_regression_bounds() -> None:
    config = PromotionConfig(metrics={"roc_auc": MetricGate(min=0.8, max_drop=0.01, max_relative_drop=0.02)})
    assert _verdicts(config, {"roc_auc": 0.85}, {"roc_auc": 0.855}) == {
        "metric.roc_auc.min": True, "metric.roc_auc.regression": True, "metric.roc_auc.relative_regression": True,
    }  # fmt: skip
    worse = _verdicts(config, {"roc_auc": 0.83}, {"roc_auc": 0.85})
    assert not worse["metric.roc_auc.regression"] and not worse["metric.roc_auc.relative_regression"]
    assert _verdicts(config, {"roc_auc": 0.79}, None) == {"metric.roc_auc.min": False}  # no champion: absolute only


def test_lower_is_better_metrics_are_mirrored() -> None:
    config = PromotionConfig(metrics={"log_loss": MetricGate(max=0.5, max_drop=0.01)})
    assert _verdicts(config, {"log_loss": 0.40}, {"log_loss": 0.395})["metric.log_loss.regression"]
    assert not _verdicts(config, {"log_loss": 0.42}, {"log_loss": 0.40})["metric.log_loss.regression"]


def test_mlflow_required_improvement_formulas() -> None:
    config = PromotionConfig(metrics={"f1": MetricGate(min_absolute_change=0.01, min_relative_change=0.05)})
    assert _verdicts(config, {"f1": 0.62}, {"f1": 0.60}) == {
        "metric.f1.min_absolute_change": True, "metric.f1.min_relative_change": False,  # needs 0.03
    }  # fmt: skip
    # MLflow: with a zero baseline, any improvement passes the relative change
    assert _verdicts(config, {"f1": 0.001}, {"f1": 0.0})["metric.f1.min_relative_change"]


def test_uncomputable_metric_fails() -> None:
    assert _verdicts(PromotionConfig(), {"roc_auc": None, "accuracy": 0.9}, None)["metric.roc_auc"] is False


def test_slices_regression_and_four_fifths() -> None:
    gate = SliceGate(max_drop=0.02, disparate_impact_min=0.8, min_rows=10)
    figures = {
        "a": SliceFigures(rows=100, candidate=0.90, champion=0.90, positive_rate=0.50),
        "b": SliceFigures(rows=100, candidate=0.85, champion=0.90, positive_rate=0.38),  # 0.76 of a's rate
        "tiny": SliceFigures(rows=3, candidate=0.1, champion=0.9, positive_rate=0.0),  # reported, not judged
    }
    verdicts = {c.name: c for c in checks.slice_checks(gate, figures, greater_is_better=True)}
    assert verdicts["slice.tenant=a.roc_auc.regression"].passed
    assert not verdicts["slice.tenant=b.roc_auc.regression"].passed
    impact = verdicts["slice.tenant.disparate_impact"]
    assert not impact.passed and impact.observed == 0.76 and "tenant=b" in impact.detail
    assert not any("tiny" in name for name in verdicts)


def test_slice_figures_from_scores() -> None:
    labels = np.array([0, 1, 0, 1, 0, 1])
    scores = np.array([0.1, 0.9, 0.2, 0.8, 0.6, 0.7])
    figures = checks.slice_figures(SliceGate(metric="accuracy"), np.array(["a", "a", "a", "b", "b", "b"]),
                                   labels, scores, None, 0.5)  # fmt: skip
    assert figures["a"].candidate == 1.0 and figures["b"].positive_rate == 1.0 and figures["a"].champion is None


def test_latency_stops_once_the_p99_must_be_over_budget() -> None:
    planned = 200  # 1 % is 2 samples: the third over budget decides
    assert not checks.over_budget_enough([150.0, 150.0], 100, planned)
    assert checks.over_budget_enough([150.0, 1.0, 150.0, 150.0], 100, planned)
    samples = [1.0] * 197 + [150.0] * 3
    assert checks.p99(samples) > 100  # the rule agrees with numpy's p99 over the full run
    check = checks.latency_check([150.0] * 3, 100, planned)
    assert not check.passed and "stopped after 3 of 200" in check.detail


def test_signature_compatibility() -> None:
    champion = [Column("a", "double"), Column("b", "long")]
    same = checks.signature_check(champion, champion, "double", "double")
    assert same.passed
    extra_optional = [*champion, Column("c", "double", required=False)]
    assert checks.signature_check(extra_optional, champion, "double", "double").passed
    broken = checks.signature_check([Column("a", "string"), Column("d", "double")], champion, "long", "double")
    assert not broken.passed and broken.observed == 4
    for part in ("`a` changed type double -> string", "`b` (long) is gone", "new input `d` is required",
                 "output type changed double -> long"):  # fmt: skip
        assert part in broken.detail


def test_gates_file_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text("rollout: {steps: [0.5, 0.25]}\n")
    with pytest.raises(PromoteError, match=r"gates.yaml: field `rollout.steps`"):
        load_config(path)
    path.write_text("metrics: {roc_auc: {minimum: 0.8}}\n")
    with pytest.raises(PromoteError, match=r"field `metrics.roc_auc.minimum`: Extra inputs"):
        load_config(path)
    with pytest.raises(PromoteError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    assert load_config(None).latency.p99_ms_max == 100


def test_local_history_is_append_only_and_reports_broken_entries(tmp_path: Path) -> None:
    store = HistoryStore(str(tmp_path / "history"))
    first = store.append("churn", "gate", version="3", why="all gates passed", by="ci", auc=0.9)
    store.append("churn", "approval", version="3", why="CAB-1", by="alice")
    events = store.events("churn")
    assert [e["event"] for e in events] == ["gate", "approval"] and events[0] == first
    files = sorted((tmp_path / "history" / "model=churn").glob("*.jsonl"))
    assert len(files) == 2 and json.loads(files[0].read_text())["auc"] == 0.9
    files[1].write_text("{not json\n")
    with pytest.raises(HistoryError, match="line 1 is not JSON"):
        store.events("churn")
    assert store.events("other") == []
