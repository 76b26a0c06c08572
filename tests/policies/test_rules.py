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
    return {
        "stack": "eu-west-1",
        "region": "eu-west-1",
        "jurisdiction": "eu",
        "kind": "regional",
        "resources": [PROVIDER, *items],
    }


def fired(g: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v.rule, v.resource_name) for v in evaluate(g, RULES)}


VPC = {"type": "aws:ec2/vpc:Vpc", "name": "vpc", "id": "vpc-id", "inputs": {"cidrBlock": "10.0.0.0/16"}}
FLOW = {
    "type": "aws:ec2/flowLog:FlowLog",
    "name": "fl",
    "id": "fl-id",
    "inputs": {"vpcId": "vpc-id", "trafficType": "ALL"},
}
S3_ENDPOINT = {
    "type": "aws:ec2/vpcEndpoint:VpcEndpoint",
    "name": "s3",
    "inputs": {"vpcId": "vpc-id", "serviceName": "com.amazonaws.eu-west-1.s3", "vpcEndpointType": "Gateway"},
}


CASES = [
    (
        "aws-cloudwatch-loggroup-retention",
        {"type": "aws:cloudwatch/logGroup:LogGroup", "name": "lg", "inputs": {"kmsKeyId": "k"}},
        {"retentionInDays": 30},
    ),
    (
        "aws-cloudwatch-loggroup-kms",
        {"type": "aws:cloudwatch/logGroup:LogGroup", "name": "lg", "inputs": {"retentionInDays": 30}},
        {"kmsKeyId": "arn:aws:kms:eu-west-1:1:key/x"},
    ),
    (
        "aws-kms-key-rotation",
        {"type": "aws:kms/key:Key", "name": "k", "inputs": {"enableKeyRotation": False}},
        {"enableKeyRotation": True},
    ),
    (
        "aws-kms-key-rotation",
        {"type": "aws:kms/key:Key", "name": "k", "inputs": {"enableKeyRotation": True, "multiRegion": True}},
        {"multiRegion": False},
    ),
    (
        "aws-ec2-securitygroup-no-public-ingress",
        {
            "type": "aws:ec2/securityGroup:SecurityGroup",
            "name": "sg",
            "inputs": {"ingress": [{"fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]},
        },
        {"ingress": [{"fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/16"]}]},
    ),
    (
        "aws-ec2-securitygroup-no-public-ingress",
        {
            "type": "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "name": "r",
            "inputs": {"cidrIpv6": "::/0", "fromPort": 443, "toPort": 443},
        },
        {"cidrIpv6": "fd00::/8"},
    ),
    (
        "aws-ec2-subnet-no-public-ip",
        {"type": "aws:ec2/subnet:Subnet", "name": "sn", "inputs": {"mapPublicIpOnLaunch": True}},
        {"mapPublicIpOnLaunch": False},
    ),
    (
        "aws-ec2-defaultsecuritygroup-closed",
        {
            "type": "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
            "name": "dsg",
            "inputs": {"egress": [{"cidrBlocks": ["0.0.0.0/0"]}]},
        },
        {"egress": []},
    ),
    (
        "mlplat-tags-consistent",
        {"type": "aws:ec2/subnet:Subnet", "name": "sn", "inputs": {"tags": {"jurisdiction": "us"}}},
        {"tags": {"jurisdiction": "eu"}},
    ),
]


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


# -- EKS and GPU node pools (issue 3) -----------------------------------------------------------------------------
LT = {"type": "aws:ec2/launchTemplate:LaunchTemplate", "name": "lt", "id": "lt-id",
      "inputs": {"metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 2}}}  # fmt: skip
IMDSV2 = {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}}
CLUSTER = {"type": "aws:eks/cluster:Cluster", "name": "eks"}
GPU_TYPES = ("g5.xlarge", "g6.xlarge", "g6e.xlarge")
SPOT_MIX = {"instancesDistribution": {"onDemandBaseCapacity": 0, "onDemandPercentageAboveBaseCapacity": 30},
            "launchTemplate": {"overrides": [{"instanceType": t} for t in GPU_TYPES]}}  # fmt: skip


def _asg(**inputs: Any) -> dict[str, Any]:
    return {"type": "aws:autoscaling/group:Group", "name": "asg", "inputs": {"capacityRebalance": True, "minSize": 1,
            "mixedInstancesPolicy": SPOT_MIX, **inputs}}  # fmt: skip


EKS_CASES = [
    ("aws-ec2-launchtemplate-imdsv2", LT, IMDSV2),
    ("aws-eks-cluster-endpoint-private", {**CLUSTER, "inputs": {"vpcConfig": {"endpointPrivateAccess": True}}},
     {"vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False}}),
    ("aws-eks-cluster-endpoint-private", {**CLUSTER, "inputs": {"vpcConfig": {
        "endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}}},
     {"vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": True,
                    "publicAccessCidrs": ["203.0.113.0/24"]}}),
    ("aws-eks-cluster-secrets-encryption", {**CLUSTER, "inputs": {}},
     {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:eu-west-1:1:key/k"}}}),
    ("mlplat-gpu-inference-on-demand-floor", _asg(tags=[{"key": "mlplat/purpose", "value": "inference"}]),
     {"mixedInstancesPolicy": {**SPOT_MIX, "instancesDistribution": {"onDemandBaseCapacity": 1,
                                                                     "onDemandPercentageAboveBaseCapacity": 30}}}),
    ("mlplat-gpu-capacity-rebalance", _asg(capacityRebalance=False), {"capacityRebalance": True}),
    ("mlplat-gpu-instance-diversity",
     _asg(mixedInstancesPolicy={**SPOT_MIX, "launchTemplate": {"overrides": [{"instanceType": "g5.xlarge"},
                                                                              {"instanceType": "g5.2xlarge"}]}}),
     {"mixedInstancesPolicy": SPOT_MIX}),
    ("aws-iam-no-wildcard-admin", {"type": "aws:iam/rolePolicy:RolePolicy", "name": "p", "inputs": {
        "policy": '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'}},
     {"policy": '{"Statement": [{"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}]}'}),
    ("aws-sqs-queue-kms", {"type": "aws:sqs/queue:Queue", "name": "q", "inputs": {}},
     {"kmsMasterKeyId": "arn:aws:kms:eu-west-1:1:key/k"}),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "resource", "fix"), EKS_CASES, ids=[c[0] for c in EKS_CASES])
def test_eks_rule_fires_and_the_fix_clears_it(rule: str, resource: dict[str, Any], fix: dict[str, Any]) -> None:
    test_rule_fires_and_the_fix_clears_it(rule, resource, fix)


def test_node_group_needs_an_imdsv2_launch_template() -> None:
    group = {"type": "aws:eks/nodeGroup:NodeGroup", "name": "ng", "inputs": {}}
    assert ("aws-eks-nodegroup-imdsv2", "ng") in fired(graph(VPC, FLOW, S3_ENDPOINT, group))
    with_template = dict(group, inputs={"launchTemplate": {"id": "lt-id", "version": "1"}})
    assert ("aws-eks-nodegroup-imdsv2", "ng") in fired(graph(VPC, FLOW, S3_ENDPOINT, LT, with_template))
    good_lt = dict(LT, inputs=IMDSV2)
    assert ("aws-eks-nodegroup-imdsv2", "ng") not in fired(graph(VPC, FLOW, S3_ENDPOINT, good_lt, with_template))


def _first(g: dict[str, Any], type_token: str, name_part: str = "") -> dict[str, Any]:
    return next(r for r in g["resources"] if r["type"] == type_token and name_part in r["name"])


BREAKS = [
    ("aws-ec2-launchtemplate-imdsv2", "gpu-training-lt",
     lambda g: _first(g, "aws:ec2/launchTemplate:LaunchTemplate", "gpu-training")["inputs"]["metadataOptions"].update(
         httpTokens="optional")),
    ("aws-eks-nodegroup-imdsv2", "euw1-eks-system",
     lambda g: _first(g, "aws:eks/nodeGroup:NodeGroup")["inputs"].pop("launchTemplate")),
    ("aws-eks-cluster-endpoint-private", "euw1-eks",
     lambda g: _first(g, "aws:eks/cluster:Cluster")["inputs"]["vpcConfig"].update(endpointPublicAccess=True)),
    ("aws-eks-cluster-control-plane-logging", "euw1-eks",
     lambda g: _first(g, "aws:eks/cluster:Cluster")["inputs"]["enabledClusterLogTypes"].remove("audit")),
    ("mlplat-gpu-inference-on-demand-floor", "gpu-inference-asg",
     lambda g: _first(g, "aws:autoscaling/group:Group", "inference")["inputs"]["mixedInstancesPolicy"][
         "instancesDistribution"].update(onDemandBaseCapacity=0)),
    ("mlplat-gpu-capacity-rebalance", "gpu-training-asg",
     lambda g: _first(g, "aws:autoscaling/group:Group", "training")["inputs"].update(capacityRebalance=False)),
    ("mlplat-gpu-instance-diversity", "gpu-inference-asg",
     lambda g: _first(g, "aws:autoscaling/group:Group", "inference")["inputs"]["mixedInstancesPolicy"][
         "launchTemplate"]["overrides"].__delitem__(slice(2, None))),
    ("aws-iam-no-wildcard-admin", "autoscaler-irsa",
     lambda g: _first(g, "aws:iam/rolePolicy:RolePolicy", "autoscaler")["inputs"].update(
         policy='{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}')),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "resource", "brk"), BREAKS, ids=[b[0] for b in BREAKS])
def test_breaking_a_clean_stack_fires_the_rule(
    regional_graphs: dict[str, Any], rule: str, resource: str, brk: Any
) -> None:
    clean = regional_graphs["eu-west-1"]
    assert not [v for v in evaluate(clean, RULES) if v.rule == rule]
    broken = copy.deepcopy(clean)
    brk(broken)
    hits = [v for v in evaluate(broken, RULES) if v.rule == rule]
    assert hits and all(resource in v.resource_name for v in hits), hits
