"""The progressive rollout's rule as pure logic (decide) and the weight a replica reads from the registry tags."""

from __future__ import annotations

from runtime.serving.rollout import (
    Action,
    Gates,
    RolloutState,
    WindowStats,
    decide,
    published_weight,
    start,
    version_tag,
    weight_tag,
)

HEALTHY = WindowStats(requests=1000, errors=1, p99_seconds=0.020)
GATES = Gates(soak_seconds=60, min_requests=100)


def test_full_rollout_steps_through_every_weight() -> None:
    decision = start(GATES, 0)
    assert decision.action == Action.START and decision.weight == 0.05
    state, now, weights, actions = decision.state, 0.0, [], []
    for _ in range(10):
        now += 61
        decision = decide(GATES, state, now, HEALTHY, HEALTHY)
        state = decision.state
        weights.append(decision.weight)
        actions.append(decision.action)
        if decision.action == Action.COMPLETE:
            break
    assert weights == [0.25, 0.5, 1.0, 1.0]
    assert actions == [Action.ADVANCE, Action.ADVANCE, Action.ADVANCE, Action.COMPLETE]
    assert state.state == "complete"
    assert decide(GATES, state, now + 100, HEALTHY, HEALTHY).action == Action.HOLD


def test_holds_while_soaking_or_without_enough_samples_on_either_variant() -> None:
    state = start(GATES, 0).state
    assert decide(GATES, state, 30, HEALTHY, HEALTHY).reason.startswith("soaking")
    few = decide(GATES, state, 90, HEALTHY, WindowStats(10, 0, 0.01))
    assert few.action == Action.HOLD and "challenger 10 requests" in few.reason
    assert decide(GATES, state, 90, WindowStats(5, 0, 0.01), HEALTHY).action == Action.HOLD


def test_rolls_back_when_error_rate_doubles() -> None:
    state = start(GATES, 0).state
    champion = WindowStats(1000, 10, 0.02)  # 1%
    assert decide(GATES, state, 10, champion, WindowStats(200, 3, 0.02)).action == Action.HOLD  # 1.5%
    decision = decide(GATES, state, 20, champion, WindowStats(200, 4, 0.02))  # 2%: doubled
    assert decision.action == Action.ROLLBACK and "error rate" in decision.reason
    assert decision.weight == 0.0 and decision.state.state == "rolled_back"


def test_rolls_back_when_p99_rises_half() -> None:
    state = start(GATES, 0).state
    assert decide(GATES, state, 10, HEALTHY, WindowStats(500, 0, 0.029)).action == Action.HOLD
    decision = decide(GATES, state, 20, HEALTHY, WindowStats(500, 0, 0.030))
    assert decision.action == Action.ROLLBACK and "p99" in decision.reason


def test_champion_without_errors_needs_a_real_canary_error_rate() -> None:
    state = start(GATES, 0).state
    clean = WindowStats(10_000, 0, 0.02)
    assert decide(GATES, state, 10, clean, WindowStats(10_000, 1, 0.02)).action == Action.HOLD
    assert decide(GATES, state, 20, clean, WindowStats(1_000, 5, 0.02)).action == Action.ROLLBACK


def test_at_full_weight_the_champion_needs_no_traffic() -> None:
    last = RolloutState("running", len(GATES.steps) - 1, 0)
    assert decide(GATES, last, 61, WindowStats(0, 0, None), HEALTHY).action == Action.COMPLETE


def test_a_replica_applies_the_published_weight_only_for_the_challenger_it_serves() -> None:
    tags = {weight_tag("eu-west-1"): "0.25", version_tag("eu-west-1"): "7"}
    assert published_weight(tags, "eu-west-1", "7") == 0.25
    assert published_weight(tags, "eu-west-1", "6") == 0.0  # the alias moved: never route to another version
    assert published_weight(tags, "us-east-1", "7") == 0.0
    assert published_weight({**tags, weight_tag("eu-west-1"): "lots"}, "eu-west-1", "7") == 0.0
    assert published_weight({**tags, weight_tag("eu-west-1"): "3"}, "eu-west-1", "7") == 1.0
