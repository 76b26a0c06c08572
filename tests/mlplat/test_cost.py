"""The cost arithmetic by hand on small graphs, the spot savings, missing prices and budgets."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlplat.cost import PriceTable, SpotDiscounts, Usage, as_infracost_json, capacity_split, estimate_stack
from tests.conftest import ROOT, edit_yaml

PRICES = PriceTable.load()
SPOT = SpotDiscounts({"g5": 0.6, "g6": 0.5}, 0.4)
USAGE = Usage(nat_gateway_gb=100, interface_endpoint_gb=10, log_ingest_gb=2, log_stored_gb=10)


def graph(region: str, *resources: dict[str, Any]) -> dict[str, Any]:
    return {"stack": region, "region": region, "resources": [{"custom": True, **r} for r in resources]}


@pytest.mark.parametrize(
    ("desired", "base", "pct", "expected"),
    [
        (10, 1, 30, (4, 6)),
        (10, 0, 20, (2, 8)),
        (1, 1, 30, (1, 0)),
        (4, 2, 0, (2, 2)),
        (3, 1, 25, (2, 1)),
        (0, 1, 30, (0, 0)),
        (5, 0, 100, (5, 0)),
    ],
)
def test_capacity_split_fills_the_base_then_rounds_on_demand_up(
    desired: int, base: int, pct: float, expected: tuple
) -> None:
    assert capacity_split(desired, base, pct) == expected


def test_mixed_gpu_pool_by_hand() -> None:
    asg = {
        "type": "aws:autoscaling/group:Group",
        "name": "inference",
        "inputs": {
            "desiredCapacity": 10,
            "mixedInstancesPolicy": {
                "instancesDistribution": {"onDemandBaseCapacity": 1, "onDemandPercentageAboveBaseCapacity": 30},
                "launchTemplate": {"overrides": [{"instanceType": "g5.xlarge"}, {"instanceType": "g6.xlarge"}]},
            },
        },
    }
    cost = estimate_stack(graph("us-east-1", asg), PRICES, USAGE, SPOT)
    (savings,) = cost.spot_savings
    assert (savings.on_demand_instances, savings.spot_instances) == (4, 6)
    spot_price = (1.006 * 0.4 + 0.8048 * 0.5) / 2
    assert savings.monthly_mix == pytest.approx((4 * 1.006 + 6 * spot_price) * 730)
    assert savings.monthly_all_on_demand == pytest.approx(10 * 1.006 * 730)
    assert savings.savings == pytest.approx(10 * 1.006 * 730 - savings.monthly_mix)
    categories = cost.by_category()
    assert categories["compute-on-demand"] == pytest.approx(4 * 1.006 * 730)
    assert categories["compute-spot"] == pytest.approx(6 * spot_price * 730)
    assert categories["compute-storage"] == pytest.approx(10 * USAGE.gpu_root_volume_gb * 0.08)


def test_network_and_store_meters_by_hand_with_the_region_factor() -> None:
    resources = [
        {"type": "aws:ec2/natGateway:NatGateway", "name": "nat", "inputs": {}},
        {
            "type": "aws:ec2/vpcEndpoint:VpcEndpoint",
            "name": "ecr",
            "inputs": {"vpcEndpointType": "Interface", "subnetIds": ["a", "b", "c"]},
        },
        {"type": "aws:ec2/vpcEndpoint:VpcEndpoint", "name": "s3", "inputs": {"vpcEndpointType": "Gateway"}},
        {
            "type": "aws:elasticache/replicationGroup:ReplicationGroup",
            "name": "redis",
            "inputs": {"nodeType": "cache.r7g.large", "numCacheClusters": 2},
        },
        {"type": "aws:eks/cluster:Cluster", "name": "eks", "inputs": {}},
        {
            "type": "aws:rds/instance:Instance",
            "name": "db",
            "inputs": {"instanceClass": "db.t4g.medium", "multiAz": True, "allocatedStorage": 50},
        },
    ]
    factor = 1.115
    cost = estimate_stack(graph("eu-west-1", *resources), PRICES, USAGE, SPOT)
    by_name = {r.name: r.monthly_cost for r in cost.resources}
    assert by_name["nat"] == pytest.approx((0.045 * 730 + 0.045 * 100) * factor)
    assert by_name["ecr"] == pytest.approx((0.01 * 3 * 730 + 0.01 * 10) * factor)
    assert "s3" not in by_name  # gateway endpoints are free
    assert by_name["redis"] == pytest.approx(2 * 0.219 * 730 * factor)
    assert by_name["eks"] == pytest.approx(0.10 * 730 * factor)
    assert by_name["db"] == pytest.approx((2 * 0.065 * 730 + 2 * 50 * 0.115) * factor)
    assert all(c.estimated_price for r in cost.resources for c in r.components)


def test_a_missing_price_is_reported_not_zero() -> None:
    redis = {
        "type": "aws:elasticache/replicationGroup:ReplicationGroup",
        "name": "redis",
        "inputs": {"nodeType": "cache.x99.huge"},
    }
    nat = {"type": "aws:ec2/natGateway:NatGateway", "name": "nat", "inputs": {}}
    cost = estimate_stack(graph("us-east-1", redis, nat), PRICES, USAGE, SPOT)
    assert cost.missing_prices == [("redis", "cache.x99.huge x1")]
    report = as_infracost_json([cost], PRICES)
    (project,) = report["projects"]
    assert project["missingPrices"] == [{"resource": "redis", "component": "cache.x99.huge x1"}]
    component = project["breakdown"]["resources"][0]["costComponents"][0]
    assert component["price"] is None and component["monthlyCost"] is None
    unknown_region = estimate_stack(graph("mars-north-1", nat), PRICES, USAGE, SPOT)
    assert len(unknown_region.missing_prices) == 2


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlplat.cli", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def test_cost_all_prints_every_stack_and_json_follows_infracost(project_root: Path) -> None:
    result = run(["cost", "--all", "--format", "json"], project_root)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {p["name"] for p in report["projects"]} == {
        "global",
        "us-east-1",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-1",
    }
    for project in report["projects"]:
        assert float(project["breakdown"]["totalMonthlyCost"]) > 0
        assert project["missingPrices"] == []
        for resource in project["breakdown"]["resources"]:
            for component in resource["costComponents"]:
                assert {"name", "unit", "monthlyQuantity", "price", "monthlyCost"} <= component.keys()


def test_a_stack_over_its_budget_exits_1(project_copy: Path) -> None:
    edit_yaml(
        project_copy / "stacks" / "Pulumi.eu-west-1.yaml",
        lambda d: d["config"]["mlplat:platform"].update(budget_monthly_usd=10),
    )
    (project_copy / "stacks" / "usage.yaml").write_text((ROOT / "stacks" / "usage.yaml").read_text())
    result = run(["cost", "eu-west-1"], project_copy)
    assert result.returncode == 1
    assert "OVER BUDGET" in result.stdout
    edit_yaml(
        project_copy / "stacks" / "Pulumi.eu-west-1.yaml",
        lambda d: d["config"]["mlplat:platform"].update(budget_monthly_usd=1_000_000),
    )
    assert run(["cost", "eu-west-1"], project_copy).returncode == 0


def test_usage_sets_the_average_size_of_an_autoscaled_group() -> None:
    asg = {
        "type": "aws:autoscaling/group:Group",
        "name": "euw1-gpu-training-asg",
        "inputs": {
            "desiredCapacity": 0,
            "mixedInstancesPolicy": {
                "instancesDistribution": {"onDemandBaseCapacity": 0, "onDemandPercentageAboveBaseCapacity": 20},
                "launchTemplate": {"overrides": [{"instanceType": "g5.12xlarge"}]},
            },
        },
    }
    usage = Usage(asg_average_instances={"*-gpu-training-asg": 5})
    (savings,) = estimate_stack(graph("us-east-1", asg), PRICES, usage, SPOT).spot_savings
    assert (savings.on_demand_instances, savings.spot_instances) == (1, 4)
    assert estimate_stack(graph("us-east-1", asg), PRICES, USAGE, SPOT).spot_savings[0].monthly_all_on_demand == 0


def test_traffic_and_recovery_by_hand() -> None:
    alb = {"type": "aws:lb/loadBalancer:LoadBalancer", "name": "alb", "custom": True,
           "inputs": {"loadBalancerType": "application"}}  # fmt: skip
    acl = {"type": "aws:wafv2/webAcl:WebAcl", "name": "waf", "custom": True, "inputs": {"rules": [{}, {}, {}, {}]}}
    check = {"type": "aws:route53/healthCheck:HealthCheck", "name": "hc", "custom": True,
             "inputs": {"type": "HTTPS", "requestInterval": 10, "measureLatency": True}}  # fmt: skip
    backups = {"type": "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication",
               "name": "bk", "custom": True, "inputs": {}}  # fmt: skip
    usage = Usage(load_balancer_lcu=2, waf_million_requests=10, registry_backup_gb=40)
    cost = estimate_stack(graph("us-east-1", alb, acl, check, backups), PRICES, usage, SPOT)
    by_resource = {r.name: r.monthly_cost for r in cost.resources}
    assert by_resource["alb"] == pytest.approx(730 * 0.0225 + 730 * 2 * 0.008)
    assert by_resource["waf"] == pytest.approx(5.00 + 4 * 1.00 + 10 * 0.60)
    assert by_resource["hc"] == pytest.approx(0.50 + 3 * 1.00)  # HTTPS, 10 s interval, latency measurement
    assert by_resource["bk"] == pytest.approx(40 * 0.095 + 40 * 0.02)
    assert cost.missing_prices == []
