"""The traffic rules on the synthesized stacks: clean as shipped, and each mutation the issue names fails, naming
the resource (an EU latency record pointing at the us-east-1 ALB, a plain HTTP listener, a public ALB without a
WAF, an accelerator spanning jurisdictions)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policies.engine import evaluate
from policies.rules import RULES
from policies.settings import load_settings
from tests.conftest import ROOT

TRAFFIC_RULES = {
    "mlplat-traffic-dns-within-jurisdiction",
    "mlplat-traffic-accelerator-one-jurisdiction",
    "aws-elb-listener-tls-only",
    "aws-elb-public-alb-waf",
}


def traffic_violations(graph: dict[str, Any]) -> set[tuple[str, str]]:
    settings = load_settings(ROOT)
    return {(v.rule, v.resource_name) for v in evaluate(graph, RULES, settings) if v.rule in TRAFFIC_RULES}


def resource(graph: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in graph["resources"] if r["name"] == name)


@pytest.fixture
def eu_west(graphs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return copy.deepcopy(graphs["eu-west-1"])


def test_shipped_stacks_pass_the_traffic_rules(graphs: dict[str, dict[str, Any]]) -> None:
    for graph in graphs.values():
        assert traffic_violations(graph) == set(), graph["stack"]


def test_every_regional_stack_publishes_only_itself_under_its_jurisdiction(
    regional_graphs: dict[str, dict[str, Any]],
) -> None:
    settings = load_settings(ROOT)
    for stack, graph in regional_graphs.items():
        records = [r for r in graph["resources"] if r["name"].endswith("-jurisdiction-record")]
        assert len(records) == 1, stack
        inputs = records[0]["inputs"]
        assert inputs["name"].split(".")[0] == settings.jurisdiction_of(graph["region"])
        assert [p["region"] for p in inputs["latencyRoutingPolicies"]] == [graph["region"]]
        assert inputs["healthCheckId"]


def test_eu_latency_record_pointing_at_the_us_alb_fails(eu_west: dict[str, Any]) -> None:
    record = resource(eu_west, "euw1-jurisdiction-record")
    record["inputs"]["aliases"][0]["name"] = "use1-serving-1234.us-east-1.elb.amazonaws.com"
    assert ("mlplat-traffic-dns-within-jurisdiction", "euw1-jurisdiction-record") in traffic_violations(eu_west)


def test_eu_latency_region_outside_the_eu_fails(eu_west: dict[str, Any]) -> None:
    resource(eu_west, "euw1-jurisdiction-record")["inputs"]["latencyRoutingPolicies"] = [{"region": "us-east-1"}]
    assert ("mlplat-traffic-dns-within-jurisdiction", "euw1-jurisdiction-record") in traffic_violations(eu_west)


def test_health_check_on_a_foreign_region_fails(eu_west: dict[str, Any]) -> None:
    resource(eu_west, "euw1-health")["inputs"]["fqdn"] = "us-east-1.ml.example.com"
    assert ("mlplat-traffic-dns-within-jurisdiction", "euw1-jurisdiction-record") in traffic_violations(eu_west)


def test_plain_http_listener_fails(eu_west: dict[str, Any]) -> None:
    listener = resource(eu_west, "euw1-http")
    listener["inputs"]["defaultActions"] = [{"type": "forward", "targetGroupArn": "arn:tg"}]
    assert ("aws-elb-listener-tls-only", "euw1-http") in traffic_violations(eu_west)


def test_old_tls_policy_fails(eu_west: dict[str, Any]) -> None:
    resource(eu_west, "euw1-https")["inputs"]["sslPolicy"] = "ELBSecurityPolicy-2016-08"
    assert ("aws-elb-listener-tls-only", "euw1-https") in traffic_violations(eu_west)


def test_public_alb_without_waf_fails(eu_west: dict[str, Any]) -> None:
    eu_west["resources"] = [r for r in eu_west["resources"] if r["name"] != "euw1-waf-alb"]
    assert ("aws-elb-public-alb-waf", "euw1-alb") in traffic_violations(eu_west)


def test_internal_alb_needs_no_waf(eu_west: dict[str, Any]) -> None:
    eu_west["resources"] = [r for r in eu_west["resources"] if r["name"] != "euw1-waf-alb"]
    resource(eu_west, "euw1-alb")["inputs"]["internal"] = True
    assert ("aws-elb-public-alb-waf", "euw1-alb") not in traffic_violations(eu_west)


def test_accelerator_spanning_jurisdictions_fails(eu_west: dict[str, Any]) -> None:
    def res(type_: str, resource_name: str, **inputs: Any) -> dict[str, Any]:
        return {"type": type_, "name": resource_name, "id": f"{resource_name}-id", "custom": True, "region": "us-west-2",
                "provider": "aws-eu-west-1", "inputs": inputs}  # fmt: skip

    eu_west["resources"] += [
        res("aws:globalaccelerator/accelerator:Accelerator", "serving-ga", name="serving-ga", enabled=True),
        res("aws:globalaccelerator/listener:Listener", "serving-ga-443", acceleratorArn="serving-ga-id", port=443),
        res("aws:globalaccelerator/endpointGroup:EndpointGroup", "ga-eu", listenerArn="serving-ga-443-id",
            endpointGroupRegion="eu-west-1"),
        res("aws:globalaccelerator/endpointGroup:EndpointGroup", "ga-us", listenerArn="serving-ga-443-id",
            endpointGroupRegion="us-east-1"),
    ]  # fmt: skip
    assert ("mlplat-traffic-accelerator-one-jurisdiction", "serving-ga") in traffic_violations(eu_west)
    eu_west["resources"] = [r for r in eu_west["resources"] if r["name"] != "ga-us"]
    assert ("mlplat-traffic-accelerator-one-jurisdiction", "serving-ga") not in traffic_violations(eu_west)


def test_registry_backups_stay_in_the_jurisdiction(graphs: dict[str, dict[str, Any]]) -> None:
    graph = copy.deepcopy(graphs["us-east-1"])
    backups = resource(graph, "use1-registry-backups")
    assert backups["region"] == "us-west-2"
    assert {(v.rule, v.resource_name) for v in evaluate(graph, RULES, load_settings(ROOT))} & {
        ("mlplat-regional-stack-one-region", "use1-registry-backups")
    } == set()
    backups["region"] = "eu-west-1"
    found = {(v.rule, v.resource_name) for v in evaluate(graph, RULES, load_settings(ROOT))}
    assert ("mlplat-regional-stack-one-region", "use1-registry-backups") in found
