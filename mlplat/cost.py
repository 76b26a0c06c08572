"""`mlplat cost`: a monthly estimate per stack, priced from the graph's inputs like Infracost prices Terraform.

Pure functions over a graph, the dated price table (`mlplat/data/prices.yaml`), the usage file
(`stacks/usage.yaml`) and the spot discounts in `stacks/platform.yaml`. A price missing from the table is
reported as such and never counted as zero.
"""

from __future__ import annotations

import fnmatch
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlplat.graph import Graph, GraphIndex, Resource

PRICES_FILE = Path(__file__).resolve().parent / "data" / "prices.yaml"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    hours_per_month: float
    region_factors: Mapping[str, float]
    ec2_hourly: Mapping[str, float]
    elasticache_hourly: Mapping[str, float]
    rds_hourly: Mapping[str, float]
    unit: Mapping[str, float]

    @classmethod
    def load(cls, path: Path = PRICES_FILE) -> PriceTable:
        data = yaml.safe_load(path.read_text())
        return cls(
            as_of=str(data["as_of"]),
            hours_per_month=float(data["hours_per_month"]),
            region_factors=data["region_factors"],
            ec2_hourly=data["ec2_hourly"],
            elasticache_hourly=data["elasticache_hourly"],
            rds_hourly=data["rds_hourly"],
            unit=data["unit_prices"],
        )

    def factor(self, region: str) -> float | None:
        value = self.region_factors.get(region)
        return float(value) if value is not None else None


@dataclass(frozen=True)
class Usage:
    nat_gateway_gb: float = 100
    interface_endpoint_gb: float = 50
    log_ingest_gb: float = 20
    log_stored_gb: float = 100
    s3_gb_stored: Mapping[str, float] = field(default_factory=lambda: {"features": 500, "platform": 10})
    gpu_root_volume_gb: float = 200
    sqs_million_requests: float = 1
    # Average running instances of autoscaled groups, by resource-name glob; unmatched groups use desired capacity.
    asg_average_instances: Mapping[str, float] = field(default_factory=dict)
    load_balancer_lcu: float = 5  # average load balancer capacity units (LCU/NLCU) per load balancer
    waf_million_requests: float = 100
    dns_million_queries: float = 10  # per hosted zone with latency records
    registry_backup_gb: float = 50  # automated backups (snapshots + transaction logs) replicated per database

    def instances_of(self, group_name: str, desired: float) -> float:
        for pattern, count in self.asg_average_instances.items():
            if fnmatch.fnmatchcase(group_name, pattern):
                return float(count)
        return desired

    @classmethod
    def from_file(cls, path: Path, stack: str) -> Usage:
        data = yaml.safe_load(path.read_text()) if path.exists() else {}
        values = {**(data.get("defaults") or {}), **((data.get("stacks") or {}).get(stack) or {})}
        return cls(
            nat_gateway_gb=float(values.get("nat_gateway_gb_per_month", 100)),
            interface_endpoint_gb=float(values.get("interface_endpoint_gb_per_month", 50)),
            log_ingest_gb=float(values.get("log_ingest_gb_per_month", 20)),
            log_stored_gb=float(values.get("log_stored_gb", 100)),
            s3_gb_stored=dict(values.get("s3_gb_stored") or {"features": 500, "platform": 10}),
            gpu_root_volume_gb=float(values.get("gpu_pool_root_volume_gb", 200)),
            sqs_million_requests=float(values.get("sqs_million_requests_per_month", 1)),
            asg_average_instances=dict(values.get("asg_average_instances") or {}),
            load_balancer_lcu=float(values.get("load_balancer_lcu", 5)),
            waf_million_requests=float(values.get("waf_million_requests_per_month", 100)),
            dns_million_queries=float(values.get("dns_million_queries_per_month", 10)),
            registry_backup_gb=float(values.get("registry_backup_gb", 50)),
        )


@dataclass(frozen=True)
class SpotDiscounts:
    by_family: Mapping[str, float]
    default: float

    def for_instance(self, instance_type: str) -> float:
        return float(self.by_family.get(instance_family(instance_type), self.default))


@dataclass(frozen=True)
class CostComponent:
    name: str
    unit: str
    monthly_quantity: float
    price: float | None  # None: missing from the price table
    category: str
    estimated_price: bool = False  # derived from us-east-1 by the region factor

    @property
    def monthly_cost(self) -> float | None:
        return None if self.price is None else self.monthly_quantity * self.price


@dataclass(frozen=True)
class SpotSavings:
    pool: str
    on_demand_instances: float
    spot_instances: float
    monthly_mix: float
    monthly_all_on_demand: float

    @property
    def savings(self) -> float:
        return self.monthly_all_on_demand - self.monthly_mix


