"""The progressive rollout controller as pure logic: advance on healthy soaks, roll back (seeds' rule)."""

from __future__ import annotations

from runtime.serving.rollout import Action, Gates, RolloutController, WindowStats

HEALTHY = WindowStats(requests=1000, errors=1, p99_seconds=0.020)


def controller() -> RolloutController:
    return RolloutController(gates=Gates(soak_seconds=60, min_requests=100))


def test_full_rollout_records_every_step() -> None:
    rollout = controller()
    assert rollout.weight == 0.0
    rollout.start(0)
    assert rollout.weight == 0.05
    now = 0.0
    weights = []
    for _ in range(10):
        now += 61
        step = rollout.evaluate(now, HEALTHY, HEALTHY)
        weights.append(step.weight)
        if step.action == Action.COMPLETE:
            break
    assert weights == [0.25, 0.5, 1.0, 1.0]
    assert [s.action for s in rollout.history] == [
        Action.START, Action.ADVANCE, Action.ADVANCE, Action.ADVANCE, Action.COMPLETE,
    ]  # fmt: skip
    assert rollout.state == "complete"
    assert rollout.evaluate(now + 100, HEALTHY, HEALTHY).action == Action.HOLD


def test_holds_while_soaking_or_without_enough_canary_traffic() -> None:
    rollout = controller()
    rollout.start(0)
    assert rollout.evaluate(30, HEALTHY, HEALTHY).action == Action.HOLD
    assert rollout.evaluate(90, HEALTHY, WindowStats(10, 0, 0.01)).action == Action.HOLD
    assert rollout.weight == 0.05
    assert len(rollout.history) == 1


def test_rolls_back_when_error_rate_doubles() -> None:
    rollout = controller()
    rollout.start(0)
    champion = WindowStats(1000, 10, 0.02)  # 1%
    assert rollout.evaluate(10, champion, WindowStats(200, 3, 0.02)).action == Action.HOLD  # 1.5%: not doubled
    step = rollout.evaluate(20, champion, WindowStats(200, 4, 0.02))  # 2%: doubled
    assert step.action == Action.ROLLBACK and "error rate" in step.reason
    assert rollout.weight == 0.0 and rollout.state == "rolled_back"
    assert rollout.history[-1].action == Action.ROLLBACK


def test_rolls_back_when_p99_rises_half() -> None:
    rollout = controller()
    rollout.start(0)
    assert rollout.evaluate(10, HEALTHY, WindowStats(500, 0, 0.029)).action == Action.HOLD
    step = rollout.evaluate(20, HEALTHY, WindowStats(500, 0, 0.030))
    assert step.action == Action.ROLLBACK and "p99" in step.reason


def test_champion_without_errors_needs_a_real_canary_error_rate() -> None:
    rollout = controller()
    rollout.start(0)
    clean = WindowStats(10_000, 0, 0.02)
    assert rollout.evaluate(10, clean, WindowStats(10_000, 1, 0.02)).action == Action.HOLD
    assert rollout.evaluate(20, clean, WindowStats(1_000, 5, 0.02)).action == Action.ROLLBACK
