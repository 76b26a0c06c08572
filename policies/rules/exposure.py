"""No public exposure: security groups, subnets and node interfaces, S3 public access, EKS and RDS endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlplat.graph import GraphIndex, as_list
from policies.engine import Graph, Resource, StackContext
from policies.rules.encryption import BUCKET_TYPES, LAUNCH_TEMPLATE, is_true
from policies.rules.registry import PUBLIC_CIDRS, RULES, first, inputs_of

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
LOAD_BALANCER_TYPES = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
WEB_PORTS = frozenset({80, 443})
FAMILY = "exposure"


@RULES.graph_rule(
    "aws-ec2-securitygroup-no-public-ingress",
    "mandatory",
    "Nothing takes traffic from the internet directly; only an internet-facing load balancer's group may, on 80/443.",
    FAMILY,
)
def no_public_ingress(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    load_balancer_groups: set[int] = set()
    for lb in index.of_type(*LOAD_BALANCER_TYPES):
        if inputs_of(lb).get("internal") is not True:
            for group in as_list(inputs_of(lb).get("securityGroups")):
                resolved = index.resolve(group, (SECURITY_GROUP,))
                if resolved is not None:
                    load_balancer_groups.add(id(resolved))
    for resource in index.of_type(SECURITY_GROUP, INGRESS_RULE, SG_RULE):
        inputs = inputs_of(resource)
        owner = resource if resource["type"] == SECURITY_GROUP else index.resolve(inputs.get("securityGroupId"))
        fronts_internet = owner is not None and id(owner) in load_balancer_groups
        for rule in _ingress_rules(resource):
            sources = {*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])}
            public = sorted(str(c) for c in sources & PUBLIC_CIDRS)
            if not public:
                continue
            ports = {rule.get("fromPort"), rule.get("toPort")}
            if fronts_internet and ports <= WEB_PORTS:
                continue
            yield (
                resource,
                f"ingress from {', '.join(public)} on ports {rule.get('fromPort', '?')}-{rule.get('toPort', '?')}",
            )


def _ingress_rules(resource: Resource) -> list[dict[str, Any]]:
    inputs = inputs_of(resource)
    if resource["type"] == SECURITY_GROUP:
        return [dict(r) for r in as_list(inputs.get("ingress"))]
    if resource["type"] == SG_RULE:
        return [inputs] if inputs.get("type") == "ingress" else []
    return [{"cidrBlocks": [inputs.get("cidrIpv4")], "ipv6CidrBlocks": [inputs.get("cidrIpv6")], **inputs}]


@RULES.resource_rule(
    "aws-ec2-subnet-no-public-ip",
    "mandatory",
    "Instances never get public IPs; egress goes through NAT, ingress through load balancers.",
    ["aws:ec2/subnet:Subnet"],
    FAMILY,
)
def subnet_no_public_ip(resource: Resource, _: StackContext) -> Iterator[str]:
    if inputs_of(resource).get("mapPublicIpOnLaunch") is True:
        yield "subnet assigns public IPs on launch (mapPublicIpOnLaunch is true)"


@RULES.resource_rule(
    "aws-ec2-launchtemplate-no-public-ip",
    "mandatory",
    "Nodes launch without public IPs, whatever subnet they land in.",
    [LAUNCH_TEMPLATE, "aws:ec2/instance:Instance"],
    FAMILY,
)
def launch_template_no_public_ip(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = inputs_of(resource)
    if is_true(inputs.get("associatePublicIpAddress")):
        yield "instance gets a public IP (associatePublicIpAddress)"
    for interface in as_list(inputs.get("networkInterfaces")):
        if is_true(first(interface).get("associatePublicIpAddress")):
            yield "a network interface gets a public IP (networkInterfaces[].associatePublicIpAddress)"


@RULES.resource_rule(
    "aws-ec2-defaultsecuritygroup-closed",
    "mandatory",
    "The default security group allows nothing, so nothing can rely on it by accident (CIS AWS 5.4).",
    ["aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"],
    FAMILY,
)
def default_sg_closed(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = inputs_of(resource)
    if inputs.get("ingress") or inputs.get("egress"):
        yield "the default security group has rules; it must be empty"


PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


@RULES.graph_rule(
    "aws-s3-bucket-public-access-block",
    "mandatory",
    "Every bucket blocks public ACLs and policies, all four flags on.",
    FAMILY,
)
def bucket_public_access_block(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    blocked: set[int] = set()
    for block in index.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
        bucket = index.resolve(inputs_of(block).get("bucket"), BUCKET_TYPES)
        if bucket is not None and all(inputs_of(block).get(flag) is True for flag in PUBLIC_ACCESS_FLAGS):
            blocked.add(id(bucket))
    for bucket in index.of_type(*BUCKET_TYPES):
        if id(bucket) not in blocked:
            yield bucket, "bucket has no public access block with all four flags true"


@RULES.resource_rule(
    "aws-eks-cluster-endpoint-private",
    "mandatory",
    "The Kubernetes API is private; a public endpoint needs an allowlist that is not the whole internet.",
    ["aws:eks/cluster:Cluster"],
    FAMILY,
)
def eks_endpoint(resource: Resource, _: StackContext) -> Iterator[str]:
    vpc_config = first(inputs_of(resource).get("vpcConfig"))
    public = vpc_config.get("endpointPublicAccess", True) is not False  # AWS default: public
    if not public:
        if vpc_config.get("endpointPrivateAccess") is not True:
            yield "neither the public nor the private endpoint is on (endpointPrivateAccess is not true)"
        return
    allowlist = {str(c) for c in as_list(vpc_config.get("publicAccessCidrs"))}
    if not allowlist or allowlist & PUBLIC_CIDRS:
        yield "the public API endpoint is open to the internet (no publicAccessCidrs allowlist)"


@RULES.resource_rule(
    "aws-rds-instance-not-public",
    "mandatory",
    "Databases are reachable only from inside the VPC.",
    ["aws:rds/instance:Instance", "aws:rds/clusterInstance:ClusterInstance"],
    FAMILY,
)
def rds_not_public(resource: Resource, _: StackContext) -> Iterator[str]:
    if inputs_of(resource).get("publiclyAccessible") is True:
        yield "database is publicly accessible (publiclyAccessible is true)"
