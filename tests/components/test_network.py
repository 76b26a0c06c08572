"""The regional network as synthesized from the real stack program under mocks."""

import ipaddress
import json
from itertools import combinations
from typing import Any

from components.config import load_deployment


def _of(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def test_three_azs_with_three_tiers_each(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for name, graph in regional_graphs.items():
        subnets = _of(graph, "aws:ec2/subnet:Subnet")
        tiers = {(s["inputs"]["availabilityZone"], s["inputs"]["tags"]["mlplat/tier"]) for s in subnets}
        azs = {az for az, _ in tiers}
        assert azs == {f"{graph['region']}{x}" for x in "abc"}, name
        assert len(tiers) == 9, name


def test_subnets_never_overlap_and_sit_in_the_vpc(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        (vpc,) = _of(graph, "aws:ec2/vpc:Vpc")
        vpc_net = ipaddress.ip_network(vpc["inputs"]["cidrBlock"])
        nets = [ipaddress.ip_network(s["inputs"]["cidrBlock"]) for s in _of(graph, "aws:ec2/subnet:Subnet")]
        assert all(n.subnet_of(vpc_net) for n in nets)
        assert not [pair for pair in combinations(nets, 2) if pair[0].overlaps(pair[1])]


def test_vpcs_do_not_overlap_across_stacks(regional_graphs: dict[str, dict[str, Any]]) -> None:
    cidrs = [
        ipaddress.ip_network(_of(g, "aws:ec2/vpc:Vpc")[0]["inputs"]["cidrBlock"]) for g in regional_graphs.values()
    ]
    assert len(cidrs) == 4
    assert not [pair for pair in combinations(cidrs, 2) if pair[0].overlaps(pair[1])]


def test_nat_per_az_and_private_routes_use_their_own_az(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        assert len(_of(graph, "aws:ec2/natGateway:NatGateway")) == 3
        private_tables = [t for t in _of(graph, "aws:ec2/routeTable:RouteTable") if "-private-" in t["name"]]
        nat_ids = sorted(t["inputs"]["routes"][0]["natGatewayId"] for t in private_tables)
        assert len(set(nat_ids)) == 3


def test_endpoints_for_s3_and_the_private_apis(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        region = graph["region"]
        endpoints = {e["inputs"]["serviceName"]: e["inputs"] for e in _of(graph, "aws:ec2/vpcEndpoint:VpcEndpoint")}
        assert endpoints[f"com.amazonaws.{region}.s3"]["vpcEndpointType"] == "Gateway"
        for service in ("ecr.api", "ecr.dkr", "sts", "logs"):
            endpoint = endpoints[f"com.amazonaws.{region}.{service}"]
            assert endpoint["vpcEndpointType"] == "Interface"
            assert endpoint["privateDnsEnabled"] is True
        (sg,) = [s for s in _of(graph, "aws:ec2/securityGroup:SecurityGroup") if s["name"].endswith("endpoints-sg")]
        assert [(r["fromPort"], r["toPort"]) for r in sg["inputs"]["ingress"]] == [(443, 443)]
        assert sg["inputs"]["ingress"][0]["cidrBlocks"] == [_of(graph, "aws:ec2/vpc:Vpc")[0]["inputs"]["cidrBlock"]]


def test_flow_logs_are_encrypted_and_retained(regional_graphs: dict[str, dict[str, Any]], project_root) -> None:
    deployment = load_deployment(project_root)
    for name, graph in regional_graphs.items():
        (flow_log,) = _of(graph, "aws:ec2/flowLog:FlowLog")
        (group,) = [g for g in _of(graph, "aws:cloudwatch/logGroup:LogGroup") if g["name"].endswith("-flow-logs")]
        (vpc,) = _of(graph, "aws:ec2/vpc:Vpc")
        assert flow_log["inputs"]["vpcId"] == vpc["id"]
        assert flow_log["inputs"]["trafficType"] == "ALL"
        assert group["inputs"]["retentionInDays"] == deployment.regional()[name].network.flow_logs_retention_days
        (key,) = [k for k in _of(graph, "aws:kms/key:Key") if k["name"].endswith("-flow-logs-key")]
        assert group["inputs"]["kmsKeyId"] == f"arn:aws:kms:{graph['region']}:123456789012:key/{key['name']}"
        assert key["inputs"]["enableKeyRotation"] is True
        policy = json.loads(key["inputs"]["policy"])
        logs = [s for s in policy["Statement"] if s["Principal"].get("Service", "").startswith("logs.")]
        assert logs[0]["Principal"]["Service"] == f"logs.{graph['region']}.amazonaws.com"
        (flow_policy,) = [
            p for p in _of(graph, "aws:iam/rolePolicy:RolePolicy") if p["name"].endswith("flow-logs-write")
        ]
        role_policy = json.loads(flow_policy["inputs"]["policy"])
        assert all(s["Resource"] != "*" for s in role_policy["Statement"])


def test_default_security_group_is_emptied(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        (default_sg,) = _of(graph, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
        assert not default_sg["inputs"].get("ingress") and not default_sg["inputs"].get("egress")


def test_subnets_are_tagged_for_eks_load_balancers(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        for subnet in _of(graph, "aws:ec2/subnet:Subnet"):
            tags = subnet["inputs"]["tags"]
            tier = tags["mlplat/tier"]
            assert tags.get("kubernetes.io/role/elb") == ("1" if tier == "public" else None)
            assert tags.get("kubernetes.io/role/internal-elb") == ("1" if tier == "private" else None)
            assert subnet["inputs"]["mapPublicIpOnLaunch"] is False


def _in_recovery(graph: dict[str, Any], resource: dict[str, Any]) -> bool:
    """Declared under the registry database's disaster-recovery component (docs/dr.md)."""
    parents = {f"{r['type']}::{r['name']}": r.get("parent") for r in graph["resources"]}
    parent = resource.get("parent")
    while parent:
        if str(parent).startswith("mlplat:index:RegistryBackups::"):
            return True
        parent = parents.get(parent)
    return False


def test_every_aws_resource_has_its_stack_region(regional_graphs: dict[str, dict[str, Any]]) -> None:
    """Except the registry database's disaster-recovery copy, checked in tests/components/test_traffic.py."""
    for graph in regional_graphs.values():
        aws = [r for r in graph["resources"] if r["type"].startswith("aws:") and not _in_recovery(graph, r)]
        assert aws
        assert {r["region"] for r in aws} == {graph["region"]}
        assert {r["provider"] for r in aws} == {f"aws-{graph['region']}"}


def test_global_resources_name_the_provider_of_their_region(graphs: dict[str, dict[str, Any]]) -> None:
    aws = [r for r in graphs["global"]["resources"] if r["type"].startswith("aws:")]
    assert {r["region"] for r in aws} == {"us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-1"}
    assert all(r["provider"] == f"aws-{r['region']}" for r in aws)


def test_eu_stacks_stay_in_the_eu(graphs: dict[str, dict[str, Any]]) -> None:
    for name in ("eu-west-1", "eu-central-1"):
        assert graphs[name]["jurisdiction"] == "eu"
        assert all(r["region"].startswith("eu-") for r in graphs[name]["resources"] if r["custom"])


def test_children_name_their_component_parent(graphs: dict[str, dict[str, Any]]) -> None:
    graph = graphs["eu-west-1"]
    (vpc,) = _of(graph, "aws:ec2/vpc:Vpc")
    assert vpc["parent"] == "mlplat:index:RegionalNetwork::euw1"
    (key,) = [k for k in _of(graph, "aws:kms/key:Key") if k["name"] == "euw1-flow-logs-key"]
    assert key["parent"] == "mlplat:index:KmsKey::euw1-flow-logs-key"
