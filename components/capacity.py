"""How a node pool's capacity is bought: group sizes and the on-demand/spot mix. Pure values, no pulumi."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Purpose = Literal["inference", "training"]


@dataclass(frozen=True, kw_only=True)
class CapacityMix:
    """An Auto Scaling group's instances distribution: the first `on_demand_base` nodes are on-demand, and of
    the nodes above that base `on_demand_percentage_above_base` percent are on-demand, the rest spot."""

    on_demand_base: int
    on_demand_percentage_above_base: int

    def __post_init__(self) -> None:
        if self.on_demand_base < 0:
            raise ValueError(f"on_demand_base must be >= 0, got {self.on_demand_base}")
        if not 0 <= self.on_demand_percentage_above_base <= 100:
            raise ValueError(
                f"on_demand_percentage_above_base must be 0..100, got {self.on_demand_percentage_above_base}"
            )

    @property
    def spot_percentage_above_base(self) -> int:
        return 100 - self.on_demand_percentage_above_base

    @property
    def uses_spot(self) -> bool:
        return self.on_demand_percentage_above_base < 100

    def on_demand_nodes(self, capacity: int) -> int:
        """How many of `capacity` nodes the group keeps on-demand (the ASG rounds on-demand up)."""
        base = min(self.on_demand_base, capacity)
        above = capacity - base
        return base + -(-above * self.on_demand_percentage_above_base // 100)


# Serving keeps a floor of one on-demand node and takes 30% on-demand above it (the seeds' 30/70 mix); training
# checkpoints and can wait, so it starts with no floor and buys 80% of its nodes on the spot market.
DEFAULT_MIX: dict[Purpose, CapacityMix] = {
    "inference": CapacityMix(on_demand_base=1, on_demand_percentage_above_base=30),
    "training": CapacityMix(on_demand_base=0, on_demand_percentage_above_base=20),
}


@dataclass(frozen=True, kw_only=True)
class PoolSize:
    min_size: int
    desired_size: int
    max_size: int

    def __post_init__(self) -> None:
        if not 0 <= self.min_size <= self.desired_size <= self.max_size or self.max_size < 1:
            raise ValueError(f"need 0 <= min <= desired <= max and max >= 1, got {self}")


FALLBACK_PRIORITY = 1


def expander_priorities(groups: Sequence[tuple[str, int]]) -> str:
    """The priority expander's ConfigMap body: the more of a group is spot, the higher it ranks; every other group
    (the on-demand system pool) sits at the bottom. Written as YAML text with integer keys, as the expander reads."""
    by_priority: dict[int, list[str]] = {FALLBACK_PRIORITY: [".*"]}
    for asg_name, spot_percentage in groups:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", asg_name):
            raise ValueError(f"unexpected Auto Scaling group name {asg_name!r}")
        by_priority.setdefault(10 + spot_percentage, []).append(f"^{asg_name.replace('.', '[.]')}$")
    lines = []
    for priority in sorted(by_priority, reverse=True):
        lines.append(f"{priority}:")
        lines.extend(f"  - '{pattern}'" for pattern in sorted(by_priority[priority]))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True)
class GpuMinimums:
    """What every GPU pool must meet: checked on the config (`components/config`) and, over the graph, by the
    capacity policy rules (`policies/rules/capacity.py`), which read these same values."""

    on_demand_base_min: int = 1  # an inference pool's on-demand floor: spot can all vanish at once
    on_demand_percentage_min: int = 20  # an inference pool's on-demand share above its base ...
    on_demand_percentage_max: int = 50  # ... bounded, or spot saves too little to be worth the risk
    min_instance_types: int = 3  # a spot pool draws on several capacity pools ...
    min_families: int = 2  # ... from more than one GPU family


GPU_MINIMUMS = GpuMinimums()
