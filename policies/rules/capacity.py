"""GPU capacity: an inference pool keeps an on-demand floor, a bounded on-demand share, several instance types
and capacity rebalancing (DESIGN.md section 3)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlplat.graph import as_list
from policies.engine import Resource, StackContext
from policies.rules.registry import RULES, first, inputs_of

ASG = "aws:autoscaling/group:Group"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GPU_FAMILY = re.compile(
    r"^(g4dn|g4ad|g5|g5g|g6|g6e|g6f|gr6|p3|p3dn|p4d|p4de|p5|p5e|p5en|p6-[a-z0-9]+|inf1|inf2|trn1|trn1n|trn2)\."
)
FAMILY = "capacity"


def _instance_types(resource: Resource) -> list[str]:
    inputs = inputs_of(resource)
    if resource["type"] == NODE_GROUP:
        return [str(t) for t in as_list(inputs.get("instanceTypes"))]
    template = first(first(inputs.get("mixedInstancesPolicy")).get("launchTemplate"))
    types = [
        str(first(o).get("instanceType")) for o in as_list(template.get("overrides")) if first(o).get("instanceType")
    ]
    return types or ([str(inputs["instanceType"])] if inputs.get("instanceType") else [])


def is_gpu_pool(resource: Resource) -> bool:
    tags = resource.tags
    labels = {**tags, **{str(k): str(v) for k, v in (inputs_of(resource).get("labels") or {}).items()}}
    return any(GPU_FAMILY.match(t) for t in _instance_types(resource)) or any(
        "gpu" in v.lower() for v in labels.values()
    )


INFERENCE_WORDS = ("inference", "serving")


def is_inference_pool(resource: Resource) -> bool:
    """An inference pool says so in a pool/purpose/workload/role tag or label (`inference`, `serving`) or its name."""
    tags = resource.tags
    labels = {**tags, **{str(k): str(v) for k, v in (inputs_of(resource).get("labels") or {}).items()}}
    keys = ("pool", "purpose", "workload", "role")
    tagged = any(v.lower() in INFERENCE_WORDS for k, v in labels.items() if k.rsplit("/", 1)[-1] in keys)
    return tagged or any(word in str(resource["name"]).lower() for word in INFERENCE_WORDS)


def _distribution(resource: Resource) -> dict[str, Any] | None:
    policy = first(inputs_of(resource).get("mixedInstancesPolicy"))
    return first(policy.get("instancesDistribution")) if policy else None


def _uses_spot(resource: Resource) -> bool:
    if resource["type"] == NODE_GROUP:
        return inputs_of(resource).get("capacityType") == "SPOT"
    distribution = _distribution(resource)
    return distribution is not None and distribution.get("onDemandPercentageAboveBaseCapacity", 100) < 100


@RULES.resource_rule(
    "mlplat-gpu-inference-on-demand-floor",
    "mandatory",
    "Serving never loses all its GPUs to a spot reclaim: an inference pool keeps an on-demand base and a bounded "
    "on-demand share above it.",
    [ASG, NODE_GROUP],
    FAMILY,
)
def inference_floor(resource: Resource, context: StackContext) -> Iterator[str]:
    if not is_inference_pool(resource):
        return
    bounds = context.settings.gpu
    if resource["type"] == NODE_GROUP:
        if _uses_spot(resource):
            yield "an inference pool cannot be a SPOT managed node group (no on-demand floor); use a mixed ASG"
        return
    distribution = _distribution(resource)
    if distribution is None:
        return  # no mixed-instances policy: all on-demand
    base = distribution.get("onDemandBaseCapacity", 0)
    if base < bounds.on_demand_base_min:
        yield f"onDemandBaseCapacity is {base}; an inference pool keeps at least {bounds.on_demand_base_min}"
    share = distribution.get("onDemandPercentageAboveBaseCapacity", 100)
    if not bounds.on_demand_percentage_min <= share <= bounds.on_demand_percentage_max:
        yield (
            f"onDemandPercentageAboveBaseCapacity is {share}; configured bounds are "
            f"{bounds.on_demand_percentage_min}..{bounds.on_demand_percentage_max}"
        )


@RULES.resource_rule(
    "mlplat-gpu-instance-diversity",
    "mandatory",
    "Spot GPU capacity comes from several instance types, so one sold-out type does not empty the pool.",
    [ASG, NODE_GROUP],
    FAMILY,
)
def instance_diversity(resource: Resource, context: StackContext) -> Iterator[str]:
    if not (is_gpu_pool(resource) and _uses_spot(resource)):
        return
    types = set(_instance_types(resource))
    if len(types) < context.settings.gpu.min_instance_types:
        wanted = context.settings.gpu.min_instance_types
        yield f"spot pool uses {len(types)} instance type(s); at least {wanted} are required"


@RULES.resource_rule(
    "mlplat-gpu-capacity-rebalance",
    "mandatory",
    "A spot GPU group replaces instances at risk before they are reclaimed (capacityRebalance).",
    [ASG],
    FAMILY,
)
def capacity_rebalance(resource: Resource, _: StackContext) -> Iterator[str]:
    if is_gpu_pool(resource) and _uses_spot(resource) and inputs_of(resource).get("capacityRebalance") is not True:
        yield "capacityRebalance is not true on a spot GPU group"
