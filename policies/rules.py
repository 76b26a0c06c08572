"""The platform's rules. Each is a pure function registered with an id, a level and a one-line rationale.

Ids follow Pulumi's compliance naming, `aws-<service>-<resource>-<rule>`; platform-wide rules use `mlplat-`.
"""

from __future__ import annotations

from collections.abc import Iterator

from policies.engine import Graph, Resource, RuleRegistry, StackContext

RULES = RuleRegistry()

REQUIRED_TAGS = ("owner", "cost-center", "jurisdiction", "stack")
PUBLIC_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


def _inputs(resource: Resource) -> dict:
    return dict(resource.get("inputs") or {})


@RULES.resource_rule(
    "aws-cloudwatch-loggroup-retention",
    "mandatory",
    "Logs that never expire grow cost forever and keep personal data past its purpose.",
    ["aws:cloudwatch/logGroup:LogGroup"],
)
def log_group_retention(resource: Resource, _: StackContext) -> Iterator[str]:
    days = _inputs(resource).get("retentionInDays")
    if not days:
        yield "log group has no retention (retentionInDays unset or 0: logs never expire)"


@RULES.resource_rule(
    "aws-cloudwatch-loggroup-kms",
    "mandatory",
    "Log groups hold request data; they are encrypted with a customer-managed key.",
    ["aws:cloudwatch/logGroup:LogGroup"],
)
def log_group_kms(resource: Resource, _: StackContext) -> Iterator[str]:
    if not _inputs(resource).get("kmsKeyId"):
        yield "log group is not encrypted with a customer KMS key (kmsKeyId unset)"


@RULES.resource_rule(
    "aws-kms-key-rotation",
    "mandatory",
    "Customer keys rotate yearly and stay in one region, so key material never crosses a jurisdiction.",
    ["aws:kms/key:Key"],
)
def kms_rotation(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = _inputs(resource)
    if inputs.get("enableKeyRotation") is not True:
        yield "KMS key rotation is off (enableKeyRotation is not true)"
    if inputs.get("multiRegion") is True:
        yield "KMS key is multi-region; replicas would carry key material out of the jurisdiction"


@RULES.resource_rule(
    "aws-ec2-securitygroup-no-public-ingress",
    "mandatory",
    "Nothing in the platform takes traffic from the internet directly; load balancers have their own rules.",
    [
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
    ],
)
def no_public_ingress(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = _inputs(resource)
    rules: list[dict] = []
    if resource["type"] == "aws:ec2/securityGroup:SecurityGroup":
        rules = list(inputs.get("ingress") or [])
    elif resource["type"] == "aws:ec2/securityGroupRule:SecurityGroupRule":
        rules = [inputs] if inputs.get("type") == "ingress" else []
    else:
        rules = [{"cidrBlocks": [inputs.get("cidrIpv4")], "ipv6CidrBlocks": [inputs.get("cidrIpv6")], **inputs}]
    for rule in rules:
        sources = {*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])}
        public = sorted(str(c) for c in sources & PUBLIC_CIDRS)
        if public:
            ports = f"{rule.get('fromPort', '?')}-{rule.get('toPort', '?')}"
            yield f"ingress from {', '.join(public)} on ports {ports}"


@RULES.resource_rule(
    "aws-ec2-subnet-no-public-ip",
    "mandatory",
    "Instances never get public IPs; egress goes through NAT, ingress through load balancers.",
    ["aws:ec2/subnet:Subnet"],
)
def subnet_no_public_ip(resource: Resource, _: StackContext) -> Iterator[str]:
    if _inputs(resource).get("mapPublicIpOnLaunch") is True:
        yield "subnet assigns public IPs on launch (mapPublicIpOnLaunch is true)"


