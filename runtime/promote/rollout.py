"""`mlplat-promote rollout`: the one progressive-rollout controller of a region, for all of its replicas.

Each pass reads the window since the current step began from Prometheus (by variant), asks the pure
`runtime.serving.rollout.decide`, and publishes the resulting weight as registered-model tags that every replica
of the region polls. Regions roll one after another; a rollback anywhere halts the version everywhere. Once every
region soaked at 100 %, the approval moves `champion` (through the drift job's `promote`, so a later rollback
knows the previous champion).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from runtime.drift.registry import promote
from runtime.promote import registry
from runtime.promote.errors import PromoteError
from runtime.promote.prometheus import Prometheus
from runtime.promotion_history import HistoryStore
from runtime.serving import routing
from runtime.serving.rollout import Action, Decision, Gates, RolloutState, WindowStats, decide, start

EMPTY = WindowStats(0, 0, None)


class Outcome(IntEnum):
    """The exit code of `rollout` (DESIGN.md section 12)."""

    ADVANCED = 0
    ROLLED_BACK = 1
    WAITING = 3


@dataclass(frozen=True)
class Region:
    name: str
    prometheus: Prometheus


@dataclass
class Controller:
    mlflow: Any
    history: HistoryStore
    model: str
    gates: Gates
    approval_required: bool = True
    clock: Callable[[], float] = time.time
    say: Callable[[str], None] = print

    def candidate(self) -> str:
        version = registry.alias_version(self.mlflow, self.model, registry.CHALLENGER_ALIAS)
        if version is None:
            raise PromoteError(f"{self.model} has no `challenger` alias: run `mlplat-promote gate` first")
        return version

    def step(self, region: Region, version: str) -> Decision:
        """One decision for one region, published and recorded when it changes the weight."""
        now = self.clock()
        state = registry.rollout_state(registry.model_tags(self.mlflow, self.model), region.name, version)
        if state is None:
            decision = start(self.gates, now)
            self._apply(region.name, version, decision, {})
            return decision
        if state.state != "running":
            return Decision(Action.HOLD, state, state.weight(self.gates), f"rollout {state.state} in {region.name}")
        window = int(now - state.step_started) + 1
        stats = region.prometheus.window(window)
        champion = stats.get(routing.CHAMPION, EMPTY)
        canary = stats.get(routing.CHALLENGER, EMPTY)
        if state.weight(self.gates) >= 1.0 and champion.requests < self.gates.min_requests:
            # at 100 % the champion takes no traffic: compare with its figures just before this step
            before = region.prometheus.window(window + int(self.gates.soak_seconds) * 2)
            champion = before.get(routing.CHAMPION, EMPTY)
        decision = decide(self.gates, state, now, champion, canary)
        figures = {"window_seconds": window, "champion": vars(champion), "challenger": vars(canary)}
        if decision.action != Action.HOLD:
            self._apply(region.name, version, decision, figures)
        return decision

    def _apply(self, region: str, version: str, decision: Decision, figures: dict[str, Any]) -> None:
        registry.publish_weight(self.mlflow, self.model, region, version, decision.weight)
        registry.save_rollout_state(self.mlflow, self.model, region, version, decision.state)
        kind = "rollback" if decision.action == Action.ROLLBACK else "weight"
        self.history.append(
            self.model, kind, version=version, why=decision.reason, by="mlplat-promote rollout",
            region=region, action=str(decision.action), weight=decision.weight, **figures,
        )  # fmt: skip
        self.say(f"{region}: {decision.action} -> weight {decision.weight:g} ({decision.reason})")

    def halt(self, version: str, regions: Sequence[Region], cause: str, reason: str) -> None:
        """A rollback in one region stops the version everywhere: weight 0 in every region, marked halted."""
        self.mlflow.set_registered_model_tag(self.model, registry.ROLLOUT_HALTED_TAG, f"{version}:{cause}")
        self.mlflow.set_model_version_tag(self.model, version, "mlplat.rollout.rolled_back", registry.clip(reason))
        for region in regions:
            if region.name != cause:
                state = RolloutState("rolled_back", -1, self.clock())
                registry.publish_weight(self.mlflow, self.model, region.name, version, 0.0)
                registry.save_rollout_state(self.mlflow, self.model, region.name, version, state)
        self.history.append(
            self.model, "halt", version=version, why=f"rolled back in {cause}: {reason}", by="mlplat-promote rollout",
            regions=[region.name for region in regions],
        )  # fmt: skip

    def halted(self, version: str) -> str | None:
        marker = registry.model_tags(self.mlflow, self.model).get(registry.ROLLOUT_HALTED_TAG, "")
        found, _, region = marker.partition(":")
        return region if found == version else None

    def finish(self, version: str, regions: Sequence[Region]) -> Outcome:
        """Every region soaked at 100 %: with an approval (when required), `champion` moves to the version."""
        approval = registry.approval(self.mlflow, self.model, version)
        if self.approval_required and approval is None:
            self.say(f"v{version} soaked at 100 % in every region; waiting for `mlplat-promote approve`")
            return Outcome.WAITING
        previous = promote(self.mlflow, self.model, version, registry.CHAMPION_ALIAS)
        for region in regions:
            registry.publish_weight(self.mlflow, self.model, region.name, version, 0.0)
        self.mlflow.delete_registered_model_alias(self.model, registry.CHALLENGER_ALIAS)
        approved = f" approved by {approval['by']} ({approval['reason']})" if approval else ""
        self.history.append(
            self.model, "alias", version=version, why=f"rolled out in {len(regions)} region(s){approved}",
            by=approval["by"] if approval else "mlplat-promote rollout", alias=registry.CHAMPION_ALIAS,
            previous=previous, regions=[region.name for region in regions],
        )  # fmt: skip
        self.say(f"champion -> v{version} (was v{previous})")
        return Outcome.ADVANCED

    def run(self, regions: Sequence[Region], *, once: bool, poll_seconds: float, deadline: float | None) -> Outcome:
        """Regions in order; `once` makes one decision and exits (3 while holding)."""
        version = self.candidate()
        cause = self.halted(version)
        if cause is not None:
            self.say(f"v{version} was rolled back in {cause}: the rollout is halted in every region")
            return Outcome.ROLLED_BACK
        for region in regions:
            while True:
                decision = self.step(region, version)
                if decision.action == Action.ROLLBACK:
                    self.halt(version, regions, region.name, decision.reason)
                    return Outcome.ROLLED_BACK
                if decision.state.state == "complete":
                    break
                if once:
                    return Outcome.WAITING if decision.action == Action.HOLD else Outcome.ADVANCED
                if deadline is not None and self.clock() >= deadline:
                    self.say(f"{region.name}: still {decision.reason} at the deadline")
                    return Outcome.WAITING
                time.sleep(poll_seconds)
        return self.finish(version, regions)
