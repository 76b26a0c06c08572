"""ServingState without HTTP: the rollout loop reads the variant windows, moves the weight, rolls back."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from runtime.serving.rollout import Action
from runtime.serving.service import ServingState
from runtime.serving.settings import ServeSettings


def _state(**overrides: Any) -> ServingState:
    settings = ServeSettings(
        model_name="churn",
        challenger_alias="challenger",
        rollout_enabled=True,
        rollout_eval_seconds=0.02,
        rollout_soak_seconds=0.01,
        rollout_min_requests=10,
        **overrides,
    )
    state = ServingState(settings)
    for variant in state.variants.values():
        # loaded, as far as the rollout loop cares
        variant.model = SimpleNamespace(version="1", source="registry", batchable=True, spec=None)  # type: ignore[assignment]
    return state


async def _drive(state: ServingState, canary_seconds: float, canary_status: int, until: Action) -> None:
    task = asyncio.ensure_future(state._run_rollout())
    try:
        for _ in range(500):
            for _ in range(20):
                state.record("/invocations", "champion", 200, 0.010)
                state.record("/invocations", "challenger", canary_status, canary_seconds)
            await asyncio.sleep(0.005)
            assert state.rollout is not None
            if state.rollout.history and state.rollout.history[-1].action == until:
                return
    finally:
        task.cancel()


def test_healthy_canary_is_promoted_step_by_step() -> None:
    state = _state()
    asyncio.run(_drive(state, 0.010, 200, Action.COMPLETE))
    assert state.rollout is not None
    assert [s.weight for s in state.rollout.history] == [0.05, 0.25, 0.5, 1.0, 1.0]
    assert state._weight() == 1.0
    assert state.describe()["rollout"]["state"] == "complete"


def test_slow_canary_is_rolled_back_and_recorded() -> None:
    state = _state()
    asyncio.run(_drive(state, 0.050, 200, Action.ROLLBACK))
    assert state.rollout is not None and state.rollout.state == "rolled_back"
    assert state._weight() == 0.0
    history = state.describe()["rollout"]["history"]
    assert history[-1]["action"] == "rollback" and "p99" in history[-1]["reason"]
    assert "mlplat_rollout_weight_ratio 0.0" in state.metrics.render().decode()
