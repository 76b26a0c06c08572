"""The quality gates as pure functions: metrics and figures in, `Check`s out (no registry, no clock, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from runtime.promote.config import MetricGate, PromotionConfig, SliceGate


@dataclass(frozen=True)
class Check:
    """One gate's verdict and the figures that decided it."""

    name: str
    passed: bool
    observed: Any
    limit: Any
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def classification_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float | None]:
    """The training metrics of a binary classifier from positive-class scores (None where undefined)."""
    labels = labels.astype(int)
    predicted = (scores >= threshold).astype(int)
    two_classes = len(np.unique(labels)) == 2
    clipped = np.clip(scores, 1e-15, 1 - 1e-15)
    return {
        "roc_auc": float(skm.roc_auc_score(labels, scores)) if two_classes else None,
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "log_loss": float(skm.log_loss(labels, clipped, labels=[0, 1])),
        "brier_score": float(skm.brier_score_loss(labels, clipped)) if two_classes else None,
        "positive_rate": float(predicted.mean()) if len(predicted) else None,
    }


def metric_checks(
    config: PromotionConfig, candidate: Mapping[str, float | None], champion: Mapping[str, float | None] | None
) -> list[Check]:
    """Absolute thresholds and regression against the champion, with MLflow MetricThreshold's semantics."""
    checks: list[Check] = []
    for name, gate in config.metrics.items():
        value = candidate.get(name)
        better = config.greater_is_better(name)
        if value is None:
            checks.append(Check(f"metric.{name}", False, None, None, f"{name} cannot be computed on the holdout"))
            continue
        checks += _absolute(name, gate, value, better)
        baseline = champion.get(name) if champion is not None else None
        if baseline is not None:
            checks += _relative(name, gate, value, baseline, better)
    return checks


def _absolute(name: str, gate: MetricGate, value: float, better: bool) -> list[Check]:
    checks = []
    if gate.min is not None:
        checks.append(
            Check(f"metric.{name}.min", value >= gate.min, value, gate.min, f"{name} {value:.4f} >= {gate.min}")
        )
    if gate.max is not None:
        checks.append(
            Check(f"metric.{name}.max", value <= gate.max, value, gate.max, f"{name} {value:.4f} <= {gate.max}")
        )
    return checks


def _relative(name: str, gate: MetricGate, value: float, baseline: float, better: bool) -> list[Check]:
    sign = 1.0 if better else -1.0
    change = sign * (value - baseline)  # > 0: the candidate is better
    checks = []
    if gate.max_drop is not None:
        checks.append(
            Check(f"metric.{name}.regression", change >= -gate.max_drop, round(change, 6), -gate.max_drop,
                  f"{name} {value:.4f} vs champion {baseline:.4f}: change {change:+.4f}, at most {gate.max_drop} worse")
        )  # fmt: skip
    if gate.max_relative_drop is not None:
        allowed = gate.max_relative_drop * abs(baseline)
        checks.append(
            Check(f"metric.{name}.relative_regression", change >= -allowed, round(change, 6), -allowed,
                  f"{name} {value:.4f} vs champion {baseline:.4f}: at most {gate.max_relative_drop:.1%} worse")
        )  # fmt: skip
    if gate.min_absolute_change is not None:
        checks.append(
            Check(f"metric.{name}.min_absolute_change", change >= gate.min_absolute_change, round(change, 6),
                  gate.min_absolute_change, f"{name} must improve on {baseline:.4f} by {gate.min_absolute_change}")
        )  # fmt: skip
    if gate.min_relative_change is not None:
        needed = gate.min_relative_change * abs(baseline)
        # MLflow: with a zero baseline any change in the right direction passes
        passed = change > 0 if baseline == 0 else change >= needed
        checks.append(
            Check(f"metric.{name}.min_relative_change", passed, round(change, 6), needed,
                  f"{name} must improve on {baseline:.4f} by {gate.min_relative_change:.1%}")
        )  # fmt: skip
    return checks


@dataclass(frozen=True)
class SliceFigures:
    """One slice's rows, metric for both models, and the candidate's positive-prediction rate."""

    rows: int
    candidate: float | None
    champion: float | None
    positive_rate: float


