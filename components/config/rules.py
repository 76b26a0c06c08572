"""The configuration rules that span files: a stack against `platform.yaml` (jurisdiction, primary region), stacks
against each other (one global stack, one stack per region, disjoint VPC ranges) and tenants against the regional
stacks that exist. Rules within one file are validators on the models (`models.py`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from components.cidr import overlapping_pairs
from components.config.errors import ConfigProblem
from components.config.models import GlobalStackConfig, PlatformConfig, RegionalStackConfig

PLATFORM_DISPLAY = "stacks/platform.yaml"
STACK_CONFIG_KEY = "mlplat:platform"


def stack_file_name(stack: str) -> str:
    return f"stacks/Pulumi.{stack}.yaml"


def cross_stack_problems(
    platform: PlatformConfig, stacks: Mapping[str, RegionalStackConfig | GlobalStackConfig]
) -> Iterator[ConfigProblem]:
    """Every rule that needs more than one file."""
    for name, stack in stacks.items():
        yield from _stack_problems(platform, name, stack)
    yield from _placement_problems(stacks)
    regional_regions = {s.region for s in stacks.values() if isinstance(s, RegionalStackConfig)}
    yield from _tenant_problems(platform, regional_regions)


def _stack_problems(
    platform: PlatformConfig, name: str, stack: RegionalStackConfig | GlobalStackConfig
) -> Iterator[ConfigProblem]:
    file, field = stack_file_name(name), STACK_CONFIG_KEY
    if isinstance(stack, GlobalStackConfig):
        if stack.region != platform.primary_region:
            yield ConfigProblem(
                file, f"{field}.region", f"the global stack must be in the primary region {platform.primary_region}"
            )
        return
    if stack.jurisdiction not in platform.jurisdictions:
        known = ", ".join(platform.jurisdictions)
        yield ConfigProblem(
            file, f"{field}.jurisdiction", f"unknown jurisdiction {stack.jurisdiction!r} (known: {known})"
        )
    elif stack.region not in platform.jurisdictions[stack.jurisdiction].regions:
        actual = platform.jurisdiction_of(stack.region)
        where = f" (it belongs to {actual!r})" if actual else " (no jurisdiction lists it)"
        yield ConfigProblem(
            file, f"{field}.region", f"{stack.region} is not in jurisdiction {stack.jurisdiction!r}{where}"
        )
    if stack.mlflow.enabled and stack.region != platform.primary_region:
        yield ConfigProblem(
            file,
            f"{field}.mlflow.enabled",
            f"MLflow runs only on the primary region's stack ({platform.primary_region}); one registry serves all",
        )
    yield from _traffic_problems(platform, file, field, stack)


def _traffic_problems(
    platform: PlatformConfig, file: str, field: str, stack: RegionalStackConfig
) -> Iterator[ConfigProblem]:
    """The ingress needs the platform's domain; rate limits name known tenants; registry backups stay inside the
    stack's jurisdiction."""
    if stack.ingress.enabled and platform.traffic is None:
        yield ConfigProblem(
            file, f"{field}.ingress.enabled", "needs `traffic.domain` in platform.yaml (certificate and DNS names)"
        )
    for tenant in stack.ingress.tenant_rate_limits:
        if tenant not in platform.tenants:
            yield ConfigProblem(file, f"{field}.ingress.tenant_rate_limits.{tenant}", "unknown tenant")
    replica = stack.mlflow.backup_replica_region
    if replica is not None and platform.jurisdiction_of(replica) != platform.jurisdiction_of(stack.region):
        yield ConfigProblem(
            file,
            f"{field}.mlflow.backup_replica_region",
            f"{replica} is outside {platform.jurisdiction_of(stack.region)!r}, the stack's jurisdiction",
        )


def _placement_problems(stacks: Mapping[str, RegionalStackConfig | GlobalStackConfig]) -> Iterator[ConfigProblem]:
    """One global stack, one regional stack per region, and VPC ranges that can be routed to each other."""
    field = STACK_CONFIG_KEY
    global_stacks = [n for n, s in stacks.items() if isinstance(s, GlobalStackConfig)]
    for extra in global_stacks[1:]:
        yield ConfigProblem(stack_file_name(extra), f"{field}.kind", "only one global stack is allowed")
    regional = {n: s for n, s in stacks.items() if isinstance(s, RegionalStackConfig)}
    by_region: dict[str, str] = {}
    for name, stack in regional.items():
        if stack.region in by_region:
            yield ConfigProblem(
                stack_file_name(name),
                f"{field}.region",
                f"{stack.region} already has a stack ({by_region[stack.region]})",
            )
        by_region.setdefault(stack.region, name)
    cidrs = {name: s.network.cidr for name, s in regional.items()}
    for first, second in overlapping_pairs(cidrs):
        yield ConfigProblem(
            stack_file_name(second),
            f"{field}.network.cidr",
            f"{cidrs[second]} overlaps {cidrs[first]} of stack {first}; VPC ranges must be disjoint to be routed",
        )


def _tenant_problems(platform: PlatformConfig, regional_regions: set[str]) -> Iterator[ConfigProblem]:
    """Every region a tenant's data may live in (`ResidencyMap.regions_holding`) needs a regional stack. That the
    regions lie in the tenant's jurisdiction is `PlatformConfig`'s own validation (the residency model's)."""
    residency = platform.residency()
    for tenant_name, tenant in platform.tenants.items():
        labels = {tenant.home_region: "home_region"}
        for index, region in enumerate(tenant.failover_regions):
            labels.setdefault(region, f"failover_regions[{index}]")
        for region in residency.regions_holding(tenant_name):
            if region not in regional_regions:
                yield ConfigProblem(
                    PLATFORM_DISPLAY, f"tenants.{tenant_name}.{labels[region]}", f"{region} has no regional stack"
                )
