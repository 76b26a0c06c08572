"""Each rule on the smallest graph that breaks it, and on the same graph fixed."""

import copy
from typing import Any

import pytest

from policies.engine import evaluate
from policies.rules import RULES

PROVIDER = {
    "type": "pulumi:providers:aws",
    "name": "aws-eu-west-1",
    "region": "eu-west-1",
    "inputs": {
        "region": "eu-west-1",
        "defaultTags": {"tags": {"owner": "o", "cost-center": "c", "jurisdiction": "eu", "stack": "eu-west-1"}},
    },
}


def graph(*resources: dict[str, Any]) -> dict[str, Any]:
    items = [{"region": "eu-west-1", "provider": "aws-eu-west-1", **r} for r in resources]
    return {"stack": "eu-west-1", "region": "eu-west-1", "jurisdiction": "eu", "kind": "regional",
            "resources": [PROVIDER, *items]}  # fmt: skip


def fired(g: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v.rule, v.resource_name) for v in evaluate(g, RULES)}


VPC = {"type": "aws:ec2/vpc:Vpc", "name": "vpc", "id": "vpc-id", "inputs": {"cidrBlock": "10.0.0.0/16"}}
FLOW = {
    "type": "aws:ec2/flowLog:FlowLog",
    "name": "fl",
    "id": "fl-id",
    "inputs": {"vpcId": "vpc-id", "trafficType": "ALL"},
}
S3_ENDPOINT = {"type": "aws:ec2/vpcEndpoint:VpcEndpoint", "name": "s3", "inputs": {
    "vpcId": "vpc-id", "serviceName": "com.amazonaws.eu-west-1.s3", "vpcEndpointType": "Gateway"}}  # fmt: skip


CASES = [
    ("aws-cloudwatch-loggroup-retention", {"type": "aws:cloudwatch/logGroup:LogGroup", "name": "lg",
      "inputs": {"kmsKeyId": "k"}}, {"retentionInDays": 30}),
    ("aws-cloudwatch-loggroup-kms", {"type": "aws:cloudwatch/logGroup:LogGroup", "name": "lg",
      "inputs": {"retentionInDays": 30}}, {"kmsKeyId": "arn:aws:kms:eu-west-1:1:key/x"}),
    ("aws-kms-key-rotation", {"type": "aws:kms/key:Key", "name": "k", "inputs": {"enableKeyRotation": False}},
     {"enableKeyRotation": True}),
    ("aws-kms-key-rotation", {"type": "aws:kms/key:Key", "name": "k",
      "inputs": {"enableKeyRotation": True, "multiRegion": True}}, {"multiRegion": False}),
    ("aws-ec2-securitygroup-no-public-ingress", {"type": "aws:ec2/securityGroup:SecurityGroup", "name": "sg",
      "inputs": {"ingress": [{"fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]}},
     {"ingress": [{"fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/16"]}]}),
    ("aws-ec2-securitygroup-no-public-ingress", {"type": "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
      "name": "r", "inputs": {"cidrIpv6": "::/0", "fromPort": 443, "toPort": 443}}, {"cidrIpv6": "fd00::/8"}),
    ("aws-ec2-subnet-no-public-ip", {"type": "aws:ec2/subnet:Subnet", "name": "sn",
      "inputs": {"mapPublicIpOnLaunch": True}}, {"mapPublicIpOnLaunch": False}),
    ("aws-ec2-defaultsecuritygroup-closed", {"type": "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
      "name": "dsg", "inputs": {"egress": [{"cidrBlocks": ["0.0.0.0/0"]}]}}, {"egress": []}),
    ("mlplat-tags-consistent", {"type": "aws:ec2/subnet:Subnet", "name": "sn",
      "inputs": {"tags": {"jurisdiction": "us"}}},
     {"tags": {"jurisdiction": "eu"}}),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "resource", "fix"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires_and_the_fix_clears_it(rule: str, resource: dict[str, Any], fix: dict[str, Any]) -> None:
    bad = graph(VPC, FLOW, S3_ENDPOINT, resource)
    assert (rule, resource["name"]) in fired(bad)
    good_resource = copy.deepcopy(resource)
    good_resource["inputs"].update(fix)
    assert not {r for r in fired(graph(VPC, FLOW, S3_ENDPOINT, good_resource)) if r[0] == rule}


def test_vpc_without_flow_logs_or_s3_endpoint() -> None:
    assert fired(graph(VPC)) == {("aws-ec2-vpc-flow-logs", "vpc"), ("aws-ec2-vpc-s3-gateway-endpoint", "vpc")}
    rejected_only = dict(FLOW, inputs={"vpcId": "vpc-id", "trafficType": "REJECT"})
    assert ("aws-ec2-vpc-flow-logs", "vpc") in fired(graph(VPC, rejected_only, S3_ENDPOINT))
    assert fired(graph(VPC, FLOW, S3_ENDPOINT)) == set()


def test_provider_default_tags_must_be_complete() -> None:
    g = graph(VPC, FLOW, S3_ENDPOINT)
    g["resources"][0] = copy.deepcopy(PROVIDER)
    del g["resources"][0]["inputs"]["defaultTags"]["tags"]["cost-center"]
    assert ("mlplat-provider-default-tags", "aws-eu-west-1") in fired(g)


def test_regional_stack_resources_stay_in_the_region() -> None:
    stray = dict(VPC, name="stray", id="stray-id", region="us-east-1")
    assert ("mlplat-regional-stack-one-region", "stray") in fired(graph(VPC, FLOW, S3_ENDPOINT, stray))


def test_every_rule_is_documented() -> None:
    for rule in RULES:
        assert rule.rationale and rule.level in {"mandatory", "advisory"}
        assert rule.id.startswith(("aws-", "mlplat-"))
