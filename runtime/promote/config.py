"""`gates.yaml`: the versioned promotion policy (quality gates and the rollout rule), one pydantic model tree.

Defaults are the seeds' (DESIGN.md section 12). A bad file is a `PromoteError` naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runtime.promote.errors import PromoteError
from runtime.serving.rollout import Gates

# metrics where a lower value is better (MLflow's MetricThreshold `greater_is_better=False`)
LOWER_IS_BETTER = frozenset({"log_loss", "brier_score", "rmse", "mae", "mse"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricGate(_Strict):
    """One metric: an absolute floor (or ceiling) and the regression tolerated against the champion.

    `min`/`max`: MLflow MetricThreshold's `threshold`. `max_drop`/`max_relative_drop`: the most the candidate may
    be worse than the champion (absolute, or relative to |champion|). `min_absolute_change`/`min_relative_change`:
    MLflow's own required improvement, with its formulas.
    """

    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)
    max_relative_drop: float | None = Field(default=None, ge=0, le=1)
    min_absolute_change: float | None = Field(default=None, gt=0)
    min_relative_change: float | None = Field(default=None, ge=0, le=1)
    greater_is_better: bool | None = None


class SliceGate(_Strict):
    """Per-slice regression limit and the four-fifths rule over one slice column."""

    column: str = "tenant"
    metric: str = "roc_auc"
    max_drop: float = Field(default=0.02, ge=0)
    disparate_impact_min: float = Field(default=0.8, ge=0, le=1)
    min_rows: int = Field(default=30, ge=1, description="Smaller slices are reported, not judged.")


class LatencyGate(_Strict):
    p99_ms_max: float = Field(default=100.0, gt=0)
    samples: int = Field(default=200, ge=100, le=100_000)


class RolloutPolicy(_Strict):
    """The progressive rollout: steps, soak, samples per variant, rollback ratios, region order, approval."""

    steps: tuple[float, ...] = (0.05, 0.25, 0.5, 1.0)
    soak_seconds: float = Field(default=300.0, gt=0)
    min_requests: int = Field(default=200, ge=1)
    error_ratio: float = Field(default=2.0, gt=1)
    latency_ratio: float = Field(default=1.5, gt=1)
    regions: tuple[str, ...] = ()
    approval: bool = True
    poll_seconds: float = Field(default=10.0, gt=0)

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if not steps or any(not 0 < s <= 1 for s in steps) or list(steps) != sorted(set(steps)) or steps[-1] != 1:
            raise ValueError("must be increasing weights in (0, 1] ending at 1, e.g. [0.05, 0.25, 0.5, 1.0]")
        return steps

    def gates(self) -> Gates:
        return Gates(
            steps=self.steps,
            soak_seconds=self.soak_seconds,
            min_requests=self.min_requests,
            error_ratio=self.error_ratio,
            latency_ratio=self.latency_ratio,
        )


class PromotionConfig(_Strict):
    metrics: dict[str, MetricGate] = Field(
        default_factory=lambda: {
            "roc_auc": MetricGate(min=0.80, max_drop=0.01),
            "accuracy": MetricGate(min=0.85),
        }
    )
    slices: SliceGate | None = Field(default_factory=SliceGate)
    latency: LatencyGate = Field(default_factory=LatencyGate)
    size_mb_max: float = Field(default=500.0, gt=0)
    signature: Literal["compatible", "any"] = "compatible"
    threshold: float = Field(default=0.5, gt=0, lt=1, description="Score at or above which a row is positive.")
    rollout: RolloutPolicy = Field(default_factory=RolloutPolicy)

    def greater_is_better(self, metric: str) -> bool:
        gate = self.metrics.get(metric)
        if gate is not None and gate.greater_is_better is not None:
            return gate.greater_is_better
        return metric not in LOWER_IS_BETTER


def load_config(path: Path | None) -> PromotionConfig:
    """The policy in `path`, or the seeds' defaults without one."""
    if path is None:
        return PromotionConfig()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise PromoteError(f"cannot read {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise PromoteError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise PromoteError(f"{path}: expected a mapping at the top level")
    try:
        return PromotionConfig.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"field `{'.'.join(str(p) for p in item['loc'])}`: {item['msg']}" for item in error.errors()
        )
        raise PromoteError(f"{path}: {problems}") from None
