"""The progressive rollout (5% -> 25% -> 50% -> 100%) as pure logic, and where its canary weight is published.

One central controller per region (`mlplat-promote rollout`) calls `decide()` with the window both variants
shared and publishes the resulting weight as registered-model tags; every serving replica of the region polls
those tags with its aliases (`published_weight()`), so all replicas switch together. The rule is the seeds':
roll back when, over the same window, the canary's error rate is at least double the champion's or its p99 at
least 50 % higher; advance after a soak with enough requests on both variants. No clock, no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

WEIGHT_TAG = "mlplat.canary.{region}.weight"
VERSION_TAG = "mlplat.canary.{region}.version"


def weight_tag(region: str) -> str:
    """Registered-model tag holding the challenger's share of traffic in `region` ("0.25")."""
    return WEIGHT_TAG.format(region=region)


def version_tag(region: str) -> str:
    """Registered-model tag naming the version the published weight is for: a weight never routes elsewhere."""
    return VERSION_TAG.format(region=region)


def published_weight(tags: Mapping[str, str], region: str, challenger_version: str | None) -> float:
    """The weight a replica applies: the region's published weight when it names the challenger it serves, else 0."""
    if challenger_version is None or tags.get(version_tag(region)) != str(challenger_version):
        return 0.0
    try:
        weight = float(tags.get(weight_tag(region), "0"))
    except ValueError:
        return 0.0
    return min(max(weight, 0.0), 1.0)


class Action(StrEnum):
    START = "start"
    HOLD = "hold"
    ADVANCE = "advance"
    ROLLBACK = "rollback"
    COMPLETE = "complete"


@dataclass(frozen=True)
class WindowStats:
    """One variant's traffic over the evaluation window."""

    requests: float
    errors: float
    p99_seconds: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Gates:
    """The rollout's rule: steps, soak, samples needed, and the rollback ratios (seeds: errors x2, p99 x1.5)."""

    steps: Sequence[float] = (0.05, 0.25, 0.5, 1.0)
    soak_seconds: float = 300.0
    min_requests: int = 200  # per variant, in the window, before anything is judged
    error_ratio: float = 2.0
    latency_ratio: float = 1.5
    min_error_rate: float = 0.001  # a champion at 0 errors: the canary needs at least this rate to count as doubled


@dataclass(frozen=True)
class RolloutState:
    """Where one region's rollout stands: `index` into the steps, since when, and pending/running/... ."""

    state: str = "pending"  # pending, running, rolled_back, complete
    index: int = -1
    step_started: float = 0.0

    def weight(self, gates: Gates) -> float:
        if self.state in ("pending", "rolled_back") or self.index < 0:
            return 0.0
        return float(gates.steps[self.index])


@dataclass(frozen=True)
class Decision:
    action: Action
    state: RolloutState
    weight: float
    reason: str


def start(gates: Gates, now: float) -> Decision:
    state = RolloutState("running", 0, now)
    return Decision(Action.START, state, state.weight(gates), "rollout started")


def decide(gates: Gates, state: RolloutState, now: float, champion: WindowStats, canary: WindowStats) -> Decision:
    """One decision from the window both variants shared since the current step began."""
    weight = state.weight(gates)
    if state.state != "running":
        return Decision(Action.HOLD, state, weight, f"rollout {state.state}")
    short = [
        f"{name} {stats.requests:.0f} requests < {gates.min_requests}"
        for name, stats in (("champion", champion), ("challenger", canary))
        if stats.requests < gates.min_requests and not (name == "champion" and weight >= 1.0)
    ]
    if short:
        return Decision(Action.HOLD, state, weight, "waiting for samples: " + ", ".join(short))
    breach = breach_reason(gates, champion, canary)
    if breach is not None:
        rolled_back = replace(state, state="rolled_back")
        return Decision(Action.ROLLBACK, rolled_back, 0.0, breach)
    soaked = now - state.step_started
    if soaked < gates.soak_seconds:
        return Decision(Action.HOLD, state, weight, f"soaking: {soaked:.0f}s of {gates.soak_seconds:.0f}s")
    if state.index == len(gates.steps) - 1:
        done = replace(state, state="complete")
        return Decision(Action.COMPLETE, done, weight, "soaked at the last step with healthy metrics")
    advanced = RolloutState("running", state.index + 1, now)
    return Decision(Action.ADVANCE, advanced, advanced.weight(gates), "soaked with healthy metrics")


def breach_reason(gates: Gates, champion: WindowStats, canary: WindowStats) -> str | None:
    """The seeds' rollback rule over one shared window; None when the canary is healthy."""
    floor = max(champion.error_rate, gates.min_error_rate)
    if canary.errors and canary.error_rate >= gates.error_ratio * floor:
        return (
            f"challenger error rate {canary.error_rate:.4f} >= {gates.error_ratio:g} x champion's "
            f"{champion.error_rate:.4f}"
        )
    if (
        canary.p99_seconds is not None
        and champion.p99_seconds is not None
        and champion.p99_seconds > 0
        and canary.p99_seconds >= gates.latency_ratio * champion.p99_seconds
    ):
        return (
            f"challenger p99 {canary.p99_seconds * 1000:.1f} ms >= {gates.latency_ratio:g} x champion's "
            f"{champion.p99_seconds * 1000:.1f} ms"
        )
    return None
