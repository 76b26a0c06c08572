"""The progressive rollout controller (5% -> 25% -> 50% -> 100%) as pure logic: windows in, decisions out.

Rolls back when, over the same window, the canary's error rate is at least double the champion's or its p99
latency at least 50% higher (the seeds' rule); advances after a soak with enough canary traffic; records every
step. No clock, no I/O: the caller passes `now` and the window statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    START = "start"
    HOLD = "hold"
    ADVANCE = "advance"
    ROLLBACK = "rollback"
    COMPLETE = "complete"


@dataclass(frozen=True)
class WindowStats:
    """One variant's traffic over the evaluation window."""

    requests: int
    errors: int
    p99_seconds: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Gates:
    soak_seconds: float = 300.0
    min_requests: int = 200
    error_ratio: float = 2.0  # canary error rate >= this x champion's -> rollback
    latency_ratio: float = 1.5  # canary p99 >= this x champion's -> rollback
    min_error_rate: float = 0.001  # a champion at 0 errors: the canary needs at least this rate to count as doubled


@dataclass(frozen=True)
class Step:
    at: float
    action: Action
    weight: float
    reason: str


@dataclass
class RolloutController:
    steps: Sequence[float] = (0.05, 0.25, 0.5, 1.0)
    gates: Gates = field(default_factory=Gates)
    index: int = -1
    state: str = "pending"  # pending, running, rolled_back, complete
    step_started: float = 0.0
    history: list[Step] = field(default_factory=list)

    @property
    def weight(self) -> float:
        if self.state in ("pending", "rolled_back") or self.index < 0:
            return 0.0
        return self.steps[self.index]

    def start(self, now: float) -> Step:
        self.index, self.state, self.step_started = 0, "running", now
        return self._record(now, Action.START, "rollout started")

    def evaluate(self, now: float, champion: WindowStats, canary: WindowStats) -> Step:
        """One decision from the window both variants shared; recorded when it changes anything."""
        if self.state != "running":
            return Step(now, Action.HOLD, self.weight, f"rollout {self.state}")
        if canary.requests < self.gates.min_requests:
            return Step(
                now,
                Action.HOLD,
                self.weight,
                f"{canary.requests} canary requests < {self.gates.min_requests}",
            )
        breach = self._breach(champion, canary)
        if breach is not None:
            self.state = "rolled_back"
            return self._record(now, Action.ROLLBACK, breach)
        if now - self.step_started < self.gates.soak_seconds:
            return Step(now, Action.HOLD, self.weight, "soaking")
        if self.index == len(self.steps) - 1:
            self.state = "complete"
            return self._record(now, Action.COMPLETE, "soaked at the last step with healthy gates")
        self.index += 1
        self.step_started = now
        return self._record(now, Action.ADVANCE, "soaked with healthy gates")

    def _breach(self, champion: WindowStats, canary: WindowStats) -> str | None:
        floor = max(champion.error_rate, self.gates.min_error_rate)
        if canary.errors and canary.error_rate >= self.gates.error_ratio * floor:
            return f"canary error rate {canary.error_rate:.4f} >= {self.gates.error_ratio}x champion's"
        if (
            canary.p99_seconds is not None
            and champion.p99_seconds is not None
            and champion.p99_seconds > 0
            and canary.p99_seconds >= self.gates.latency_ratio * champion.p99_seconds
        ):
            return f"canary p99 {canary.p99_seconds:.4f}s >= {self.gates.latency_ratio}x champion's"
        return None

    def _record(self, now: float, action: Action, reason: str) -> Step:
        step = Step(now, action, self.weight, reason)
        self.history.append(step)
        return step