@RULES.resource_rule(
    "aws-ec2-defaultsecuritygroup-closed",
    "mandatory",
    "The default security group allows nothing, so nothing can rely on it by accident (CIS AWS 5.4).",
    ["aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"],
)
def default_sg_closed(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = _inputs(resource)
    if inputs.get("ingress") or inputs.get("egress"):
        yield "the default security group has rules; it must be empty"


@RULES.graph_rule(
    "aws-ec2-vpc-flow-logs",
    "mandatory",
    "Every VPC records all its flows, for incident response and residency audits.",
)
def vpc_flow_logs(graph: Graph) -> Iterator[tuple[Resource, str]]:
    logged = {
        _inputs(r).get("vpcId")
        for r in graph["resources"]
        if r["type"] == "aws:ec2/flowLog:FlowLog" and _inputs(r).get("trafficType") == "ALL"
    }
    for vpc in graph["resources"]:
        if vpc["type"] == "aws:ec2/vpc:Vpc" and vpc.get("id") not in logged:
            yield vpc, "VPC has no flow log capturing ALL traffic"


@RULES.graph_rule(
    "aws-ec2-vpc-s3-gateway-endpoint",
    "advisory",
    "S3 traffic stays on the AWS network and feature buckets can require their VPC endpoint.",
)
def vpc_s3_endpoint(graph: Graph) -> Iterator[tuple[Resource, str]]:
    with_endpoint = {
        _inputs(r).get("vpcId")
        for r in graph["resources"]
        if r["type"] == "aws:ec2/vpcEndpoint:VpcEndpoint"
        and str(_inputs(r).get("serviceName", "")).endswith(".s3")
        and _inputs(r).get("vpcEndpointType") == "Gateway"
    }
    for vpc in graph["resources"]:
        if vpc["type"] == "aws:ec2/vpc:Vpc" and vpc.get("id") not in with_endpoint:
            yield vpc, "VPC has no S3 gateway endpoint"


@RULES.graph_rule(
    "mlplat-provider-default-tags",
    "mandatory",
    "Every taggable resource carries owner, cost-center, jurisdiction and stack, through its provider's default tags.",
)
def provider_default_tags(graph: Graph) -> Iterator[tuple[Resource, str]]:
    for provider in graph["resources"]:
        if provider["type"] != "pulumi:providers:aws":
            continue
        default_tags = _inputs(provider).get("defaultTags") or {}
        tags = default_tags.get("tags", {}) if isinstance(default_tags, dict) else {}
        missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
        if missing:
            yield provider, f"provider's default tags lack {', '.join(missing)}"
        elif tags.get("jurisdiction") != graph["jurisdiction"] or tags.get("stack") != graph["stack"]:
            yield provider, "provider's jurisdiction/stack tags do not match the stack"


@RULES.graph_rule(
    "mlplat-tags-consistent",
    "mandatory",
    "A resource's own tags never override the required tags with values that contradict its stack.",
)
def tags_consistent(graph: Graph) -> Iterator[tuple[Resource, str]]:
    for resource in graph["resources"]:
        tags = _inputs(resource).get("tags")
        if not isinstance(tags, dict):
            continue
        if "jurisdiction" in tags and tags["jurisdiction"] != graph["jurisdiction"]:
            yield (
                resource,
                f"jurisdiction tag {tags['jurisdiction']!r} contradicts the stack's {graph['jurisdiction']!r}",
            )
        if "stack" in tags and tags["stack"] != graph["stack"]:
            yield resource, f"stack tag {tags['stack']!r} contradicts the stack {graph['stack']!r}"
        for key in REQUIRED_TAGS:
            if key in tags and not tags[key]:
                yield resource, f"required tag {key!r} is empty"


@RULES.graph_rule(
    "mlplat-regional-stack-one-region",
    "mandatory",
    "A regional stack deploys only into its own region; cross-region resources belong to the global stack.",
)
def regional_stack_one_region(graph: Graph) -> Iterator[tuple[Resource, str]]:
    if graph.get("kind", "regional") != "regional":
        return
    for resource in graph["resources"]:
        if str(resource["type"]).startswith("aws:") and resource.get("region") != graph["region"]:
            yield resource, f"resource is in {resource.get('region')}, outside the stack's region {graph['region']}"