@dataclass
class ResourceCost:
    type: str
    name: str
    components: list[CostComponent] = field(default_factory=list)

    @property
    def monthly_cost(self) -> float:
        return sum(c.monthly_cost or 0.0 for c in self.components)


@dataclass
class StackCost:
    stack: str
    region: str
    resources: list[ResourceCost]
    spot_savings: list[SpotSavings]
    budget: float | None = None

    @property
    def monthly_cost(self) -> float:
        return sum(r.monthly_cost for r in self.resources)

    @property
    def missing_prices(self) -> list[tuple[str, str]]:
        return [(r.name, c.name) for r in self.resources for c in r.components if c.price is None]

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.monthly_cost > self.budget

    def by_category(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for resource in self.resources:
            for component in resource.components:
                totals[component.category] += component.monthly_cost or 0.0
        return dict(sorted(totals.items(), key=lambda item: -item[1]))


def instance_family(instance_type: str) -> str:
    """`g6e.2xlarge` -> `g6e`; `cache.r7g.large` -> `r7g`; `db.t4g.medium` -> `t4g`."""
    parts = instance_type.split(".")
    return parts[1] if len(parts) == 3 else parts[0]


def capacity_split(desired: int, on_demand_base: int, on_demand_percentage: float) -> tuple[int, int]:
    """(on-demand, spot) instances of a mixed-instances ASG at `desired` capacity.

    The base is filled with on-demand first; above it, the percentage is applied and rounded up, because the
    Auto Scaling group favours on-demand when the split is fractional.
    """
    base = min(max(on_demand_base, 0), desired)
    above = desired - base
    on_demand_above = math.ceil(above * on_demand_percentage / 100 - 1e-9)
    return base + on_demand_above, above - on_demand_above


class _Pricer:
    def __init__(self, prices: PriceTable, region: str) -> None:
        self.prices = prices
        self.region = region
        self.factor = prices.factor(region)
        self.derived = region != "us-east-1"

    def hourly(self, table: Mapping[str, float], key: str) -> float | None:
        base = table.get(key)
        if base is None or self.factor is None:
            return None
        return float(base) * self.factor

    def unit(self, key: str) -> float | None:
        base = self.prices.unit.get(key)
        if base is None or self.factor is None:
            return None
        return float(base) * self.factor

    def component(self, name: str, unit: str, quantity: float, price: float | None, category: str) -> CostComponent:
        return CostComponent(name, unit, quantity, price, category, estimated_price=self.derived)


def estimate_stack(
    document: Graph | Mapping[str, Any],
    prices: PriceTable,
    usage: Usage,
    spot: SpotDiscounts,
    budget: float | None = None,
) -> StackCost:
    graph = Graph.of(document)
    pricer = _Pricer(prices, graph.region)
    hours = prices.hours_per_month
    index = GraphIndex.of(graph)
    resources: list[ResourceCost] = []
    savings: list[SpotSavings] = []
    for resource in graph.resources:
        if not resource.custom:
            continue
        cost = ResourceCost(resource.type, resource.name)
        for component in _components(resource, pricer, usage, spot, hours, index, savings):
            cost.components.append(component)
        if cost.components:
            resources.append(cost)
    return StackCost(graph.stack, graph.region, resources, savings, budget)


@dataclass(frozen=True)
class _Context:
    pricer: _Pricer
    usage: Usage
    spot: SpotDiscounts
    hours: float
    index: GraphIndex  # finds the launch template a group points at
    savings: list[SpotSavings]


def _components(
    resource: Resource,
    pricer: _Pricer,
    usage: Usage,
    spot: SpotDiscounts,
    hours: float,
    index: GraphIndex,
    savings: list[SpotSavings],
) -> Iterator[CostComponent]:
    price = _PRICED_TYPES.get(resource.type)
    if price is not None:
        yield from price(resource, dict(resource.inputs), _Context(pricer, usage, spot, hours, index, savings))


def _eks_cluster(_: Resource, __: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    p = ctx.pricer
    yield p.component("EKS control plane", "hours", ctx.hours, p.unit("eks_cluster_hour"), "eks-control-plane")


def _nat_gateway(_: Resource, __: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    p = ctx.pricer
    yield p.component("NAT gateway", "hours", ctx.hours, p.unit("nat_gateway_hour"), "nat")
    yield p.component("NAT data processed", "GB", ctx.usage.nat_gateway_gb, p.unit("nat_gateway_gb"), "nat")


def _eip(_: Resource, __: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    yield ctx.pricer.component("Public IPv4 address", "hours", ctx.hours, ctx.pricer.unit("public_ipv4_hour"), "nat")


def _endpoint(_: Resource, inputs: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    if inputs.get("vpcEndpointType") != "Interface":
        return  # gateway endpoints are free
    p = ctx.pricer
    azs = max(1, len(inputs.get("subnetIds") or []))
    yield p.component(
        f"Interface endpoint ({azs} AZs)", "hours", ctx.hours * azs, p.unit("interface_endpoint_az_hour"), "endpoints"
    )
    gb = ctx.usage.interface_endpoint_gb
    yield p.component("Endpoint data processed", "GB", gb, p.unit("interface_endpoint_gb"), "endpoints")


def _replication_group(_: Resource, inputs: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    p = ctx.pricer
    node_type = str(inputs.get("nodeType", ""))
    nodes = int(inputs.get("numCacheClusters") or 1)
    price = p.hourly(p.prices.elasticache_hourly, node_type)
    yield p.component(f"{node_type} x{nodes}", "hours", ctx.hours * nodes, price, "elasticache")


def _rds_instance(_: Resource, inputs: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    p = ctx.pricer
    instance_class = str(inputs.get("instanceClass", ""))
    copies = 2 if inputs.get("multiAz") else 1
    label = f"{instance_class} ({'multi-AZ' if copies == 2 else 'single-AZ'})"
    yield p.component(label, "hours", ctx.hours * copies, p.hourly(p.prices.rds_hourly, instance_class), "rds")
    storage = float(inputs.get("allocatedStorage") or 0)
    if storage:
        yield p.component("RDS gp3 storage", "GB-months", storage * copies, p.unit("rds_gp3_gb_month"), "rds")


def _bucket(_: Resource, inputs: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    klass = str((inputs.get("tags") or {}).get("mlplat/data-class", "platform"))
    stored = float(ctx.usage.s3_gb_stored.get(klass, ctx.usage.s3_gb_stored.get("platform", 10)))
    p = ctx.pricer
    yield p.component(f"S3 Standard storage ({klass})", "GB-months", stored, p.unit("s3_standard_gb_month"), "s3")


def _log_group(_: Resource, __: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    p = ctx.pricer
    yield p.component("Log ingestion", "GB", ctx.usage.log_ingest_gb, p.unit("cloudwatch_logs_ingest_gb"), "logs")
    stored = ctx.usage.log_stored_gb
    yield p.component("Log storage", "GB-months", stored, p.unit("cloudwatch_logs_storage_gb_month"), "logs")


def _flat(name: str, unit_price: str) -> Any:
    def price(_: Resource, __: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
        yield ctx.pricer.component(name, "months", 1, ctx.pricer.unit(unit_price), "other")

    return price


def _sqs(_: Resource, __: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    requests = ctx.usage.sqs_million_requests
    yield ctx.pricer.component(
        "SQS requests", "1M requests", requests, ctx.pricer.unit("sqs_million_requests"), "other"
    )


def _node_group_of(resource: Resource, _: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    return _node_group(resource, ctx.pricer, ctx.hours)


def _mixed_group_of(resource: Resource, _: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    return _mixed_group(resource, ctx.pricer, ctx.usage, ctx.spot, ctx.hours, ctx.index, ctx.savings)


def _node_group(resource: Resource, pricer: _Pricer, hours: float) -> Iterator[CostComponent]:
    inputs = resource.inputs
    desired = int((inputs.get("scalingConfig") or {}).get("desiredSize") or 0)
    instance_types = inputs.get("instanceTypes") or []
    instance_type = str(instance_types[0]) if instance_types else "unknown"
    capacity = str(inputs.get("capacityType") or "ON_DEMAND")
    price = pricer.hourly(pricer.prices.ec2_hourly, instance_type)
    category = "compute-on-demand" if capacity == "ON_DEMAND" else "compute-spot"
    yield pricer.component(
        f"{instance_type} x{desired} ({capacity.lower()})", "hours", hours * desired, price, category
    )


def _mixed_group(
    resource: Resource,
    pricer: _Pricer,
    usage: Usage,
    spot: SpotDiscounts,
    hours: float,
    index: GraphIndex,
    savings: list[SpotSavings],
) -> Iterator[CostComponent]:
    inputs = resource.inputs
    desired = int(
        usage.instances_of(str(resource.name), float(inputs.get("desiredCapacity") or inputs.get("minSize") or 0))
    )
    policy = inputs.get("mixedInstancesPolicy") or {}
    distribution = policy.get("instancesDistribution") or {}
    overrides = ((policy.get("launchTemplate") or {}).get("overrides")) or []
    instance_types = [str(o["instanceType"]) for o in overrides if o.get("instanceType")]
    if not instance_types:
        template = index.resolve((inputs.get("launchTemplate") or {}).get("id"), (LAUNCH_TEMPLATE,))
        instance_types = [str(template.inputs.get("instanceType"))] if template else []
    if not instance_types:
        yield pricer.component("instances (type unknown)", "hours", hours * desired, None, "compute-on-demand")
        return
    on_demand, spot_count = capacity_split(
        desired,
        int(distribution.get("onDemandBaseCapacity") or 0),
        float(distribution.get("onDemandPercentageAboveBaseCapacity", 100)),
    )
    # On-demand launches follow the override order ("prioritized") unless the group asks for the lowest price.
    od_prices = {t: pricer.hourly(pricer.prices.ec2_hourly, t) for t in instance_types}
    if distribution.get("onDemandAllocationStrategy") == "lowest-price" and all(
        p is not None for p in od_prices.values()
    ):
        od_type = min(instance_types, key=lambda t: od_prices[t] or 0.0)
    else:
        od_type = instance_types[0]
    od_price = od_prices[od_type]
    # Spot is spread over the pools by price and capacity: the mean of the types' spot prices is the estimate.
    spot_prices = [p * (1 - spot.for_instance(t)) for t, p in od_prices.items() if p is not None]
    spot_price = sum(spot_prices) / len(spot_prices) if len(spot_prices) == len(instance_types) else None
    yield pricer.component(
        f"{od_type} x{on_demand} on-demand", "hours", hours * on_demand, od_price, "compute-on-demand"
    )
    yield pricer.component(f"{'/'.join(instance_types)} x{spot_count} spot", "hours", hours * spot_count, spot_price,
                           "compute-spot")  # fmt: skip
    volume = usage.gpu_root_volume_gb * desired
    yield pricer.component("gp3 root volumes", "GB-months", volume, pricer.unit("ebs_gp3_gb_month"), "compute-storage")
    mean_od = [p for p in od_prices.values() if p is not None]
    if od_price is not None and spot_price is not None and mean_od:
        all_on_demand = od_price * hours * desired
        mix = (od_price * on_demand + spot_price * spot_count) * hours
        savings.append(SpotSavings(str(resource.name), on_demand, spot_count, mix, all_on_demand))


# -- rendering -----------------------------------------------------------------------------------------------


def as_infracost_json(costs: list[StackCost], prices: PriceTable) -> dict[str, Any]:
    """Infracost's output shape (projects -> breakdown -> resources -> costComponents), so its tooling reads it."""

    def money(value: float | None) -> str | None:
        return None if value is None else f"{value:.4f}"

    projects = []
    for stack in costs:
        resources = [
            {
                "name": f"{r.type}::{r.name}",
                "resourceType": r.type,
                "monthlyCost": money(r.monthly_cost),
                "costComponents": [
                    {
                        "name": c.name,
                        "unit": c.unit,
                        "monthlyQuantity": f"{c.monthly_quantity:.4f}",
                        "price": money(c.price),
                        "monthlyCost": money(c.monthly_cost),
                        "priceEstimated": c.estimated_price,
                        "category": c.category,
                    }
                    for c in r.components
                ],
            }
            for r in stack.resources
        ]
        projects.append(
            {
                "name": stack.stack,
                "metadata": {"region": stack.region, "budgetMonthly": money(stack.budget)},
                "breakdown": {"resources": resources, "totalMonthlyCost": money(stack.monthly_cost)},
                "categories": {k: money(v) for k, v in stack.by_category().items()},
                "spotSavings": [
                    {
                        "pool": s.pool,
                        "onDemandInstances": s.on_demand_instances,
                        "spotInstances": s.spot_instances,
                        "monthlyCost": money(s.monthly_mix),
                        "monthlyCostAllOnDemand": money(s.monthly_all_on_demand),
                        "monthlySavings": money(s.savings),
                    }
                    for s in stack.spot_savings
                ],
                "missingPrices": [{"resource": r, "component": c} for r, c in stack.missing_prices],
                "overBudget": stack.over_budget,
            }
        )
    return {
        "version": "0.2",
        "currency": "USD",
        "pricesAsOf": prices.as_of,
        "hoursPerMonth": prices.hours_per_month,
        "projects": projects,
        "totalMonthlyCost": money(sum(s.monthly_cost for s in costs)),
    }


def render_text(costs: list[StackCost], prices: PriceTable) -> str:
    lines = [f"prices as of {prices.as_of}, {prices.hours_per_month:.0f} h/month; non-us-east-1 prices are derived"]
    for stack in costs:
        budget = f" / budget {stack.budget:,.0f}" if stack.budget is not None else ""
        flag = "  OVER BUDGET" if stack.over_budget else ""
        lines.append(f"== {stack.stack} ({stack.region}): ${stack.monthly_cost:,.2f}/month{budget}{flag}")
        for category, value in stack.by_category().items():
            lines.append(f"   {category:<20} ${value:>12,.2f}")
        for s in stack.spot_savings:
            lines.append(
                f"   spot mix {s.pool}: {s.on_demand_instances:g} on-demand + {s.spot_instances:g} spot = "
                f"${s.monthly_mix:,.2f} vs ${s.monthly_all_on_demand:,.2f} all on-demand (saves ${s.savings:,.2f})"
            )
        for resource, component in stack.missing_prices:
            lines.append(f"   MISSING PRICE: {resource}: {component} (not counted; add it to mlplat/data/prices.yaml)")
    total = sum(s.monthly_cost for s in costs)
    lines.append(f"total: ${total:,.2f}/month over {len(costs)} stack(s)")
    return "\n".join(lines)


def _load_balancer(_: Resource, inputs: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    p = ctx.pricer
    kind = "nlb" if inputs.get("loadBalancerType") == "network" else "alb"
    label = "Network" if kind == "nlb" else "Application"
    yield p.component(f"{label} load balancer", "hours", ctx.hours, p.unit(f"{kind}_hour"), "traffic")
    lcu_hours = ctx.hours * ctx.usage.load_balancer_lcu
    yield p.component(f"{label} LCUs (usage)", "LCU-hours", lcu_hours, p.unit(f"{kind}_lcu_hour"), "traffic")


def _web_acl(_: Resource, inputs: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    p = ctx.pricer
    rules = len(inputs.get("rules") or [])
    yield p.component("WAF web ACL", "months", 1, p.unit("waf_web_acl_month"), "traffic")
    yield p.component(f"WAF rules ({rules})", "rule-months", rules, p.unit("waf_rule_month"), "traffic")
    requests = ctx.usage.waf_million_requests
    yield p.component("WAF requests", "1M requests", requests, p.unit("waf_million_requests"), "traffic")


def _health_check(_: Resource, inputs: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    p = ctx.pricer
    yield p.component("Route 53 health check", "months", 1, p.unit("route53_health_check_month"), "traffic")
    # Each optional feature is billed on top (Route 53 pricing): HTTPS, 10-second interval, latency measurement.
    features = sum(
        (
            inputs.get("type") in ("HTTPS", "HTTPS_STR_MATCH"),
            int(inputs.get("requestInterval") or 30) == 10,
            inputs.get("measureLatency") is True,
        )
    )
    if features:
        unit = p.unit("route53_health_check_feature_month")
        yield p.component(f"Health check features ({features})", "feature-months", features, unit, "traffic")


def _hosted_zone(_: Resource, inputs: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    p = ctx.pricer
    yield p.component("Route 53 hosted zone", "months", 1, p.unit("route53_zone_month"), "traffic")
    if not inputs.get("vpcs"):  # public zones answer the internet's queries
        queries = ctx.usage.dns_million_queries
        yield p.component("Latency-routed queries", "1M queries", queries, p.unit("route53_latency_million"), "traffic")


def _backup_replication(_: Resource, __: dict[str, Any], ctx: _Context) -> Iterator[CostComponent]:
    p = ctx.pricer
    gb = ctx.usage.registry_backup_gb
    yield p.component("Replicated backup storage", "GB-months", gb, p.unit("rds_backup_gb_month"), "recovery")
    yield p.component("Cross-region backup transfer", "GB", gb, p.unit("cross_region_transfer_gb"), "recovery")


_PRICED_TYPES: dict[str, Callable[[Resource, dict[str, Any], _Context], Iterator[CostComponent]]] = {
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:ec2/natGateway:NatGateway": _nat_gateway,
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:wafv2/webAcl:WebAcl": _web_acl,
    "aws:route53/healthCheck:HealthCheck": _health_check,
    "aws:route53/zone:Zone": _hosted_zone,
    "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication": _backup_replication,
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:rds/instance:Instance": _rds_instance,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:kms/key:Key": _flat("Customer managed key", "kms_key_month"),
    "aws:secretsmanager/secret:Secret": _flat("Secret", "secret_month"),
    "aws:sqs/queue:Queue": _sqs,
    "aws:eks/nodeGroup:NodeGroup": _node_group_of,
    "aws:autoscaling/group:Group": _mixed_group_of,
}