def slice_figures(
    gate: SliceGate,
    slices: np.ndarray,
    labels: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray | None,
    threshold: float,
) -> dict[str, SliceFigures]:
    figures = {}
    for value in sorted({str(v) for v in slices}):
        mask = np.asarray([str(v) == value for v in slices])
        own = classification_metrics(labels[mask], candidate[mask], threshold)
        theirs = classification_metrics(labels[mask], champion[mask], threshold) if champion is not None else None
        figures[value] = SliceFigures(
            rows=int(mask.sum()),
            candidate=own.get(gate.metric),
            champion=theirs.get(gate.metric) if theirs is not None else None,
            positive_rate=float((candidate[mask] >= threshold).mean()),
        )
    return figures


def slice_checks(gate: SliceGate, figures: Mapping[str, SliceFigures], greater_is_better: bool) -> list[Check]:
    """Per-slice regression against the champion and the four-fifths rule across slices."""
    checks = []
    judged = {name: f for name, f in figures.items() if f.rows >= gate.min_rows}
    sign = 1.0 if greater_is_better else -1.0
    for name, f in judged.items():
        if f.candidate is None or f.champion is None:
            continue
        change = sign * (f.candidate - f.champion)
        checks.append(
            Check(f"slice.{gate.column}={name}.{gate.metric}.regression", change >= -gate.max_drop,
                  round(change, 6), -gate.max_drop,
                  f"{gate.metric} on {gate.column}={name} ({f.rows} rows) {f.candidate:.4f} vs champion "
                  f"{f.champion:.4f}: at most {gate.max_drop} worse")
        )  # fmt: skip
    rates = {name: f.positive_rate for name, f in judged.items()}
    if len(rates) >= 2:
        highest = max(rates.values())
        ratio = min(rates.values()) / highest if highest > 0 else 1.0
        lowest = min(rates, key=lambda n: rates[n])
        checks.append(
            Check(f"slice.{gate.column}.disparate_impact", ratio >= gate.disparate_impact_min, round(ratio, 4),
                  gate.disparate_impact_min,
                  f"lowest positive rate ({gate.column}={lowest}: {rates[lowest]:.3f}) over the highest "
                  f"({highest:.3f}) = {ratio:.3f}; four-fifths rule needs >= {gate.disparate_impact_min}")
        )  # fmt: skip
    return checks


def p99(samples: Sequence[float]) -> float:
    return float(np.quantile(np.asarray(samples), 0.99))


def latency_check(samples_ms: Sequence[float], budget_ms: float, planned: int) -> Check:
    observed = p99(samples_ms)
    early = (
        f" (stopped after {len(samples_ms)} of {planned} rows: p99 already over budget)"
        if len(samples_ms) < planned
        else ""
    )
    detail = f"single-row p99 {observed:.2f} ms through the serving path, budget {budget_ms} ms{early}"
    return Check("latency.p99_ms", observed <= budget_ms, round(observed, 3), budget_ms, detail)


def over_budget_enough(samples_ms: Sequence[float], budget_ms: float, planned: int) -> bool:
    """True once so many of the planned samples exceed the budget that the p99 of all of them must too."""
    over = sum(1 for s in samples_ms if s > budget_ms)
    return over > math.ceil(planned * 0.01)


def size_check(size_bytes: int, limit_mb: float) -> Check:
    size_mb = size_bytes / 1e6
    return Check("size_mb", size_mb <= limit_mb, round(size_mb, 3), limit_mb,
                 f"model artifacts {size_mb:.2f} MB, limit {limit_mb} MB")  # fmt: skip


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = True


def signature_check(
    candidate_inputs: Sequence[Column] | None,
    champion_inputs: Sequence[Column] | None,
    candidate_output: str | None,
    champion_output: str | None,
) -> Check:
    """Compatible: every champion input still accepted with the same type, extra inputs optional, same output."""
    if candidate_inputs is None:
        return Check("signature", False, None, "compatible", "the candidate has no input signature")
    if champion_inputs is None:
        return Check("signature", True, None, "compatible", "no champion signature to compare with")
    problems = []
    theirs = {c.name: c for c in champion_inputs}
    ours = {c.name: c for c in candidate_inputs}
    for name, column in theirs.items():
        if name not in ours:
            problems.append(f"input `{name}` ({column.type}) is gone")
        elif ours[name].type != column.type:
            problems.append(f"input `{name}` changed type {column.type} -> {ours[name].type}")
    problems += [
        f"new input `{n}` is required (callers do not send it)"
        for n, c in ours.items()
        if n not in theirs and c.required
    ]
    if candidate_output != champion_output:
        problems.append(f"output type changed {champion_output} -> {candidate_output}")
    detail = "; ".join(problems) or f"{len(ours)} inputs cover the champion's {len(theirs)}; same output type"
    return Check("signature", not problems, len(problems), 0, detail)
